import Foundation
import Testing
@testable import Common

/// The byte-level JSON string escaping, integer writing and escaped-string parsing, against plain
/// per-scalar versions of the rules they implement.
@Suite struct JSONFastPathTests {
    /// json.dumps' string rules, one scalar at a time (DEL escaped in both modes, as this encoder always has).
    private func reference(_ s: String, ensureASCII: Bool) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 || u.value == 0x7F || (ensureASCII && u.value >= 0x80) {
                    for unit in String(u).utf16 { out += String(format: "\\u%04x", unit) }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static let strings: [String] = [
        "", "plain", String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) }),
        #"{"id":1,"name":"agent-00001","labels":[{"key":"k","value":"v"}]}"#,
        "é", "x中y", "😀", "a\u{7F}b\u{0}c\u{1F}", "\u{FFFD}\u{10FFFF}\u{E000}",
        String(repeating: #"ab"c\d"#, count: 1000) + "é" + String(repeating: "z", count: 5000),
    ]

    @Test(arguments: strings)
    func escapingMatchesThePerScalarRules(_ s: String) {
        for ensureASCII in [true, false] {
            let encoder = PythonJSONEncoder(compact: true, ensureASCII: ensureASCII)
            #expect(encoder.encode(.string(s)) == reference(s, ensureASCII: ensureASCII))
            // Appending after existing bytes, as the row and envelope writers do.
            var out = Array("[1,".utf8)
            encoder.write(.string(s), into: &out)
            #expect(String(decoding: out, as: UTF8.self) == "[1," + reference(s, ensureASCII: ensureASCII))
        }
    }

    @Test(arguments: strings)
    func escapedStringsParseBack(_ s: String) throws {
        for ensureASCII in [true, false] {
            let text = PythonJSONEncoder(ensureASCII: ensureASCII).encode(.array([.string(s), .string(s)]))
            #expect(try JSONParser.parse(text) == .array([.string(s), .string(s)]))
        }
    }

    @Test func escapedStringsDecodeSurrogatesAndReportErrorsWhereTheyAre() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00|\ud800|\udc00x|\ud800\u0041|\/""#) == .string("😀|\u{FFFD}|\u{FFFD}x|\u{FFFD}A|/"))
        // Bytes from the network may be invalid UTF-8: repaired as String(decoding:) does, escapes or not.
        #expect(try JSONParser.parse(Array(#"["a\n"#.utf8) + [0xFF] + Array(#"b","c"#.utf8) + [0xC3] + Array(#""]"#.utf8))
                == ["a\n\u{FFFD}b", "c\u{FFFD}"])
        let cases: [(String, String)] = [
            (#""ab\q""#, "invalid JSON at byte 5: bad escape"),
            (#""a\"b"#, "invalid JSON at byte 5: unterminated string"),
            (#""abc"#, "invalid JSON at byte 4: unterminated string"),
            (#""ab\"#, "invalid JSON at byte 4: unterminated escape"),
            ("\"a\\n\u{01}\"", "invalid JSON at byte 4: control character in string"),
            (#""\u12zz""#, #"invalid JSON at byte 5: bad hex digit in \u escape"#),
            (#""\u12""#, #"invalid JSON at byte 3: short \u escape"#),
        ]
        for (text, message) in cases {
            #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
            do { _ = try JSONParser.parse(text) } catch { #expect(error.description == message, "\(text)") }
        }
    }

    @Test func integersAreWrittenAsStringPrintsThem() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_796_151_803, .max, .min, .max - 1, .min + 1]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 { values.append(Int64.random(in: .min ... .max, using: &rng) >> Int64.random(in: 0...62, using: &rng)) }
        for v in values {
            var out = Array("x".utf8)
            PythonJSONEncoder.writeInt(v, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == "x\(v)")
        }
    }
}
