import Foundation
import Testing
@testable import Common

/// Inputs that crashed a fuzz harness (`make fuzz`), kept in Tests/Fixtures/fuzz/<target>/ and fed through
/// the entry point the harness fuzzes: each must now end in the error that names what was wrong.
@Suite struct FuzzRegressionTests {
    static func input(_ target: String, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/fuzz/\(target)/\(name)")))
    }

    /// fuzz-config: `<ossec_config>` then 10,000 nested `<a>`: the recursive reader overflowed the stack.
    @Test func deeplyNestedConfigIsRefusedNotAStackOverflow() throws {
        let text = String(decoding: try Self.input("fuzz-config", "deep-nesting"), as: UTF8.self)
        #expect(throws: ConfigError(file: "ossec.conf", field: "line 1",
                                    problem: "elements nested more than 64 levels deep (inside <a> opened on line 1)",
                                    code: 3006)) {
            try ClusterConfigLoader.parse(text, file: "ossec.conf")
        }
    }

    @Test func nestingUpToTheLimitIsRead() throws {
        let depth = ConfigXMLReader.maxDepth
        let text = String(repeating: "<a>", count: depth) + "x" + String(repeating: "</a>", count: depth)
        var element = try #require(try ConfigXMLReader.parse(text).first)
        for _ in 1..<depth { element = try #require(element.children.first) }
        #expect(element.text == "x")
        #expect(throws: ConfigXMLError.self) { try ConfigXMLReader.parse("<a>" + text + "</a>") }
    }

    /// fuzz-dapi: an AffectedItemsWazuhResult answer whose total_affected_items is 8198552921648689607
    /// (with leading zeros): merging it with itself overflowed the sum of the totals and trapped.
    @Test func answerWithAnImpossibleTotalIsAnErrorAndMergesWithoutOverflow() throws {
        let answer = try Self.input("fuzz-dapi", "total-affected-items-overflow")
        let expected = DapiOutcome.exception(.internal(1000, "the answer's total_affected_items 8198552921648689607 is not a "
                                                             + "count of items (0 to 2147483647)"))
        #expect(DapiOutcome.decode(answer) == expected)
        let merged = try #require(DapiOutcome.merging([DapiOutcome.decode(answer), DapiOutcome.decode(answer)]))
        guard case .exception = merged else { Issue.record("merged into \(merged)"); return }
    }

    @Test func totalsUpToTheLimitStillMerge() throws {
        func answer(_ total: Int) -> [UInt8] {
            Array(#"{"__wazuh_result__": {"__class__": "AffectedItemsWazuhResult", "__object__": {"affected_items": [], "total_affected_items": \#(total)}}}"#.utf8)
        }
        let big = DapiOutcome.decode(answer(AffectedItems.maxTotal))
        guard case .affected(let merged)? = DapiOutcome.merging([big, big, big]) else {
            Issue.record("not merged as affected items"); return
        }
        #expect(merged.totalAffectedItems == 3 * AffectedItems.maxTotal)
        guard case .exception(let e) = DapiOutcome.decode(answer(-1)) else { Issue.record("a negative total was accepted"); return }
        #expect(e.code == 1000)
    }
}
