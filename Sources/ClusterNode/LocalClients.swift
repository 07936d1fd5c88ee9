import Common

/// The local socket's connected clients by their random names, so replies relayed from the master
/// (`sendsyn_res`, `dapi_res`, ...) reach the right one.
actor LocalClients {
    private var clients: [String: PeerLink] = [:]

    /// Registers a link under a fresh random name in 0..<2^20.
    func register(_ link: PeerLink) -> String {
        var name: String
        repeat { name = String(Int.random(in: 0..<(1 << 20))) } while clients[name] != nil
        clients[name] = link
        return name
    }

    func unregister(_ name: String) { clients[name] = nil }

    func link(_ name: String) -> PeerLink? { clients[name] }
}

/// Delivers a SendSync result to a local client as a request (`ok` + the daemon's reply, or `err`),
/// the way a C daemon waits for it. Nothing answers that request, so its timeout is ignored.
func deliverSendSync(_ result: Result<[UInt8], WazuhException>, to link: PeerLink, timeout: Double) {
    link.tasks.spawn {
        switch result {
        case .success(let reply): _ = try? await link.request("ok", reply, timeout: timeout)
        case .failure(let e): _ = try? await link.request("err", Array(e.description.utf8), timeout: timeout)
        }
    }
}
