import Common
import Crypto
import Foundation

/// The group functions: listing groups, creating and deleting them, assigning and unassigning agents.
/// Groups are the directories of `etc/shared`; membership lives in the database, and every change to it
/// is marked `group_sync_status='syncreq'` for the agent-groups task.
enum DapiAgentGroups {
    /// The most groups one agent may belong to.
    static let maxGroupsPerAgent = 128

    // MARK: get_agent_groups

    /// `wazuh.agent.get_agent_groups`: `{name, count, configSum[, mergedSum]}` per group directory, with
    /// `group_list`, `search_text`/`complementary_search`, `q` (on name and count), `sort_by`,
    /// `sort_ascending`, `select`, `offset`, `limit`, `hash_algorithm`.
    static func getAgentGroups(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected groups information was returned",
                                   someMsg: "Some groups information was not returned", noneMsg: "No group information was returned")
        let env = call.env
        let algorithm = try call.string("hash_algorithm") ?? "md5"
        guard let hash = hasher(algorithm) else { throw .error(1723, "'\(algorithm)'") }
        var names = DapiAgentSupport.groupNames(env)
        if let list = try call.stringList("group_list") {
            for g in list where !names.contains(g) { result.addFailed(id: g, error: .notFound(1710)) }
            names = names.filter { list.contains($0) }
        }
        if let text = try call.string("search_text"), !text.isEmpty {
            let negate = try call.bool("complementary_search") ?? false
            names = names.filter { $0.lowercased().contains(text.lowercased()) != negate }
        }
        let counts = try DapiAgentSupport.store { () throws(StoreError) in try env.store.groupCounts() }
        var items: [(name: String, count: Int)] = names.map { ($0, counts[$0] ?? 0) }
        if let q = try call.string("q"), !q.isEmpty {
            let tree = try WazuhQuery.parse(q)
            var kept: [(name: String, count: Int)] = []
            for item in items where try matches(tree, item, q: q) { kept.append(item) }
            items = kept
        }
        let sortBy = try call.stringList("sort_by") ?? ["name"]
        let ascending = try call.bool("sort_ascending") ?? true
        for field in sortBy where field != "name" && field != "count" {
            throw .error(1403, "'\(field)' is not one of: name, count")
        }
        items.sort { a, b in
            for field in sortBy {
                if field == "count", a.count != b.count { return ascending ? a.count < b.count : a.count > b.count }
                if field == "name", a.name != b.name { return ascending ? a.name < b.name : a.name > b.name }
            }
            return false
        }
        let selectable = ["name", "count", "mergedSum", "configSum"]
        let select = try call.stringList("select") ?? selectable
        if let bad = select.first(where: { !selectable.contains($0) }) {
            throw .error(1724, "'\(bad)' is not one of: \(selectable.joined(separator: ", "))")
        }
        let offset = try call.int("offset") ?? 0
        let limit = call.kwargs["limit"] == nil ? DapiAgentSupport.defaultLimit : try call.int("limit")
        guard offset >= 0 else { throw .error(1400, "offset \(offset) is negative") }
        if let limit {
            if limit == 0 { throw .error(1406) }
            if limit < 0 || limit > AgentQuery.maximumLimit { throw .error(limit < 0 ? 1401 : 1405, "\(limit)") }
        }
        result.totalAffectedItems = items.count
        let page = items.dropFirst(offset).prefix(limit ?? Int.max)
        let shared = DapiAgentSupport.sharedPath(env)
        for item in page {
            var o = JSONObject()
            if select.contains("name") { o["name"] = .string(item.name) }
            if select.contains("count") { o["count"] = .int(Int64(item.count)) }
            if select.contains("configSum"), let h = fileHash(shared + "/" + item.name + "/agent.conf", hash) { o["configSum"] = .string(h) }
            if select.contains("mergedSum"), let h = fileHash(shared + "/" + item.name + "/merged.mg", hash) { o["mergedSum"] = .string(h) }
            result.affectedItems.append(.object(o))
        }
        return .affected(result)
    }

    static func matches(_ tree: WazuhQuery, _ item: (name: String, count: Int), q: String) throws(WazuhException) -> Bool {
        switch tree {
        case .and(let xs):
            for x in xs where !(try matches(x, item, q: q)) { return false }
            return true
        case .or(let xs):
            for x in xs where try matches(x, item, q: q) { return true }
            return false
        case .condition(let field, let op, let value):
            switch field {
            case "name":
                switch op {
                case .equal: return item.name == value
                case .notEqual: return item.name != value
                case .less: return item.name < value
                case .greater: return item.name > value
                case .like: return item.name.lowercased().contains(value.lowercased())
                }
            case "count":
                if op == .like { return String(item.count).contains(value) }
                guard let n = Int(value) else { throw .error(1407, "'count' takes a number, not '\(value)'") }
                switch op {
                case .equal: return item.count == n
                case .notEqual: return item.count != n
                case .less: return item.count < n
                case .greater: return item.count > n
                case .like: return false
                }
            default:
                throw .error(1408, "query '\(q)' names field '\(field)'; fields are name, count")
            }
        }
    }

    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 { d.map { String(format: "%02x", $0) }.joined() }

    static func hasher(_ name: String) -> (([UInt8]) -> String)? {
        switch name {
        case "md5": return { hex(Insecure.MD5.hash(data: $0)) }
        case "sha1": return { hex(Insecure.SHA1.hash(data: $0)) }
        case "sha256": return { hex(SHA256.hash(data: $0)) }
        case "sha384": return { hex(SHA384.hash(data: $0)) }
        case "sha512": return { hex(SHA512.hash(data: $0)) }
        default: return nil
        }
    }

    static func fileHash(_ path: String, _ hash: ([UInt8]) -> String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return hash(Array(data))
    }

    // MARK: create_group / delete_groups

    /// `wazuh.agent.create_group`: `etc/shared/<group_id>/` with `agent.conf` from
    /// `etc/shared/agent-template.conf` when there is one, and the group row.
    static func createGroup(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        guard let group = try call.string("group_id") else { throw call.badArgument("group_id", "a string") }
        guard DapiAgentSupport.isValidGroupName(group) else { throw .error(1722, "'\(group.prefix(300))'") }
        let env = call.env
        let shared = DapiAgentSupport.sharedPath(env)
        let dir = shared + "/" + group
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            throw isDir.boolValue ? .error(1711, group) : .error(1713, group)
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o770])
        } catch {
            // Made by someone else meanwhile, or not makeable: either way it is not ours to remove.
            if FileManager.default.fileExists(atPath: dir) { throw .error(1711, group) }
            throw .internal(1000, "could not create group directory \(dir): \(error)")
        }
        let template = shared + "/agent-template.conf"
        if FileManager.default.fileExists(atPath: template) {
            do {
                try FileManager.default.copyItem(atPath: template, toPath: dir + "/agent.conf")
                try? FileManager.default.setAttributes([.posixPermissions: 0o660], ofItemAtPath: dir + "/agent.conf")
            } catch {
                try? FileManager.default.removeItem(atPath: dir)
                throw .internal(1000, "could not copy \(template) into \(dir): \(error)")
            }
        }
        do {
            try env.store.createGroup(group)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw .internal(2008, error.description)
        }
        return .result(WazuhResultValue(JSONObject([("message", .string("Group '\(group)' created."))])))
    }

    /// `wazuh.agent.delete_groups`: each group's directory and row go; its agents lose it (one left with
    /// none goes back to `default`). `default` cannot be deleted (1712), a missing group is 1710.
    static func deleteGroups(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        var result = AffectedItems(allMsg: "All selected groups were deleted", someMsg: "Some groups were not deleted",
                                   noneMsg: "No group was deleted")
        let env = call.env
        let list = try call.stringList("group_list") ?? DapiAgentSupport.groupNames(env).filter { $0 != "default" }
        for group in list {
            guard DapiAgentSupport.isValidGroupName(group) else { result.addFailed(id: group, error: .error(1722)); continue }
            if group == "default" { result.addFailed(id: group, error: .error(1712)); continue }
            guard DapiAgentSupport.groupExists(env, group) else { result.addFailed(id: group, error: .notFound(1710)); continue }
            let dir = DapiAgentSupport.sharedPath(env) + "/" + group
            do {
                try FileManager.default.removeItem(atPath: dir)
            } catch {
                result.addFailed(id: group, error: .internal(1000, "could not remove \(dir): \(error)"))
                continue
            }
            do {
                try env.store.deleteGroup(group)
            } catch {
                result.addFailed(id: group, error: .internal(2008, error.description))
                continue
            }
            result.affectedItems.append(.string(group))
        }
        result.totalAffectedItems = result.affectedItems.count
        return .affected(result)
    }

    // MARK: assigning and unassigning

    /// The agents a call names (nil `agent_list`: every agent but the manager), each with its id; ids that
    /// are not numbers become 1701 failed items.
    static func agentIDs(_ call: DapiCall, result: inout AffectedItems) throws(WazuhException) -> [(text: String, id: Int)] {
        if let list = try call.stringList("agent_list") {
            var out: [(text: String, id: Int)] = []
            for text in list {
                guard let id = DapiAgentSupport.agentID(text) else { result.addFailed(id: text, error: .notFound(1701)); continue }
                out.append((text, id))
            }
            return out
        }
        let all = try DapiAgentSupport.store { () throws(StoreError) in try call.env.store.agents() }
        return all.filter { $0.id != 0 }.map { ($0.paddedID, $0.id) }
    }

    /// `wazuh.agent.assign_agents_to_group`: adds `group_list[0]` to each agent (`replace`: makes it the
    /// agent's only group).
    static func assignAgentsToGroup(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        guard let group = try call.stringList("group_list")?.first else { throw call.badArgument("group_list", "a list with one group") }
        guard DapiAgentSupport.isValidGroupName(group) else { throw .error(1722, "'\(group.prefix(300))'") }
        let replace = try call.bool("replace") ?? false
        var result = AffectedItems(allMsg: "All selected agents were assigned to \(group)\(replace ? " and removed from the other groups" : "")",
                                   someMsg: "Some agents were not assigned to \(group)\(replace ? " and removed from the other groups" : "")",
                                   noneMsg: "No agents were assigned to \(group)")
        guard DapiAgentSupport.groupExists(call.env, group) else { throw .notFound(1710, group) }
        let targets = try agentIDs(call, result: &result)
        try apply(call, targets, &result) { groups throws(WazuhException) -> [String]? in
            if replace { return [group] }
            if groups.contains(group) { throw .error(1751) }
            if groups.count >= maxGroupsPerAgent { throw .error(1737) }
            return groups + [group]
        }
        return .affected(result)
    }

    /// Changes the groups of `targets` in one transaction: `change` gets an agent's current groups and
    /// returns its new ones, nil to skip it silently, or throws the error of its failed item. The manager
    /// is 1703, an agent the database lacks 1701. Affected items are the ids changed, in id order.
    static func apply(_ call: DapiCall, _ targets: [(text: String, id: Int)], _ result: inout AffectedItems,
                      _ change: ([String]) throws(WazuhException) -> [String]?) throws(WazuhException) {
        var failures: [Int: WazuhException] = [:]
        var wanted: [(text: String, id: Int)] = []
        for t in targets {
            if t.id == 0 { result.addFailed(id: t.text, error: .error(1703)) } else { wanted.append(t) }
        }
        let store = call.env.store
        let changed = Set(try DapiAgentSupport.store { () throws(StoreError) in
            try store.updateGroups(agents: wanted.map(\.id)) { id, groups in
                do throws(WazuhException) { return try change(groups) } catch {
                    failures[id] = error
                    return nil
                }
            }
        })
        var seen: Set<Int> = []
        for (text, id) in wanted where seen.insert(id).inserted {
            if changed.contains(id) {
                result.affectedItems.append(.string(ClientKeys.paddedID(id)))
            } else if let e = failures[id] {
                result.addFailed(id: text, error: e)
            } else if !(try DapiAgentSupport.store { () throws(StoreError) in try store.existingIDs([id]) }).contains(id) {
                result.addFailed(id: text, error: .notFound(1701))
            }
        }
        result.affectedItems.sort { ($0.stringValue ?? "") < ($1.stringValue ?? "") }
        result.totalAffectedItems = result.affectedItems.count
    }

    /// `wazuh.agent.remove_agent_from_groups`: takes `group_list` (nil: every group) from
    /// `agent_list[0]`; the affected items are the groups removed.
    static func removeAgentFromGroups(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        var result = AffectedItems(allMsg: "Specified agent was removed from returned groups",
                                   someMsg: "Specified agent was not removed from some groups",
                                   noneMsg: "Specified agent was not removed from any group")
        guard let text = try call.stringList("agent_list")?.first else { throw call.badArgument("agent_list", "a list with one agent id") }
        guard let id = DapiAgentSupport.agentID(text) else { throw .notFound(1701, text) }
        if id == 0 { throw .error(1703) }
        let store = call.env.store
        guard let groups = try DapiAgentSupport.store({ () throws(StoreError) in try store.groups(ofAgents: [id]) })[id] else {
            throw .notFound(1701)
        }
        let requested = try call.stringList("group_list") ?? groups
        var remaining = groups
        var removed: [String] = []
        for group in requested {
            guard DapiAgentSupport.isValidGroupName(group) else { result.addFailed(id: group, error: .error(1722)); continue }
            guard DapiAgentSupport.groupExists(call.env, group) else { result.addFailed(id: group, error: .notFound(1710)); continue }
            guard remaining.contains(group) else { result.addFailed(id: group, error: .error(1734)); continue }
            if group == "default" && remaining == ["default"] { result.addFailed(id: group, error: .error(1745)); continue }
            remaining.removeAll { $0 == group }
            removed.append(group)
        }
        if !removed.isEmpty {
            let final = remaining.isEmpty ? ["default"] : remaining
            try DapiAgentSupport.store { () throws(StoreError) in _ = try store.setGroups(agent: id, final) }
        }
        result.affectedItems = removed.map { .string($0) }
        result.totalAffectedItems = removed.count
        return .affected(result)
    }

    /// `wazuh.agent.remove_agents_from_group`: takes `group_list[0]` from each agent of `agent_list`
    /// (nil: every member).
    static func removeAgentsFromGroup(_ call: DapiCall) throws(WazuhException) -> DapiOutcome {
        guard let group = try call.stringList("group_list")?.first else { throw call.badArgument("group_list", "a list with one group") }
        guard DapiAgentSupport.isValidGroupName(group) else { throw .error(1722, "'\(group.prefix(300))'") }
        var result = AffectedItems(allMsg: "All selected agents were removed from group \(group)",
                                   someMsg: "Some agents were not removed from group \(group)",
                                   noneMsg: "No agent was removed from group \(group)")
        guard DapiAgentSupport.groupExists(call.env, group) else { throw .notFound(1710, group) }
        let explicit = call.kwargs["agent_list"] != nil && call.kwargs["agent_list"] != .null
        let targets = try agentIDs(call, result: &result)
        try apply(call, targets, &result) { groups throws(WazuhException) -> [String]? in
            guard groups.contains(group) else {
                if explicit { throw .error(1734) }
                return nil
            }
            if group == "default" && groups == ["default"] { throw .error(1745) }
            let kept = groups.filter { $0 != group }
            return kept.isEmpty ? ["default"] : kept
        }
        return .affected(result)
    }
}
