import Common
import Foundation

/// Distributed API for `cluster_control -a` (LOCAL-DAPI-CONTROL.md §1.7 A and B): a local `dapi` is
/// answered on the master, or relayed by a worker to the master; the result travels back as a long
/// string and `dapi_res`.
extension LocalServer {
    func dapi(_ message: WireMessage, from link: PeerLink, name: String) -> Reply {
        if let master {
            let store = master.store
            let payload = message.payload
            let timeout = ctx.options.timeoutDapiRequest
            ctx.log.info(tag: "Local \(name)", subtag: "D API", "Receiving request: get_agents_overview from \(ctx.config.nodeName) (\(name))")
            link.tasks.spawn { await Self.deliverDapi(await link.cpuResult(deadline: timeout) { AgentsOverview.answer(payload, store: store) }, to: link) }
            return .ok("Added request to API requests queue")
        }
        guard let masterLink = worker?.masterLink else { return .err(.cluster(3023)) }
        let payload = Array("\(name) ".utf8) + message.payload
        link.tasks.spawn {
            do {
                let reply = try await masterLink.request("dapi", payload)
                if case .err(let e) = reply { await Self.deliverDapi(.failure(e), to: link) }
            } catch {
                await Self.deliverDapi(.failure(WazuhException.wrapping(error)), to: link)
            }
        }
        return .ok("Added request to API requests queue")
    }

    /// Sends a DAPI result to a local client: long string + `dapi_res <id>`, or `dapi_err <error JSON>`.
    static func deliverDapi(_ result: Result<[UInt8], WazuhException>, to link: PeerLink) async {
        switch result {
        case .success(let bytes):
            if let id = try? await link.sendString(bytes) { _ = try? await link.request("dapi_res", text: id) }
        case .failure(let e):
            _ = try? await link.request("dapi_err", text: e.json.pythonText)
        }
    }
}

extension WorkerSession {
    /// `dapi_res <client> <string id>` / `dapi_err <client> <error>` from the master.
    func dapiResult(_ message: WireMessage) async -> Reply {
        let (client, rest) = splitFirstSpace(message.payload)
        guard let local = await clients.link(client) else { return .err(.cluster(3032, client)) }
        if message.name == "dapi_err" {
            local.tasks.spawn { _ = try? await local.request("dapi_err", rest) }
            return .ok("DAPI error forwarded to worker")
        }
        guard let result = await link.takeString(String(decoding: rest, as: UTF8.self)) else {
            return .err(.cluster(3035, String(decoding: rest, as: UTF8.self)))
        }
        local.tasks.spawn { await LocalServer.deliverDapi(.success(result), to: local) }
        return .ok("Response forwarded to worker")
    }
}
