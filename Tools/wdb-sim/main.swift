// wdb-sim: a stand-in for wazuh-db for the tests and benchmarks. It serves wazuh-db's socket protocol
// (PROTOCOL.md §6.1: 4-byte little-endian length + text, answers "ok|due|err <payload>") on
// <home>/queue/db/wdb over the embedded store at <home>/queue/db/global.db, so a node with the wazuh-db
// backend runs the same scenarios as one with the embedded store. The `global` commands the cluster and
// the framework send are served (see AgentStore.wazuhDB); pages stay under wazuh-db's 64 KiB ceiling.
//
//   wdb-sim --home <dir> --node-name <name> [--sync-keys] [--crash-after-due-pages N]
//
// --sync-keys               do wazuh-modulesd's part on a worker: keep the table in step with etc/client.keys
// --crash-after-due-pages N exit (status 3) without answering the first sync-agent-info-get that follows
//                           N "due" answers: wazuh-db dying in the middle of an agent-info round
// Every command is logged to stderr (first 120 characters) with its answer's status.
import Common
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Options: Sendable {
    var home = ""
    var nodeName = ""
    var syncKeys = false
    var crashAfterDuePages: Int?

    static func usage(_ problem: String) -> Never {
        FileHandle.standardError.write(Data("wdb-sim: \(problem)\nusage: wdb-sim --home <dir> --node-name <name> [--sync-keys] [--crash-after-due-pages N]\n".utf8))
        exit(2)
    }

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var args = arguments[...]
        while let a = args.popFirst() {
            switch a {
            case "--home": guard let v = args.popFirst() else { usage("--home needs a directory") }; options.home = v
            case "--node-name": guard let v = args.popFirst() else { usage("--node-name needs a name") }; options.nodeName = v
            case "--sync-keys": options.syncKeys = true
            case "--crash-after-due-pages":
                guard let n = args.popFirst().flatMap(Int.init), n >= 0 else { usage("--crash-after-due-pages needs a count") }
                options.crashAfterDuePages = n
            case "-h", "--help": usage("help")
            default: usage("unknown argument \(a)")
            }
        }
        guard !options.home.isEmpty, !options.nodeName.isEmpty else { usage("--home and --node-name are required") }
        return options
    }
}

final class Server: Sendable {
    let options: Options
    let store: AgentStore
    let socketPath: String
    let logLock = Mutex(())
    /// wazuh-db's answer ceiling: OS_MAXSTR less the command reserve.
    let maxResponse = 65_536 - 512
    let dueAnswers = Mutex(0)

    init(_ options: Options) {
        self.options = options
        do { store = try AgentStore.open(home: options.home, nodeName: options.nodeName) } catch {
            FileHandle.standardError.write(Data("wdb-sim: \(error)\n".utf8))
            exit(1)
        }
        socketPath = WazuhDBClient.socketPath(home: options.home)
    }

    func note(_ line: String) {
        logLock.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    func answer(_ query: String) -> String {
        guard query.hasPrefix("global ") else { return "err Invalid DB query syntax, near '\(query.prefix(20))'" }
        let isInfoGet = query.hasPrefix("global sync-agent-info-get")
        if isInfoGet, let limit = options.crashAfterDuePages, dueAnswers.withLock({ $0 }) >= limit {
            note("crashing before answering \(query.prefix(60)) (--crash-after-due-pages \(limit))")
            _exit(3)
        }
        let reply = store.wazuhDB(query, maxResponseBytes: maxResponse)
        if isInfoGet, reply.hasPrefix("due") { dueAnswers.withLock { $0 += 1 } }
        return reply
    }

    func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            got += n
        }
        return buffer
    }

    func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    func serve(_ fd: Int32) {
        defer { close(fd) }
        while let head = readExactly(fd, 4) {
            let length = Int(UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24)
            guard length <= 1 << 24, let body = readExactly(fd, length) else { return }
            let query = String(decoding: body, as: UTF8.self)
            let reply = answer(query)
            note("\(query.prefix(120)) -> \(reply.prefix(3)) (\(reply.utf8.count) bytes)")
            let bytes = Array(reply.utf8)
            guard writeAll(fd, withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { Array($0) } + bytes) else { return }
        }
    }

    /// wazuh-modulesd's client.keys watch on a worker (LOCAL-DAPI-CONTROL.md §5.2 step 4).
    func watchKeys() {
        let path = options.home + "/etc/client.keys"
        var last: (Int, Int, UInt64) = (-2, 0, 0)
        while true {
            var st = stat()
            let stamp: (Int, Int, UInt64) = stat(path, &st) == 0
                ? (Int(st.st_size), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec), UInt64(st.st_ino)) : (-1, 0, 0)
            if stamp != last, stamp.0 >= 0, let text = try? String(contentsOfFile: path, encoding: .utf8),
               let r = try? store.loadClientKeys(ClientKeys.parse(text)) {
                note("client.keys loaded: \(r.inserted) added, \(r.deleted) removed")
                last = stamp
            }
            usleep(100_000)
        }
    }

    func run() -> Never {
        unlink(socketPath)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { Options.usage("socket path too long: \(socketPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            FileHandle.standardError.write(Data("wdb-sim: cannot listen on \(socketPath): \(String(cString: strerror(errno)))\n".utf8))
            exit(1)
        }
        chmod(socketPath, 0o660)
        signal(SIGPIPE, SIG_IGN)
        if options.syncKeys { Thread { self.watchKeys() }.start() }
        note("listening on \(socketPath)")
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { if errno == EINTR { continue }; exit(1) }
            Thread { self.serve(fd) }.start()
        }
    }
}

// A test runner may start us with signals blocked or ignored (both are inherited): SIGTERM must stop us.
var unblocked = sigset_t()
sigemptyset(&unblocked)
sigprocmask(SIG_SETMASK, &unblocked, nil)
signal(SIGTERM, SIG_DFL)
signal(SIGINT, SIG_DFL)
Server(Options.parse(Array(CommandLine.arguments.dropFirst()))).run()
