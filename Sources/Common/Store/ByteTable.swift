import Foundation

/// Byte strings in one buffer, compared with memcmp: the agent-info key lookup runs for every key of every
/// agent, where [[UInt8]] comparisons cost retains and generic loops. Made for static tables: the buffers
/// are never freed.
struct ByteTable: @unchecked Sendable {  // immutable after init
    private let bytes: UnsafeMutableBufferPointer<UInt8>
    private let offsets: UnsafeMutableBufferPointer<Int>  // count + 1 entries

    init(_ strings: [String]) {
        let all = strings.flatMap(\.utf8)
        bytes = .allocate(capacity: max(all.count, 1))
        _ = bytes.initialize(from: all)
        offsets = .allocate(capacity: strings.count + 1)
        var end = 0
        offsets[0] = 0
        for (i, s) in strings.enumerated() {
            end += s.utf8.count
            offsets[i + 1] = end
        }
    }

    var count: Int { offsets.count - 1 }

    func matches(_ i: Int, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = offsets[i], length = offsets[i + 1] - start
        guard length == name.count else { return false }
        return length == 0 || memcmp(bytes.baseAddress! + start, name.baseAddress!, length) == 0
    }

    /// The index of `name`, trying `first` before the others.
    func index(of name: UnsafeBufferPointer<UInt8>, tryingFirst first: Int = 0) -> Int? {
        if first < count, matches(first, name) { return first }
        return (0..<count).first { matches($0, name) }
    }
}
