/// The failed-login bookkeeping per client address (a value; `APIAuth` keeps it behind its mutex).
///
/// A failure counts for `blockTime` seconds. When an address has more than `maxAttempts` failures that
/// still count, it is blocked for `blockTime` seconds from that last failure; while blocked every login
/// from it is refused, right credentials included. When the block is over the address starts afresh.
/// Attempts still being checked (bcrypt is slow) count against the limit too, so that many parallel
/// requests cannot get more than `maxAttempts + 1` password checks in before the block.
/// At most `capacity` addresses are tracked; beyond that the least recently seen are forgotten, those that
/// are neither blocked nor mid-attempt first.
struct LoginThrottle: Sendable {
    struct Entry: Sendable, Equatable {
        /// The times of the failures that still count, oldest first.
        var failures: [Double] = []
        var blockedUntil: Double?
        var inFlight = 0
        var lastSeen: Double

        var isHeld: Bool { blockedUntil != nil || inFlight > 0 }
    }

    enum Admission: Sendable, Equatable {
        case proceed
        /// Refused: the address is blocked until this time.
        case blocked(until: Double)
        /// Refused: the attempts under way would take the address past the limit.
        case tooManyPending
    }

    let maxAttempts: Int
    let blockTime: Double
    let capacity: Int
    private(set) var entries: [String: Entry] = [:]

    init(maxAttempts: Int, blockTime: Double, capacity: Int) {
        (self.maxAttempts, self.blockTime, self.capacity) = (maxAttempts, blockTime, capacity)
    }

    /// Before checking a password from `address`: whether to check it. `.proceed` starts an attempt that
    /// `finish` must end.
    mutating func begin(_ address: String, now: Double) -> Admission {
        var e = entries[address] ?? Entry(lastSeen: now)
        refresh(&e, now: now)
        e.lastSeen = now
        if let until = e.blockedUntil {
            entries[address] = e
            return .blocked(until: until)
        }
        if e.failures.count + e.inFlight > maxAttempts {
            store(e, for: address, now: now)
            return .tooManyPending
        }
        e.inFlight += 1
        store(e, for: address, now: now)
        return .proceed
    }

    /// Ends an attempt `begin` let through. Returns true when this failure started a block.
    @discardableResult
    mutating func finish(_ address: String, failed: Bool, now: Double) -> Bool {
        var e = entries[address] ?? Entry(lastSeen: now)
        e.inFlight = max(0, e.inFlight - 1)
        refresh(&e, now: now)
        e.lastSeen = now
        var startedBlock = false
        if failed {
            e.failures.append(now)
            if e.blockedUntil == nil && e.failures.count > maxAttempts {
                e.blockedUntil = now + blockTime
                e.failures.removeAll()
                startedBlock = true
            }
        }
        if e.failures.isEmpty && !e.isHeld {
            entries[address] = nil
        } else {
            store(e, for: address, now: now)
        }
        return startedBlock
    }

    /// Ends a block that is over and forgets failures that no longer count.
    private func refresh(_ e: inout Entry, now: Double) {
        if let until = e.blockedUntil, now >= until { e.blockedUntil = nil }
        if let firstKept = e.failures.firstIndex(where: { now - $0 < blockTime }) {
            e.failures.removeFirst(firstKept)
        } else {
            e.failures.removeAll()
        }
    }

    private mutating func store(_ e: Entry, for address: String, now: Double) {
        if entries[address] == nil && entries.count >= capacity { makeRoom(now: now) }
        entries[address] = e
    }

    /// Frees at least one slot (a tenth of the table when it comes to forgetting live entries, so that a
    /// scan does not pay a sort per new address).
    private mutating func makeRoom(now: Double) {
        for (address, var e) in entries {
            refresh(&e, now: now)
            if e.failures.isEmpty && !e.isHeld { entries[address] = nil }
        }
        guard entries.count >= capacity else { return }
        let excess = entries.count - capacity + max(1, capacity / 10)
        let victims = entries.sorted { a, b in
            a.value.isHeld != b.value.isHeld ? !a.value.isHeld : a.value.lastSeen < b.value.lastSeen
        }.prefix(excess)
        for (address, _) in victims { entries[address] = nil }
    }
}
