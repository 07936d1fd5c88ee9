import Common
import Foundation

/// The DAPI queues (LOCAL-DAPI-CONTROL.md §2.5) and the answers travelling back along the path
/// (§1.7 A–D): each request is taken at once (`ok Added request to API requests queue`) and solved as a
/// task of its connection; its answer goes back as a long string and `dapi_res`, or as `dapi_err`.
extension DapiNode {
    static let queued = "Added request to API requests queue"

    /// Sends `answer` to the peer that asked: the string, then `dapi_res [<prefix> ]<string id>`; or
    /// `dapi_err [<prefix> ]<text>`. A string that cannot be sent becomes a `dapi_err` naming why.
    static func deliver(_ answer: DapiAnswer, to link: PeerLink, prefix: String?) async {
        let p = prefix.map { $0 + " " } ?? ""
        switch answer {
        case .result(let bytes):
            do {
                _ = try await link.sendString(bytes, then: "dapi_res") { Array((p + $0).utf8) }
            } catch {
                _ = try? await link.request("dapi_err", text: p + WazuhException.wrapping(error).description)
            }
        case .error(let text):
            _ = try? await link.request("dapi_err", text: p + text)
        }
    }

    // MARK: requests

    /// Master: `dapi "<client> <json>"` from worker `worker`.
    func fromWorker(_ payload: [UInt8], worker: String, link: PeerLink) -> Reply {
        let (client, json) = splitFirstSpace(payload)
        link.tasks.spawn {
            let answer = await self.solve(json, from: worker, client: client, tag: "Master")
            await Self.deliver(answer, to: link, prefix: client)
        }
        return .ok(Self.queued)
    }

    /// Worker: `dapi "<id> <json>"` from the master (a forwarded request, `from_cluster` set).
    func fromMaster(_ payload: [UInt8], link: PeerLink) -> Reply {
        let (id, json) = splitFirstSpace(payload)
        let tag = "Worker \(ctx.config.nodeName)"
        link.tasks.spawn {
            let answer = await self.solve(json, from: "master", client: id, tag: tag)
            await Self.deliver(answer, to: link, prefix: id)
        }
        return .ok(Self.queued)
    }

    /// Local socket `dapi <json>` from client `name`: solved here (on the master, or `local_any` on a
    /// worker), or relayed by a worker to its master as `dapi "<name> <json>"`.
    func fromLocal(_ json: [UInt8], client name: String, link: PeerLink) -> Reply {
        let tag = "Local \(name)"
        if !isMaster, case .success(let request) = DapiRequest.parse(json),
           DapiRoute.decide(request, onMaster: false, clusterEnabled: !ctx.config.disabled) == .toMaster {
            guard let masterLink = worker?.masterLink else { return .err(.cluster(3023)) }
            let payload = Array("\(name) ".utf8) + json
            link.tasks.spawn {
                if let e = await Self.sendExpectingOK(masterLink, "dapi", payload) {
                    await Self.deliver(.error(e.description), to: link, prefix: nil)
                }
            }
            return .ok(Self.queued)
        }
        link.tasks.spawn {
            let answer = await self.solve(json, from: self.ctx.config.nodeName, client: name, tag: tag)
            await Self.deliver(answer, to: link, prefix: nil)
        }
        return .ok(Self.queued)
    }

    /// Master local socket `dapi_fwd "<node> <json>"`: sent to worker `node` as `dapi "<name> <json>"`;
    /// its `dapi_res "<name> <id>"` is passed on to the client. 3022 when the node is not connected.
    func forwardFromLocal(_ payload: [UInt8], client name: String, link: PeerLink) async -> Reply {
        guard let master else { return .errText("unknown command 'b'dapi_fwd''") }
        let (node, json) = splitFirstSpace(payload)
        guard let target = await master.registry.worker(node), target.helloAccepted else {
            ctx.log.error(tag: "Local \(name)", subtag: "D API", "Cannot forward a distributed API request to \(node): no such node is connected.")
            return .err(.cluster(3022))
        }
        let body = Array("\(name) ".utf8) + json
        link.tasks.spawn {
            if let e = await Self.sendExpectingOK(target.link, "dapi", body) {
                await Self.deliver(.error(e.description), to: link, prefix: nil)
            }
        }
        return .ok("Request forwarded to worker node")
    }

    // MARK: answers

    /// `dapi_res "<id> <string id>"` / `dapi_err "<id> <text>"` arriving on a node link: the answer of a
    /// request this node forwarded (`id` is waiting), or of a local client's request (`id` is its name),
    /// passed on to it. 3032 when it is neither.
    func answerReceived(_ message: WireMessage, on link: PeerLink) async -> Reply {
        let (id, rest) = splitFirstSpace(message.payload)
        let isError = message.name == "dapi_err"
        if pending.contains(id) {
            let outcome: DapiOutcome
            if isError {
                outcome = .exception(Self.errorOutcome(rest))
            } else if let string = await link.takeString(String(decoding: rest, as: UTF8.self)) {
                outcome = await Self.decodeOffloaded(string, pool: ctx.pool)
            } else {
                outcome = .exception(.cluster(3035, String(decoding: rest, as: UTF8.self)))
            }
            _ = pending.resolve(id, outcome)
            return .ok("Forwarded response")
        }
        guard let local = await clients.link(id) else { return .err(.cluster(3032, id)) }
        if isError {
            local.tasks.spawn { await Self.deliver(.error(String(decoding: rest, as: UTF8.self)), to: local, prefix: nil) }
            return .ok("DAPI error forwarded to worker")
        }
        guard let result = await link.takeString(String(decoding: rest, as: UTF8.self)) else {
            return .err(.cluster(3035, String(decoding: rest, as: UTF8.self)))
        }
        local.tasks.spawn { await Self.deliver(.result(result), to: local, prefix: nil) }
        return .ok(isMaster ? "Forwarded response" : "Response forwarded to worker")
    }

    /// A `dapi_err` text: an encoded exception, or plain text (3009 with it).
    static func errorOutcome(_ bytes: [UInt8]) -> WazuhException {
        let e = WazuhException.parse(payload: bytes)
        if e.code == 3000, e.kind == .clusterError { return .cluster(3009, String(decoding: bytes, as: UTF8.self)) }
        return e
    }

    /// Large answers are decoded on the CPU pool.
    static func decodeOffloaded(_ bytes: [UInt8], pool: CPUPool) async -> DapiOutcome {
        if bytes.count < 256 << 10 { return DapiOutcome.decode(bytes) }
        return (try? await pool.run { DapiOutcome.decode(bytes) }) ?? DapiOutcome.decode(bytes)
    }
}
