import Testing
@testable import Common

@Suite struct WazuhExceptionTests {
    /// The master's replies in the fixture `hello-probes.txt`, byte for byte.
    @Test func matchesTheFixtureBytes() throws {
        let expected = #"{"__wazuh_exception__": {"__class__": "WazuhClusterError", "__object__": {"type": "about:blank", "title": "Wazuh Cluster Error", "code": 3028, "extra_message": "worker1", "extra_remediation": null, "cmd_error": false, "dapi_errors": {}}}}"#
        #expect(String(decoding: WazuhException.cluster(3028, "worker1").payload, as: UTF8.self) == expected)
        let probes = String(decoding: try TestPaths.fixture("hello-probes.txt"), as: UTF8.self)
        for code in [3028, 3029, 3030, 3031] {
            let e = WazuhException.cluster(code, code == 3028 ? "worker1" : nil)
            #expect(probes.contains("b'" + String(decoding: e.payload, as: UTF8.self) + "'"), "code \(code)")
        }
    }

    @Test func parseRoundTrip() {
        let e = WazuhException.cluster(3031)
        let back = WazuhException.parse(payload: e.payload)
        #expect(back == e)
        #expect(back.description == "Error 3031 - Worker and master versions are not the same")
        #expect(WazuhException.cluster(3028, "w1").description == "Error 3028 - Worker node ID already exists: w1")
    }

    @Test func plainTextIsError3000() {
        let e = WazuhException.parse(payload: Array("unknown command 'b'nosuchcmd''".utf8))
        #expect(e.code == 3000)
        #expect(e.extraMessage == "unknown command 'b'nosuchcmd''")
        #expect(e.description == "Error 3000 - Cluster: unknown command 'b'nosuchcmd''")
    }

    @Test func badRequestCarriesIds() {
        let text = WazuhException(.error, code: 1700).json.pythonText
        #expect(text.contains(#""title": "Bad Request""#))
        #expect(text.hasSuffix(#""dapi_errors": {}, "ids": []}}}"#))
    }

    @Test func unhandledException() {
        let e = WazuhException.parse(payload: Array(#"{"__unhandled_exc__": {"__class__": "KeyError", "__args__": ["x"]}}"#.utf8))
        #expect(e.code == 1000)
        #expect(e.extraMessage == "KeyError: x")
    }
}

@Suite struct PythonJSONTests {
    @Test func pythonSeparatorsAndEscapes() throws {
        let v: JSONValue = ["a": 1, "b": [true, nil, 1.5], "c": "é\"\n", "d": 1718000000.123456, "e": 2.0]
        #expect(v.pythonText == #"{"a": 1, "b": [true, null, 1.5], "c": "\u00e9\"\n", "d": 1718000000.123456, "e": 2.0}"#)
        #expect(v.compactText == #"{"a":1,"b":[true,null,1.5],"c":"\u00e9\"\n","d":1718000000.123456,"e":2.0}"#)
        #expect(try JSONParser.parse(v.pythonText) == v)
    }

    @Test func parserErrorsNameTheOffset() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{\"a\": }") }
        do { _ = try JSONParser.parse("[1, 2") } catch { #expect(error.offset == 5) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "[", count: 10000)) }
    }

    @Test func surrogatePairs() throws {
        let v = try JSONParser.parse(#""\ud83d\ude00""#)
        #expect(v == .string("😀"))
        #expect(v.pythonText == #""\ud83d\ude00""#)
    }
}
