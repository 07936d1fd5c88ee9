import Common
import Foundation

extension DapiNode {
    static let nodesMessages = (all: "All selected nodes information was returned", some: "Some nodes information was not returned",
                                none: "No information was returned")

    /// `forward_request()` (LOCAL-DAPI-CONTROL.md §2.4): the master asks each solver node (itself
    /// included) concurrently, with `from_cluster` set and each node's own agent ids, and merges the
    /// answers (§2.6). Unknown nodes are failed items 1730; a node that is not connected answers 3022
    /// for its ids.
    func forwardRequest(_ original: DapiRequest) async -> DapiOutcome {
        guard let master else { return await executeLocal(original) }
        var request = original
        request.fromCluster = true
        let (kwargs, broadcasting, masterName, store) = (request.kwargs, request.broadcasting, ctx.config.nodeName, store)
        let solved: DapiSolver.Targets?
        do {
            solved = try await ctx.pool.run {
                try DapiSolver.solve(kwargs: kwargs, broadcasting: broadcasting, masterName: masterName,
                                     agentNodes: { try store.agentNodes(ids: $0, nodeNames: $1) },
                                     nodeNames: { try store.agentNodeNames() })
            }
        } catch {
            return .exception(named(.internal(2008, "finding the nodes of the request's agents: \(error)")))
        }
        let connected = await master.nodes().compactMap { $0["name"]?.stringValue }
        var allowed = AffectedItems(allMsg: Self.nodesMessages.all, someMsg: Self.nodesMessages.some, noneMsg: Self.nodesMessages.none)
        var targets: DapiSolver.Targets
        if kwargs["node_id"] != nil || kwargs["node_list"] != nil {
            let asked = solved?.names ?? []
            if asked.isEmpty {
                allowed.affectedItems = connected.map { .string($0) }
            } else {
                for n in asked {
                    if connected.contains(n) { allowed.affectedItems.append(.string(n)) }
                    else if n != "unknown" { allowed.addFailed(id: n, error: .notFound(1730)) }
                }
            }
            allowed.totalAffectedItems = allowed.affectedItems.count
            var kept = DapiSolver.Targets()
            let base = (solved?.isEmpty ?? true) ? DapiSolver.Targets(connected.map { ($0, []) }) : solved!
            for (n, ids) in base.pairs where connected.contains(n) || n == "unknown" { kept.add(n, ids) }
            targets = kept
            request.kwargs["node_id"] = nil
            request.kwargs["node_list"] = nil
        } else {
            targets = solved ?? DapiSolver.Targets(connected.map { ($0, []) })
            allowed.affectedItems = targets.names.map { .string($0) }
            allowed.totalAffectedItems = targets.names.count
        }
        targets = DapiSolver.folded(targets, masterName: masterName)
        let substitute = kwargs["agent_list"] != nil || kwargs["agent_id"] != nil
        let pairs = targets.pairs
        let base = request
        let outcomes = await withTaskGroup(of: (Int, DapiOutcome).self) { group in
            for (i, (node, ids)) in pairs.enumerated() {
                var r = base
                if substitute {
                    let list = JSONValue.array(ids.map { .string($0) })
                    if r.kwargs["agent_list"] != nil { r.kwargs["agent_list"] = list }
                    if r.kwargs["agent_id"] != nil { r.kwargs["agent_id"] = list }
                }
                group.addTask { (i, await self.forward(r, to: node, master: master)) }
            }
            var out = [DapiOutcome?](repeating: nil, count: pairs.count)
            for await (i, o) in group { out[i] = o }
            return out.compactMap { $0 }
        }
        var final: DapiOutcome
        if allowed.totalAffectedItems > 1, let merged = DapiOutcome.merging(outcomes) {
            final = merged
        } else if let first = outcomes.first {
            final = first
        } else {
            var failedOnly = allowed
            failedOnly.affectedItems = []
            failedOnly.totalAffectedItems = 0
            return .affected(failedOnly)
        }
        if case .affected(var a) = final {
            for f in allowed.failedItems where f.ids != ["unknown"] { for id in f.ids { a.addFailed(id: id, error: f.error) } }
            final = .affected(a)
        }
        return final
    }

    /// `forward(node)`: the master runs its own share; a worker gets `dapi "<uuid> <json>"` and answers
    /// with `dapi_res "<uuid> <string id>"`, waited for at most `timeout_dapi_request`.
    private func forward(_ request: DapiRequest, to node: String, master: Master) async -> DapiOutcome {
        if node == ctx.config.nodeName { return await executeLocal(request) }
        guard let link = await master.registry.worker(node).flatMap({ $0.helloAccepted ? $0.link : nil }) else {
            return .exception(.error(3022, nil, ids: [node]))
        }
        let id = UUID().uuidString.lowercased()
        let payload = Array((id + " ").utf8) + PythonJSONEncoder().encodeBytes(.object(request.encodedBody))
        let timeout = request.waitForComplete ? nil : ctx.options.timeoutDapiRequest
        let gone = WazuhException.error(3022, "\(node) disconnected before answering", ids: [node])
        return await pending.await(id, on: link, timeout: timeout, onClose: gone) {
            if let e = await Self.sendExpectingOK(link, "dapi", payload) {
                return e.code == 3022 ? .error(3022, nil, ids: [node]) : e
            }
            return nil
        }
    }
}
