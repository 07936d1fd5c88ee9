import Foundation
@testable import Common

/// Data of the session3 local-socket captures and the recorded `cluster_control` outputs.
enum ControlFixtures {
    /// The messages of one direction of a capture, decoded with the real framing code.
    static func messages(_ name: String) throws -> [WireMessage] {
        let bytes = try TestPaths.fixture(name)
        var decoder = MessageDecoder(fernet: nil)
        var out: [WireMessage] = []
        var offset = 0
        while offset < bytes.count {
            let parsed = try bytes[offset...].withUnsafeBytes { raw throws(WireError) in try FrameParser.parse(raw) }
            guard let (frame, consumed) = parsed else { throw WireError.truncated(offset: offset, needed: 20, available: bytes.count - offset) }
            offset += consumed
            if let message = try decoder.accept(frame) { out.append(message) }
        }
        return out
    }

    /// The JSON of the first message of a capture direction.
    static func firstJSON(_ name: String) throws -> JSONValue {
        try JSONParser.parse(messages(name)[0].payload)
    }

    /// `get_nodes` reply of the real master (conn1).
    static func nodes() throws -> JSONValue { try firstJSON("session3-local-cluster-control.conn1.s2c.bin") }

    /// `get_health` reply of the real master (conn3).
    static func health() throws -> JSONValue { try firstJSON("session3-local-cluster-control.conn3.s2c.bin") }

    /// The DAPI result string of conn4: the `str_upd` payload after the string id.
    static func agentsResultText() throws -> [UInt8] {
        let upd = try messages("session3-local-cluster-control.conn4.s2c.bin").first { $0.name == "str_upd" }!
        let space = upd.payload.firstIndex(of: 0x20)!
        return Array(upd.payload[(space + 1)...])
    }

    /// What `cluster_control <args>` printed, keyed by the arguments after `cluster_control` (the comment in
    /// parentheses removed). The recording separates runs with one blank line, so each section is its lines
    /// joined by newlines plus the final newline; a run whose output ends in an empty `print` (the health
    /// reports) wrote one more newline than its section shows.
    static func outputs() throws -> [String: String] {
        let text = String(decoding: try TestPaths.fixture("cluster_control-output.txt"), as: UTF8.self)
        var sections: [String: [String]] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("$ cluster_control") {
                var args = String(line.dropFirst("$ cluster_control".count))
                if let paren = args.range(of: "  (") { args = String(args[..<paren.lowerBound]) }
                current = args.trimmingCharacters(in: .whitespaces)
                sections[current!] = []
            } else if let current {
                sections[current]!.append(line)
            }
        }
        return sections.mapValues { lines in
            var lines = lines
            while lines.last == "" { lines.removeLast() }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// A copy of the conn3 health JSON with worker1's status fields replaced (the recorded outputs were
    /// taken at other moments than the capture, so their dates differ).
    static func health(workerStatus changes: [(path: [String], value: JSONValue)], activeAgents: Int64 = 5) throws -> JSONValue {
        var health = try health()
        for change in changes { health = setting(health, ["nodes", "worker1", "status"] + change.path, change.value) }
        return setting(health, ["nodes", "worker1", "info", "n_active_agents"], .int(activeAgents))
    }

    static func setting(_ value: JSONValue, _ path: [String], _ new: JSONValue) -> JSONValue {
        guard let key = path.first else { return new }
        var object = value.objectValue ?? JSONObject()
        object[key] = setting(object[key] ?? .null, Array(path.dropFirst()), new)
        return .object(object)
    }
}
