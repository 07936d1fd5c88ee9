/// The 12-byte command field of a frame header (PROTOCOL.md §1.2).
///
/// Encoding: the name, one space, then dashes up to 12 bytes. An 11-byte name therefore ends in the space.
/// The last byte doubles as the divided flag: `d` on every fragment but the last of a divided message, and
/// `-` on the last fragment of a divided message (even for an 11-byte name). A name may carry a trailing
/// space (`ok `, `ok-m `), as some 4.8.1 handlers reply; the padding rule then yields `ok  --------`.
public struct CommandField: Equatable, Sendable {
    public static let size = 12
    public static let dividedFlag = UInt8(ascii: "d")

    /// The 12 raw bytes as on the wire.
    public let bytes: [UInt8]

    public init(raw: [UInt8]) {
        precondition(raw.count == Self.size)
        self.bytes = raw
    }

    /// How the last byte of the field is set.
    public enum Position: Sendable {
        /// A message that is not divided: padding as is.
        case whole
        /// A fragment of a divided message that more fragments follow.
        case fragment
        /// The last fragment of a divided message.
        case lastFragment
    }

    public init(name: String, position: Position = .whole) throws {
        let utf8 = Array(name.utf8)
        guard utf8.count <= WireLimits.maxCommandLength else {
            throw WireError.commandTooLong(name: name, bytes: utf8.count)
        }
        let trimmed = utf8.prefix { $0 != 0x20 }
        guard !trimmed.isEmpty, utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F || $0 == 0x20 }),
              utf8[trimmed.count...].allSatisfy({ $0 == 0x20 })
        else { throw WireError.invalidCommandName(name) }
        var field = utf8
        field.append(0x20)
        while field.count < Self.size { field.append(UInt8(ascii: "-")) }
        switch position {
        case .whole: break
        case .fragment: field[Self.size - 1] = Self.dividedFlag
        case .lastFragment: field[Self.size - 1] = UInt8(ascii: "-")
        }
        self.bytes = field
    }

    /// The command: bytes 0..10 cut at the first space. Dashes are part of names (`echo-c`).
    public var name: String {
        let body = bytes.prefix(Self.size - 1).prefix { $0 != 0x20 }
        return String(decoding: body, as: UTF8.self)
    }

    /// The last byte of the field.
    public var flag: UInt8 { bytes[Self.size - 1] }

    /// True only when the flag byte is `d`.
    public var isDivided: Bool { flag == Self.dividedFlag }

    /// The field as text (for logs and frame-dump's `raw_cmd`).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}
