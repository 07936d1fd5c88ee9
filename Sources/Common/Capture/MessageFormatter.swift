import Foundation

/// Renders decoded messages as frame-dump prints them: one human line, or one JSON object per line.
public struct MessageFormatter: Sendable {
    public enum Style: Sendable {
        case text(fullPayload: Bool)
        case json
    }

    public var style: Style
    /// Characters of payload shown on a text line without `--payload`.
    public static let previewLength = 60

    public init(style: Style) { self.style = style }

    public func line(_ message: DecodedMessage) -> String {
        switch style {
        case .text(let full): return textLine(message, fullPayload: full)
        case .json: return PythonJSONEncoder(compact: true, ensureASCII: false).encode(.object(jsonObject(message)))
        }
    }

    /// `time src → dst counter command flag wire plain "preview" (reply to cmd)`.
    func textLine(_ m: DecodedMessage, fullPayload: Bool) -> String {
        let time = m.time.map { String(format: "%.6f", $0) } ?? "-"
        let command = m.name.padding(toLength: max(11, m.name.count), withPad: " ", startingAt: 0)
        let plain = m.plainLength.map { "\($0)B" } ?? "enc"
        let text = Self.escaped(m.payload, limit: fullPayload ? nil : Self.previewLength)
        var line = "\(time) \(m.source) → \(m.destination) \(m.counter) \(command) \(m.isDivided ? "d" : "-")"
            + " \(m.wireLength)B \(plain) \"\(text)\""
        if m.fragments > 1 { line += " [\(m.fragments) frames]" }
        if let request = m.replyTo { line += " (reply to \(request))" }
        return line
    }

    public func jsonObject(_ m: DecodedMessage) -> JSONObject {
        var o = JSONObject()
        if let time = m.time { o["time"] = .double(time) }
        o["src"] = .string(m.source)
        o["dst"] = .string(m.destination)
        if let connection = m.connection { o["conn"] = .int(Int64(connection)) }
        if let direction = m.direction { o["dir"] = .string(direction.rawValue) }
        o["offset"] = .int(Int64(m.offset))
        o["counter"] = .int(Int64(m.counter))
        o["command"] = .string(m.name)
        if let request = m.replyTo { o["reply_to"] = .string(request) }
        o["raw_cmd"] = .string(Self.latin1(m.command.bytes))
        o["flag"] = .string(m.isDivided ? "d" : "")
        o["fragments"] = .int(Int64(m.fragments))
        o["length"] = .int(Int64(m.wireLength))
        o["wire_sha256"] = .string(m.wireSHA256)
        o["payload_state"] = .string(m.payloadState.rawValue)
        if let length = m.plainLength { o["plain_length"] = .int(Int64(length)) }
        if let hash = m.plainSHA256 { o["plain_sha256"] = .string(hash) }
        if let text = Self.validUTF8(m.payload) {
            o["payload"] = .string(text)
        } else {
            o["payload_b64"] = .string(Data(m.payload).base64EncodedString())
        }
        return o
    }

    /// The bytes as a String when they are valid UTF-8.
    static func validUTF8(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.utf8.elementsEqual(bytes) ? text : nil
    }

    /// One character per byte: the command field may hold any byte and must show all twelve.
    static func latin1(_ bytes: [UInt8]) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// The payload on one line: printable text as is, quotes, backslashes and control characters
    /// escaped, bytes that are not UTF-8 as `\xNN`; cut at `limit` characters with `…`.
    public static func escaped(_ bytes: [UInt8], limit: Int?) -> String {
        var out = ""
        var count = 0
        func add(_ piece: String) -> Bool {
            if let limit, count >= limit { out += "…"; return false }
            out += piece
            count += 1
            return true
        }
        if let text = validUTF8(bytes) {
            for scalar in text.unicodeScalars {
                let piece: String
                switch scalar {
                case "\n": piece = "\\n"
                case "\r": piece = "\\r"
                case "\t": piece = "\\t"
                case "\"": piece = "\\\""
                case "\\": piece = "\\\\"
                default:
                    let category = scalar.properties.generalCategory
                    let invisible = category == .control || category == .format || category == .unassigned
                        || category == .lineSeparator || category == .paragraphSeparator
                    piece = invisible ? String(format: "\\u{%X}", scalar.value) : String(scalar)
                }
                if !add(piece) { break }
            }
        } else {
            for byte in bytes {
                let piece: String
                switch byte {
                case 0x22: piece = "\\\""
                case 0x5C: piece = "\\\\"
                case 0x20..<0x7F: piece = String(UnicodeScalar(byte))
                default: piece = String(format: "\\x%02x", byte)
                }
                if !add(piece) { break }
            }
        }
        return out
    }
}
