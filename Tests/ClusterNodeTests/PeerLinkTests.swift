@testable import ClusterNode
import Common
import Crypto
import Foundation
import Synchronization
import Testing

/// The link as the daemon uses it, over a real socket: concurrent handling, late replies, peer bounds,
/// the hello gate, files only where the peer may write them, and tasks that end with the connection.
@Suite(.serialized) struct PeerLinkTests {
    static func text(_ r: Response) -> String { r.text }

    @Test func aSlowHandlerDoesNotDelayOtherRequests() async throws {
        let gate = Gate()
        try await LinkPair.run(handler: { m, _ in
            if m.name == "slow" { await gate.wait(); return .ok("slow done") }
            return .reply(command: "ok-m", payload: m.payload)
        }) { client, _ in
            async let slow = client.request("slow", text: "")
            // The slow request is held inside its handler…
            await gate.someoneWaits()
            // …and a keep-alive sent after it is answered meanwhile.
            let echo = try await client.request("echo-c", text: "keepalive")
            #expect(echo == .other(command: "ok-m", payload: Array("keepalive".utf8)))
            #expect(gate.waiting == 1, "the slow one is still in its handler")
            gate.open()
            #expect(try await slow == .ok(Array("slow done".utf8)))
        }
    }

    @Test func aFullLinkNeverRunsMoreHandlersThanItsBoundAndAnswersThemAll() async throws {
        let gate = Gate()
        let running = Locked((now: 0, most: 0))
        let limits = PeerLimits(maxFileBytes: 1 << 20, maxConcurrentRequests: 2)
        try await LinkPair.run(limits: limits, handler: { m, _ in
            running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            await gate.wait()
            running.withLock { $0.now -= 1 }
            return .ok("done")
        }) { client, _ in
            try await withThrowingTaskGroup(of: Response.self) { group in
                for i in 0..<5 { group.addTask { try await client.request("slow\(i)", text: "") } }
                await gate.someoneWaits()
                gate.open()
                var answers = 0
                for try await r in group { #expect(r == .ok(Array("done".utf8))); answers += 1 }
                #expect(answers == 5)
            }
        }
        #expect(running.withLock { $0.most } <= 2)
    }

    @Test func requestSlotsHoldTheNextRequestUntilOneEnds() async {
        let slots = RequestSlots(2)
        await slots.acquire()
        await slots.acquire()
        let third = Locked(false)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await slots.acquire()
                third.withLock { $0 = true }
            }
            // The third waits: nothing frees a slot until the test does.
            await Task.yield()
            #expect(third.withLock { $0 } == false)
            slots.release()
            await group.waitForAll()
        }
        #expect(third.withLock { $0 })
    }

    @Test func aReplyArrivingAfterItsTimeoutIsDroppedAndTheLinkGoesOn() async throws {
        let gate = Gate()
        try await LinkPair.run(handler: { m, _ in
            if m.name == "late" { await gate.wait(); return .ok("too late") }
            return .ok("fine")
        }) { client, _ in
            do {
                let r = try await client.request("late", text: "", timeout: 0.05)
                Issue.record("expected a timeout, got \(r)")
            } catch {
                #expect(error as? LinkError == .timeout(command: "late"))
            }
            gate.open()
            // The late reply comes in now; the next request and its reply still match up.
            let next = try await client.request("next", text: "")
            #expect(next == .ok(Array("fine".utf8)))
            let again = try await client.request("next", text: "")
            #expect(again == .ok(Array("fine".utf8)))
        }
    }

    @Test func payloadsAboveTheFernetOffloadThresholdRoundTrip() async throws {
        let big = [UInt8]((0..<(FernetOffload.threshold + 12345)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try await LinkPair.run(handler: { m, _ in .ok(Array(m.payload.reversed())) }) { client, _ in
            let answer = try await client.request("big", big)
            #expect(answer == .ok(Array(big.reversed())))
        }
    }

    /// A pool job waiting for bytes that are still to arrive (a package staged while it arrives) must not
    /// stop those bytes: a large frame is decrypted (and encrypted) on the calling task when every pool
    /// thread is taken. Before `CPUPool.offload`, a pool of one thread deadlocked here until the job gave up.
    @Test func aLargeFrameGetsThroughWhileEveryPoolThreadWaitsForIt() async throws {
        let pool = CPUPool(threads: 1)
        let started = Gate()
        let arrived = DispatchSemaphore(value: 0)
        let big = [UInt8](repeating: 7, count: FernetOffload.threshold + 10)
        try await LinkPair.run(pool: pool, handler: { m, _ in
            if m.name == "big" { arrived.signal() }
            return .ok("got it")
        }) { client, _ in
            async let waited: Bool = pool.run {
                started.open()
                return arrived.wait(timeout: .now() + 20) == .success
            }
            await started.wait()
            let reply = try await client.request("big", big)
            #expect(reply == .ok(Array("got it".utf8)))
            #expect(try await waited, "the pool's only thread waited in vain for the big frame")
        }
    }

    @Test func outstandingStringsAreBoundedInCountAndBytesAndCostNothingUntilSent() async throws {
        let limits = PeerLimits(maxFileBytes: 1 << 20, maxOutstandingStrings: 3, maxOutstandingStringBytes: 600 << 20)
        try await LinkPair.run(limits: limits) { client, server in
            var ids: [String] = []
            for _ in 0..<2 {
                let r = try await client.request("new_str", text: String(WireLimits.maxMessageSize))
                guard case .ok(let id) = r else { Issue.record("expected an id, got \(r)"); return }
                ids.append(String(decoding: id, as: UTF8.self))
            }
            // 512 MiB announced: a third of 256 MiB goes past the byte bound.
            let third = try await client.request("new_str", text: String(WireLimits.maxMessageSize))
            guard case .err(let e) = third else { Issue.record("expected a refusal, got \(third)"); return }
            #expect(e.code == 3050 && e.description.contains("maxOutstandingStringBytes"))
            #expect(try await client.request("new_str", text: "10").isOK)
            let fourth = try await client.request("new_str", text: "10")
            guard case .err(let e2) = fourth else { Issue.record("expected a refusal, got \(fourth)"); return }
            #expect(e2.description.contains("maxOutstandingStrings"))
            // A string taken frees its room.
            _ = try await client.request("str_upd", Array((ids[0] + " abc").utf8))
            #expect(await server.takeString(ids[0]) == Array("abc".utf8))
            #expect(try await client.request("new_str", text: "10").isOK)
        }
    }

    /// A string sent whole in one `str_upd` (whose payload becomes the string), in several, or with more
    /// bytes than announced (the excess dropped) reads back as sent.
    @Test func longStringsWholeInPiecesOrOverlong() async throws {
        try await LinkPair.run { client, server in
            func newString(_ size: Int) async throws -> String {
                guard case .ok(let id) = try await client.request("new_str", text: String(size)) else { throw CancellationError() }
                return String(decoding: id, as: UTF8.self)
            }
            let text = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let whole = try await newString(text.count)
            _ = try await client.request("str_upd", Array((whole + " ").utf8) + text)
            #expect(await server.takeString(whole) == text)
            let pieces = try await newString(text.count)
            for range in [0..<1, 1..<100_000, 100_000..<300_000] {
                _ = try await client.request("str_upd", Array((pieces + " ").utf8) + text[range])
            }
            #expect(await server.takeString(pieces) == text)
            let overlong = try await newString(10)
            _ = try await client.request("str_upd", Array((overlong + " ").utf8) + text[0..<25])
            #expect(await server.takeString(overlong) == Array(text[0..<10]))
        }
    }

    @Test func beforeHelloOnlyHelloIsServed() async throws {
        try await LinkPair.run(preHello: ["hello"], handler: { m, link in
            if m.name == "hello" { await link.helloAccepted(); return .ok("Client added") }
            return .ok("served \(m.name)")
        }) { client, _ in
            for command in ["new_str", "echo-c", "sendsync", "new_file"] {
                let r = try await client.request(command, text: "100")
                #expect(r == .err(.parse(payload: Array("unknown command 'b'\(command)''".utf8))), "\(command)")
            }
            #expect(try await client.request("hello", text: "w1 wazuh worker 4.8.1") == .ok(Array("Client added".utf8)))
            #expect(try await client.request("echo-c", text: "x") == .ok(Array("served echo-c".utf8)))
            #expect(try await client.request("new_str", text: "100").isOK)
        }
    }

    @Test func filesLandOnlyInThePeersDirectoryAndOnlyCompletedOnesCanBeClaimed() async throws {
        let home = NSTemporaryDirectory() + "linkhome-\(UUID().uuidString.prefix(8))"
        for d in ["queue/cluster/w1", "queue/cluster/w2"] {
            try FileManager.default.createDirectory(atPath: home + "/" + d, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: home) }
        let limits = PeerLimits(maxFileBytes: 64, maxOpenFiles: 2)
        try await LinkPair.run(limits: limits, home: home, fileDirectory: "queue/cluster/w1") { client, server in
            #expect(try await client.request("new_file", text: "/queue/cluster/w2/x.zip") == .err(.parse(payload: Array("Write path not allowed".utf8))))
            #expect(try await client.request("new_file", text: "/queue/cluster/c-internal.sock") == .err(.parse(payload: Array("Write path not allowed".utf8))))
            #expect(try await client.request("new_file", text: "/queue/cluster/w1/../w2/x") == .err(.parse(payload: Array("Write path not allowed".utf8))))
            // Open files are bounded.
            #expect(try await client.request("new_file", text: "/queue/cluster/w1/a").text == "Ready to receive new file")
            #expect(try await client.request("new_file", text: "/queue/cluster/w1/b").text == "Ready to receive new file")
            let third = try await client.request("new_file", text: "/queue/cluster/w1/c")
            #expect(third.text.contains("maxOpenFiles"))
            // Bytes per file are bounded: the transfer is dropped and its partial file removed.
            let tooBig = try await client.request("file_upd", Array("/queue/cluster/w1/b ".utf8) + [UInt8](repeating: 7, count: 65))
            #expect(tooBig.text.contains("maxFileBytes"))
            #expect(!FileManager.default.fileExists(atPath: home + "/queue/cluster/w1/b"))
            // A file in progress cannot be claimed; a completed one once.
            #expect(await server.claimReceivedFile("queue/cluster/w1/a") == nil)
            _ = try await client.request("file_upd", Array("/queue/cluster/w1/a hello".utf8))
            let digest = Array(SHA256.hash(data: Array("hello".utf8)))
            #expect(try await client.request("file_end", Array("/queue/cluster/w1/a ".utf8) + digest).isOK)
            #expect(await server.claimReceivedFile("queue/cluster/c-internal.sock") == nil)
            #expect(await server.claimReceivedFile("queue/cluster/w1/a")?.hasSuffix("/queue/cluster/w1/a") == true)
            #expect(await server.claimReceivedFile("queue/cluster/w1/a") == nil, "claimed once")
        }
    }

    @Test func theTasksOfAConnectionEndWithIt() async throws {
        let started = Gate()
        let serverTasks = Locked<SessionTasks?>(nil)
        try await LinkPair.run(handler: { m, link in
            link.tasks.spawn {
                started.open()
                // Runs until cancelled, as a task that waits on a peer would.
                while !Task.isCancelled { try? await Task.sleep(nanoseconds: 1 << 40) }
            }
            return .ok("spawned")
        }) { client, server in
            serverTasks.withLock { $0 = server.tasks }
            _ = try await client.request("spawn", text: "")
            await started.wait()
            #expect(server.tasks.count == 1)
        }
        // The connection is gone and the server's link closed: nothing of its session is left.
        #expect(serverTasks.withLock { $0 }?.count == 0)
    }
}

extension Response {
    var isOK: Bool { if case .ok = self { true } else { false } }
}

