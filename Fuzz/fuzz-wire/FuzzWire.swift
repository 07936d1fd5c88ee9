import Common
import FuzzSupport
import NIOCore
import NIOEmbedded

/// The bytes a peer sends on a cluster link or the local socket: frame headers and payloads
/// (`FrameParser`), divided messages joined per counter (`DividedMessageAssembler`), the token decrypted
/// (`MessageDecoder`), and the same through the channel handler a link installs (`ClusterFrameDecoder`).
enum WireHarness {
    static let fernet = try! Fernet(clusterKey: FuzzInput.fixtureKey)

    static func run(_ bytes: [UInt8]) {
        // Small limits, so that a small input reaches the size and divided-message guards.
        var guarded = MessageDecoder(fernet: fernet, assembler: DividedMessageAssembler(maxConcurrent: 3, maxMessageSize: 4096))
        _ = decodeAll(bytes, maxPayload: 4096, decoder: &guarded)
        // The local socket's settings (no key, default limits), directly and through the channel handler,
        // the input arriving in two reads: both must see the same messages and the same failure.
        var plain = MessageDecoder(fernet: nil)
        let direct = decodeAll(bytes, maxPayload: WireLimits.maxMessageSize, decoder: &plain)
        let split = bytes.isEmpty ? 0 : Int(bytes[bytes.count / 2]) % (bytes.count + 1)
        // Also with every payload that has not fully arrived gathered outside NIO's buffer (the path a
        // link takes for payloads of 64 KB and more).
        for threshold in [ClusterFrameDecoder.defaultDirectPayloadThreshold, 0] {
            let channel = throughChannel(bytes, split: split, directPayloadThreshold: threshold)
            guard direct.messages == channel.messages else {
                FuzzInput.violated("FrameParser gave \(direct.messages.count) messages, ClusterFrameDecoder (direct from \(threshold) B) \(channel.messages.count)")
            }
            guard direct.failed == channel.failed else {
                FuzzInput.violated("FrameParser failed: \(direct.failed), ClusterFrameDecoder (direct from \(threshold) B) failed: \(channel.failed)")
            }
        }
    }

    /// Frames and messages until the input ends or the parser refuses it (a link is closed there).
    static func decodeAll(_ bytes: [UInt8], maxPayload: Int, decoder: inout MessageDecoder) -> (messages: [WireMessage], failed: Bool) {
        var messages: [WireMessage] = []
        var offset = 0
        while offset < bytes.count {
            let parsed: (frame: Frame, consumed: Int)?
            do {
                parsed = try bytes[offset...].withUnsafeBytes { raw throws(WireError) in try FrameParser.parse(raw, maxPayload: maxPayload) }
            } catch { return (messages, true) }
            guard let (frame, consumed) = parsed else { break }
            guard consumed == WireLimits.headerSize + frame.payload.count, Int(frame.header.length) == frame.payload.count,
                  frame.payload.count <= maxPayload else {
                FuzzInput.violated("frame of \(frame.header.length) bytes consumed \(consumed)")
            }
            offset += consumed
            do {
                if let message = try decoder.accept(frame) {
                    guard message.fragments >= 1, message.counter == frame.header.counter else {
                        FuzzInput.violated("message of \(message.fragments) fragments for counter \(message.counter)")
                    }
                    _ = message.name
                    messages.append(message)
                }
            } catch { return (messages, true) }
        }
        return (messages, false)
    }

    static func throughChannel(_ bytes: [UInt8], split: Int, directPayloadThreshold: Int) -> (messages: [WireMessage], failed: Bool) {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(ClusterFrameDecoder(fernet: nil, directPayloadThreshold: directPayloadThreshold)))
        var messages: [WireMessage] = []
        var failed = false
        func drain() {
            while let message = try? channel.readInbound(as: WireMessage.self) { messages.append(message) }
        }
        for part in [bytes[..<split], bytes[split...]] where !part.isEmpty && !failed {
            do { try channel.writeInbound(channel.allocator.buffer(bytes: part)) } catch { failed = true }
            drain()
        }
        _ = try? channel.finish()
        drain()
        return (messages, failed)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    WireHarness.run(FuzzInput.bytes(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzInput.replay("fuzz-wire", WireHarness.run) } }
#endif
