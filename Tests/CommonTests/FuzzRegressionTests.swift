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
}
