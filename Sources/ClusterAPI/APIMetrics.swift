import Common
import Foundation
import Prometheus

/// `GET /metrics` (Prometheus text): the API's own requests and DAPI calls (counters, latency
/// histograms), and the cluster's state read at each scrape from this node's daemon (`get_health` and the
/// agents summary): per node connection, keep-alive age, integrity / agent-info / agent-groups timings
/// and file counts, agents by status, and agents per node and status.
public final class APIMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let latencyBuckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                             .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                             .seconds(2.5), .seconds(5), .seconds(10)]

    public init() {}

    func request(method: String, status: Int) {
        registry.makeCounter(descriptor: .init(namespace: "wazuh_api", metricName: "http_requests", unitName: "total",
                                               helpText: "HTTP requests answered, by method and status"),
                             labels: [("method", method), ("status", String(status))]).increment()
    }

    func dapi(function: String, outcome: String, seconds: Double) {
        let labels = [("function", function), ("outcome", outcome)]
        registry.makeCounter(descriptor: .init(namespace: "wazuh_api", metricName: "dapi_requests", unitName: "total",
                                               helpText: "Distributed API requests, by framework function and outcome"),
                             labels: labels).increment()
        registry.makeDurationHistogram(descriptor: .init(namespace: "wazuh_api", metricName: "dapi_request_duration", unitName: "seconds",
                                                         helpText: "Distributed API request latency, by function and outcome"),
                                       labels: labels, buckets: Self.latencyBuckets)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// The exposition: this process's metrics, then the cluster's, read now.
    func exposition(client: LocalDapiClient) async -> String {
        var text = registry.emitToString()
        let cluster = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            cluster.makeGauge(descriptor: .init(namespace: "wazuh_cluster", metricName: name, unitName: unit, helpText: help), labels: labels)
                .set(value)
        }
        let now = Date().timeIntervalSince1970
        if let health = try? await client.query("get_health", .null), let nodes = health["nodes"]?.objectValue {
            for (name, node) in nodes {
                let n = [("node", name), ("type", node["info"]?["type"]?.stringValue ?? "")]
                gauge("node_connected", "", "1 for each node the master lists (the master and its connected workers)", n, 1)
                if let active = node["info"]?["n_active_agents"]?.intValue {
                    gauge("node_active_agents", "", "Active agents reporting to the node", [("node", name)], Double(active))
                }
                guard let status = node["status"] else { continue }
                if let t = Self.epoch(status["last_keep_alive"]?.stringValue) {
                    gauge("node_last_keepalive_age", "seconds", "Seconds since the worker's last keep-alive", [("node", name)], now - t)
                }
                let spans: [(String, JSONValue?, String, String)] = [
                    ("integrity_check_duration", status["last_check_integrity"], "date_start_master", "date_end_master"),
                    ("integrity_sync_duration", status["last_sync_integrity"], "date_start_master", "date_end_master"),
                    ("agent_info_sync_duration", status["last_sync_agentinfo"], "date_start_master", "date_end_master"),
                    ("agent_groups_sync_duration", status["last_sync_agentgroup"], "date_start", "date_end"),
                    ("agent_groups_full_sync_duration", status["last_sync_full_agentgroup"], "date_start", "date_end"),
                ]
                for (metric, span, start, end) in spans {
                    if let s = Self.epoch(span?[start]?.stringValue), let e = Self.epoch(span?[end]?.stringValue), e >= s {
                        gauge(metric, "seconds", "Duration of the last completed round", [("node", name)], e - s)
                    }
                }
                if let files = status["last_sync_integrity"]?["total_files"]?.objectValue {
                    for (kind, count) in files {
                        gauge("integrity_sync_files", "", "Files of the last integrity sync, by kind", [("node", name), ("kind", kind)],
                              Double(count.intValue ?? 0))
                    }
                }
            }
        }
        let summary = LocalDapiClient.body(module: "wazuh.agent", qualname: "get_agents_summary_status", kwargs: JSONObject(),
                                           requestType: "local_master", waitForComplete: false, broadcasting: false, nodes: [],
                                           user: "metrics", apiTimeout: 10)
        if case .result(let r)? = try? await client.dapi(summary), let connection = r.result["data"]?["connection"]?.objectValue {
            for (status, count) in connection where status != "total" {
                gauge("agents", "", "Agents by connection status", [("status", status)], Double(count.intValue ?? 0))
            }
        }
        let byNode = LocalDapiClient.body(module: "api.cluster_api", qualname: "agents_by_node_and_status", kwargs: JSONObject(),
                                          requestType: "local_master", waitForComplete: false, broadcasting: false, nodes: [],
                                          user: "metrics", apiTimeout: 10)
        if case .result(let r)? = try? await client.dapi(byNode), let items = r.result["items"]?.arrayValue {
            for item in items {
                gauge("node_agents", "", "Agents by the node they report to and connection status",
                      [("node", item["node_name"]?.stringValue ?? ""), ("status", item["status"]?.stringValue ?? "")],
                      Double(item["count"]?.intValue ?? 0))
            }
        }
        text += cluster.emitToString()
        return text
    }

    /// `%Y-%m-%dT%H:%M:%S.%fZ` (health dates) as epoch seconds; nil for `n/a`.
    static func epoch(_ s: String?) -> Double? {
        guard let s, s.count >= 20, s != "n/a" else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
        return f.date(from: s)?.timeIntervalSince1970
    }
}
