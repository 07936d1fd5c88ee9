import Common
import Foundation
import Synchronization

// dapi-bench: the distributed API through a worker. `get_agents` (limit 500) sent to the worker's local
// socket is solved on the master and its answer comes back through the worker: p50/p99 of sequential
// calls and the throughput of concurrent callers, next to a plain local `get_nodes` round trip on the
// master's socket measured in the same run.
//
//   dapi-bench --worker-home W --master-home M [--calls 200] [--callers 50] [--per-caller 10]

func option(_ name: String) -> String? {
    let args = Array(CommandLine.arguments.dropFirst())
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}
guard let workerHome = option("--worker-home"), let masterHome = option("--master-home") else {
    FileHandle.standardError.write(Data("usage: dapi-bench --worker-home W --master-home M [--calls N] [--callers C] [--per-caller K]\n".utf8))
    exit(2)
}
let calls = Int(option("--calls") ?? "") ?? 200
let callers = Int(option("--callers") ?? "") ?? 50
let perCaller = Int(option("--per-caller") ?? "") ?? 10

let getAgents = Array(#"{"f": {"__callable__": {"__name__": "get_agents", "__module__": "wazuh.agent", "__qualname__": "get_agents", "__type__": "function"}}, "f_kwargs": {"offset": 0, "limit": 500, "filters": {}, "distinct": false}, "request_type": "local_master", "wait_for_complete": false, "from_cluster": false, "is_async": false, "local_client_arg": null, "basic_services": ["wazuh-modulesd", "wazuh-analysisd", "wazuh-execd", "wazuh-db", "wazuh-remoted"], "rbac_permissions": {"rbac_mode": "black"}, "current_user": "wazuh", "broadcasting": false, "nodes": [], "api_timeout": 10}"#.utf8)
let getNodes = Array(#"{"filter_node": null, "offset": 0, "limit": 500, "sort": null, "search": null, "select": null, "filter_type": "all", "distinct": false}"#.utf8)

func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

let worker = LocalClient(home: workerHome, timeout: 20, asyncTimeout: 60)
let master = LocalClient(home: masterHome, timeout: 20, asyncTimeout: 60)

// The answer is checked once: 500 agents of the 50,000.
let first = try worker.execute(command: "dapi", payload: getAgents)
guard case .affected(let a) = DapiOutcome.decode(first) else {
    print("get_agents did not answer a result: \(String(decoding: first.prefix(300), as: UTF8.self))")
    exit(1)
}
let answerBytes = first.count
print("get_agents through the worker: \(a.affectedItems.count) of \(a.totalAffectedItems) agents, answer \(answerBytes) bytes")

for _ in 0..<20 { _ = try worker.execute(command: "dapi", payload: getAgents); _ = try master.execute(command: "get_nodes", payload: getNodes) }

var agentTimes: [Double] = []
var nodeTimes: [Double] = []
for _ in 0..<calls {
    agentTimes.append(try timed { _ = try worker.execute(command: "dapi", payload: getAgents) })
    nodeTimes.append(try timed { _ = try master.execute(command: "get_nodes", payload: getNodes) })
}
agentTimes.sort()
nodeTimes.sort()
let p50 = percentile(agentTimes, 0.5), p99 = percentile(agentTimes, 0.99)
let n50 = percentile(nodeTimes, 0.5), n99 = percentile(nodeTimes, 0.99)

let failures = Mutex(0)
let total = timed {
    // One thread per caller (GCD would run only as many as there are cores).
    let group = DispatchGroup()
    for _ in 0..<callers {
        group.enter()
        Thread.detachNewThread {
            for _ in 0..<perCaller {
                if (try? worker.execute(command: "dapi", payload: getAgents)) == nil { failures.withLock { $0 += 1 } }
            }
            group.leave()
        }
    }
    group.wait()
}
let done = callers * perCaller - failures.withLock { $0 }
let throughput = Double(done) / total

func ms(_ s: Double) -> String { String(format: "%.2f ms", s * 1000) }
print("sequential, \(calls) calls: get_agents p50 \(ms(p50)) p99 \(ms(p99)) | reference get_nodes on the master's socket p50 \(ms(n50)) p99 \(ms(n99))"
      + String(format: "   (get_agents p50 / get_nodes p50 = %.1fx)", p50 / n50))
print(String(format: "   target p50 < 5 ms (target/this = %.1fx)", 0.005 / p50))
print(String(format: "concurrent, %d callers x %d calls: %.0f get_agents calls/s (%d failed) in %.2f s   target >= 500/s (this/target = %.2fx)",
             callers, perCaller, throughput, callers * perCaller - done, total, throughput / 500))
print("  targets:", p50 < 0.005 && throughput >= 500 && done == callers * perCaller ? "met" : "NOT met")

