import Common
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `wazuh.manager` functions about the node itself (LOCAL-DAPI-CONTROL.md §4: GET /cluster/{node_id}/info,
/// /status, /logs, /logs/summary and their /manager twins). In a cluster the messages say "in specified
/// node", as 4.8.1's do when the cluster is enabled (always, for clusterd).
enum DapiManagerFunctions {
    static let table: [DapiEntry] = [
        DapiEntry("wazuh.manager", "get_basic_info", .blocking({ getBasicInfo($0) })),
        DapiEntry("wazuh.manager", "get_status", .blocking({ getStatus($0) })),
        DapiEntry("wazuh.manager", "ossec_log", .blocking({ try DapiManagerLogs.ossecLog($0) })),
        DapiEntry("wazuh.manager", "ossec_log_summary", .blocking({ try DapiManagerLogs.ossecLogSummary($0) })),
    ]

    /// `get_basic_info`: what `Wazuh().to_dict()` reports. Derived here: `path` = the node home, `version` =
    /// `v` + the version clusterd speaks, `type` = `server` (a cluster node is a manager), `max_agents` =
    /// `unlimited` and `openssl_support` = `N/A` (the values 4.8.1 reports when its install info does not set
    /// them, as in the capture), `tz_offset` / `tz_name` = `strftime("%z")` / `strftime("%Z")` of now in the
    /// process's local time zone.
    static func getBasicInfo(_ call: DapiCall) -> DapiOutcome {
        var result = AffectedItems(allMsg: "Basic information was successfully read in specified node",
                                   someMsg: "Could not read basic information in some nodes",
                                   noneMsg: "Could not read basic information in specified node")
        let (offset, name) = timeZone(Date())
        result.affectedItems = [.object(JSONObject([
            ("path", .string(call.env.home)),
            ("version", .string("v" + NodeContext.version)),
            ("type", "server"),
            ("max_agents", "unlimited"),
            ("openssl_support", "N/A"),
            ("tz_offset", .string(offset)),
            ("tz_name", .string(name)),
        ]))]
        result.totalAffectedItems = 1
        return .affected(result)
    }

    /// `strftime("%z")` and `strftime("%Z")` for `date` in local time.
    static func timeZone(_ date: Date) -> (offset: String, name: String) {
        tzset()
        var t = time_t(date.timeIntervalSince1970)
        var lt = tm()
        localtime_r(&t, &lt)
        func format(_ f: String) -> String {
            var buffer = [CChar](repeating: 0, count: 64)
            let n = strftime(&buffer, buffer.count, f, &lt)
            return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return (format("%z"), format("%Z"))
    }

    /// The daemons 4.8.1's `get_status` reports, in its order.
    static let daemons = ["wazuh-agentlessd", "wazuh-analysisd", "wazuh-authd", "wazuh-csyslogd", "wazuh-dbd",
                          "wazuh-monitord", "wazuh-execd", "wazuh-integratord", "wazuh-logcollector", "wazuh-maild",
                          "wazuh-remoted", "wazuh-reportd", "wazuh-syscheckd", "wazuh-clusterd", "wazuh-modulesd",
                          "wazuh-db", "wazuh-apid"]

    /// `get_status`: each daemon's state from the Wazuh run directory `var/run` (the markers the Wazuh
    /// control script and daemons leave there): `<daemon>.failed` → `failed`; `.restart` → `restarting`;
    /// `<daemon>.start` → `starting`; a `<daemon>-<pid>.pid` file whose process is alive (`/proc/<pid>` or
    /// `kill(pid, 0)`) → `running`, of a dead process → `failed`; nothing → `stopped`. `wazuh-clusterd` is
    /// `running` without looking: clusterd is the process answering (its pid file is
    /// `wazuh-clusterd-<pid>.pid`, as 4.8.1's).
    static func getStatus(_ call: DapiCall) -> DapiOutcome {
        var result = AffectedItems(allMsg: "Processes status was successfully read in specified node",
                                   someMsg: "Could not read basic information in some nodes",
                                   noneMsg: "Could not read processes status in specified node")
        let run = call.env.home + "/var/run"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
        var status = JSONObject()
        for daemon in daemons {
            status[daemon] = .string(daemon == "wazuh-clusterd" ? "running" : state(of: daemon, in: run, names: names))
        }
        result.affectedItems = [.object(status)]
        result.totalAffectedItems = 1
        return .affected(result)
    }

    static func state(of daemon: String, in run: String, names: [String]) -> String {
        func exists(_ name: String) -> Bool { access(run + "/" + name, F_OK) == 0 }
        if exists(daemon + ".failed") { return "failed" }
        if exists(".restart") { return "restarting" }
        if exists(daemon + ".start") { return "starting" }
        let prefix = daemon + "-"
        let pids = names.compactMap { name -> Int32? in
            guard name.hasPrefix(prefix), name.hasSuffix(".pid") else { return nil }
            return Int32(name.dropFirst(prefix.count).dropLast(4))
        }
        guard let pid = pids.first else { return "stopped" }
        return isAlive(pid) ? "running" : "failed"
    }

    static func isAlive(_ pid: Int32) -> Bool {
        if access("/proc/\(pid)", F_OK) == 0 { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
