import Common
import Foundation
import Testing

/// The agent database a node of a test runs on.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// The embedded SQLite store (`queue/db/global.db` opened by clusterd).
    case embedded
    /// wazuh-db over `queue/db/wdb`, served by `wdb-sim` over the same file; clusterd finds the socket
    /// and picks the wazuh-db backend by itself (`agent_database.backend` "auto").
    case wazuhDB = "wazuh-db"

    var testDescription: String { rawValue }
}

/// A running `wdb-sim` for one node home (started before the node, so the node finds the socket).
final class WdbSim: @unchecked Sendable {
    let home: String
    let nodeName: String
    let extraArgs: [String]
    private(set) var process = Process()
    let outputPath: String

    init(home: String, nodeName: String, worker: Bool, extraArgs: [String] = []) throws {
        self.home = home
        self.nodeName = nodeName
        self.extraArgs = (worker ? ["--sync-keys"] : []) + extraArgs
        outputPath = home + "/wdb-sim.log"
        try FileManager.default.createDirectory(atPath: home + "/queue/db", withIntermediateDirectories: true)
        try start(self.extraArgs)
    }

    private func start(_ args: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.binDir + "/wdb-sim")
        process.arguments = ["--home", home, "--node-name", nodeName] + args
        if !FileManager.default.fileExists(atPath: outputPath) { _ = FileManager.default.createFile(atPath: outputPath, contents: nil) }
        let out = FileHandle(forWritingAtPath: outputPath)!
        out.seekToEndOfFile()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        let before = log.components(separatedBy: "listening on").count
        try process.run()
        let ready = waitUntil(20) { self.log.components(separatedBy: "listening on").count > before || !self.process.isRunning }
        guard ready, process.isRunning else {
            throw Harness.StartupFailure(description: "wdb-sim did not start for \(home):\n\(log.suffix(1000))")
        }
    }

    /// wazuh-db coming back after a crash or restart: a new process on the same socket and file.
    func restart(extraArgs: [String]? = nil) throws {
        stop()
        try start(extraArgs ?? self.extraArgs.filter { $0 == "--sync-keys" })
    }

    var log: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
