import ClusterNode
import Common
import Testing

@Suite struct DapiRequestTests {
    static func parse(_ text: String) -> Result<DapiRequest, WazuhException> { DapiRequest.parse(Array(text.utf8)) }
    static let agents = #"{"f": {"__callable__": {"__name__": "get_agents", "__module__": "wazuh.agent", "__qualname__": "get_agents", "__type__": "function"}}"#

    @Test func aMinimalBodyTakesThe481Defaults() throws {
        // What control.get_agents sends: f, f_kwargs, from_cluster, wait_for_complete.
        let r = try Self.parse(#"{"f": {"__callable__": {"__name__": "get_agents_overview", "__module__": "wazuh.core.agent", "__qualname__": "Agent.get_agents_overview", "__type__": "function"}}, "f_kwargs": {"limit": 500}, "from_cluster": false, "wait_for_complete": false}"#).get()
        #expect(r.function == .init(module: "wazuh.core.agent", qualname: "Agent.get_agents_overview", name: "get_agents_overview"))
        #expect(r.requestType == .localMaster && !r.fromCluster && !r.broadcasting && r.nodes.isEmpty && r.apiTimeout == 10)
        #expect(r.kwargs["limit"] == .int(500))
    }

    @Test func everyKeyIsRead() throws {
        let r = try Self.parse(Self.agents + #", "f_kwargs": {}, "request_type": "distributed_master", "wait_for_complete": true, "from_cluster": true, "broadcasting": true, "nodes": ["master-node", "worker1"], "api_timeout": 30}"#).get()
        #expect(r.requestType == .distributedMaster && r.waitForComplete && r.fromCluster && r.broadcasting)
        #expect(r.nodes == ["master-node", "worker1"] && r.apiTimeout == 30)
    }

    @Test func badBodiesAreNamedErrors() {
        #expect(Self.parse("not json") == .failure(.cluster(3036, "the distributed API request is not a JSON object")))
        #expect(Self.parse(#"{"f_kwargs": {}}"#) == .failure(.internal(1000, "the distributed API request names no callable ('f.__callable__')")))
        guard case .failure(let kw) = Self.parse(Self.agents + #", "f_kwargs": [1]}"#) else { Issue.record("accepted a list of kwargs"); return }
        #expect(kw.description.contains("'f_kwargs' of wazuh.agent.get_agents must be an object"))
        guard case .failure(let rt) = Self.parse(Self.agents + #", "request_type": "everywhere"}"#) else { Issue.record("accepted a request type"); return }
        #expect(rt.description.contains("unknown request_type 'everywhere'"))
        guard case .failure(let fc) = Self.parse(Self.agents + #", "from_cluster": "yes"}"#) else { Issue.record("accepted a string flag"); return }
        #expect(fc.description.contains("'from_cluster' must be true or false"))
    }
}

/// Every row of LOCAL-DAPI-CONTROL.md §2.3's table.
@Suite struct DapiRouteTests {
    static func request(_ type: String, fromCluster: Bool = false) throws -> DapiRequest {
        try DapiRequest.parse(Array((DapiRequestTests.agents + #", "request_type": "\#(type)", "from_cluster": \#(fromCluster)}"#).utf8)).get()
    }

    @Test func theRoutingTable() throws {
        #expect(DapiRoute.decide(try Self.request("local_any"), onMaster: true) == .local)
        #expect(DapiRoute.decide(try Self.request("local_any"), onMaster: false) == .local)
        #expect(DapiRoute.decide(try Self.request("local_master"), onMaster: true) == .local)
        #expect(DapiRoute.decide(try Self.request("local_master"), onMaster: false) == .toMaster)
        #expect(DapiRoute.decide(try Self.request("distributed_master"), onMaster: true) == .forward)
        #expect(DapiRoute.decide(try Self.request("distributed_master"), onMaster: false) == .toMaster)
    }

    @Test func fromClusterStopsTheRecursionAndADisabledClusterRunsEverythingHere() throws {
        #expect(DapiRoute.decide(try Self.request("distributed_master", fromCluster: true), onMaster: true) == .local)
        #expect(DapiRoute.decide(try Self.request("distributed_master", fromCluster: true), onMaster: false) == .local)
        for type in ["local_any", "local_master", "distributed_master"] {
            #expect(DapiRoute.decide(try Self.request(type), onMaster: false, clusterEnabled: false) == .local)
        }
    }
}
