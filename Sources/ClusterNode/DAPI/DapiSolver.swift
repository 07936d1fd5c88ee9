import Common

/// `get_solver_node()` (LOCAL-DAPI-CONTROL.md §2.4) as a pure function: which nodes a
/// `distributed_master` request goes to, each with the agent ids it is asked about. `nil` means every
/// node (a broadcast).
enum DapiSolver {
    /// Node names and their agent ids, in the order first seen.
    struct Targets: Equatable, Sendable {
        private(set) var names: [String] = []
        private(set) var ids: [String: [String]] = [:]

        init() {}

        init(_ pairs: [(String, [String])]) { for (n, i) in pairs { add(n, i) } }

        mutating func add(_ node: String, _ agents: [String]) {
            if ids[node] == nil { names.append(node); ids[node] = [] }
            ids[node]! += agents
        }

        mutating func remove(_ node: String) {
            names.removeAll { $0 == node }
            ids[node] = nil
        }

        var isEmpty: Bool { names.isEmpty }
        var pairs: [(String, [String])] { names.map { ($0, ids[$0] ?? []) } }
    }

    /// The ids a kwarg names: `"*"` is all (nil), a string one id, a list its ids.
    static func requested(_ kwargs: JSONObject) -> [String]?? {
        let value = kwargs["agent_list"] ?? kwargs["agent_id"]
        switch value {
        case nil: return .none
        case .string(let s)?: return s == "*" ? .some(nil) : .some([s])
        case .array(let a)?: return .some(a.map { $0.stringValue ?? $0.pythonText })
        case .int(let i)?: return .some([String(i)])
        default: return .some([])
        }
    }

    /// `agentNodes(ids, nodeNames)`: `(id, node_name)` rows of the master's store; `nodeNames()`: the
    /// distinct node names agents report to, descending.
    static func solve(kwargs: JSONObject, broadcasting: Bool, masterName: String,
                      agentNodes: ([Int]?, [String]?) throws -> [(id: Int, node: String)],
                      nodeNames: () throws -> [String]) rethrows -> Targets? {
        if case .some(let requested) = requested(kwargs) {
            // With agents named, a node filter applies only when `node_id` is given.
            let nodeList = kwargs["node_id"] != nil ? nodeFilter(kwargs) : nil
            let rows: [(id: Int, node: String)]
            if let nodeList {
                rows = try agentNodes(nil, nodeList)
            } else if let requested {
                rows = try agentNodes(requested.compactMap { Int($0) }, nil)
            } else {
                rows = try agentNodes(nil, nil)
            }
            var targets = Targets()
            for r in rows { targets.add(r.node, [ClientKeys.paddedID(r.id)]) }
            if let nodeList, rows.isEmpty { for n in nodeList { targets.add(n, []) } }
            if let requested {
                let found = Set(rows.map { ClientKeys.paddedID($0.id) })
                let known = Set(rows.map(\.id))
                let missing = requested.filter { id in !found.contains(id) && !(Int(id).map(known.contains) ?? false) }
                if !missing.isEmpty { targets.add(masterName, missing) }
            }
            return targets
        }
        if let nodeList = nodeFilter(kwargs) { return Targets(nodeList.map { ($0, []) }) }
        if broadcasting { return nil }
        return Targets(try nodeNames().map { ($0, []) })
    }

    /// `node_list` (not `*`) or `[node_id]`; nil when the request names no node.
    static func nodeFilter(_ kwargs: JSONObject) -> [String]? {
        if let list = kwargs["node_list"] {
            switch list {
            case .string(let s): if s != "*" { return [s] }
            case .array(let a): return a.map { $0.stringValue ?? $0.pythonText }
            default: break
            }
        }
        if let id = kwargs["node_id"] {
            switch id {
            case .string(let s): return [s]
            case .array(let a): return a.map { $0.stringValue ?? $0.pythonText }
            default: return nil
            }
        }
        return nil
    }

    /// `clean_valid_nodes()`: agents of `unknown`, `""` (never connected) join the master's entry.
    static func folded(_ targets: Targets, masterName: String) -> Targets {
        var out = Targets()
        for (node, ids) in targets.pairs {
            out.add(node == "unknown" || node.isEmpty ? masterName : node, ids)
        }
        return out
    }
}
