import ArgumentParser
import ClusterAPI
import Common
import Foundation
import NIOSSL

@main
struct ClusterAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-api",
        abstract: "A Wazuh-compatible REST API front for a clusterd node.",
        discussion: """
            Serves the Wazuh API's endpoints on HTTPS (port 55000 by default). Every request becomes one \
            distributed-API request on the node's local socket NODE_HOME/queue/cluster/c-internal.sock, solved \
            by the cluster on the node that can answer it. Users and their bcrypt hashes are kept in \
            NODE_HOME/etc/cluster-api/users.json (see `cluster-api user`; the master's reaches its clusterd \
            workers with the integrity sync); tokens are JWTs that every node of the \
            cluster accepts. Settings come from NODE_HOME/api/configuration/api.yaml.
            """,
        subcommands: [Serve.self, User.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the API (the default).")

    @Option(name: .long, help: ArgumentHelp("Node home directory.", valueName: "NODE_HOME"))
    var home = "/var/ossec"
    @Option(name: .long, help: "Address to listen on (default: api.yaml's host, or 0.0.0.0).")
    var host: String?
    @Option(name: .long, help: "Port to listen on (default: api.yaml's port, or 55000; 0 picks a free one).")
    var port: Int?
    @Flag(name: .long, help: "Plain HTTP instead of HTTPS (for tests on loopback).")
    var http = false
    @Flag(name: .long, help: "Mirror api.log lines to standard error.")
    var verbose = false

    func run() async throws {
        let config: APIConfiguration
        let cluster: ClusterConfig
        do {
            config = try APIConfiguration.load(home: home)
            cluster = try ClusterConfigLoader.load(home: home)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let log: APILog
        do { log = try APILog(home: home, level: config.logLevel, mirrorToStderr: verbose) } catch {
            printError("cannot open \(home)/logs/api.log: \(error)")
            throw ExitCode(1)
        }
        do {
            // A worker's users file comes from the master; the default user is made where users are managed.
            if cluster.nodeType != .worker, let password = try APIUsers.ensureDefaultUser(home: home) {
                print("Created the API user 'wazuh' with password: \(password)")
                print("(shown once; change it with: cluster-api user passwd --home \(home) wazuh)")
            }
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        var settings = APIAuth.Settings()
        settings.tokenLifetime = config.tokenLifetime
        settings.maxLoginAttempts = config.maxLoginAttempts
        settings.blockTime = config.blockTime
        let auth: APIAuth
        do { auth = try APIAuth(home: home, clusterKey: cluster.key, settings: settings, now: { Date().timeIntervalSince1970 }) } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        var tls: TLSConfiguration?
        if config.httpsEnabled && !http {
            let key = config.sslPath(config.httpsKey, home: home), cert = config.sslPath(config.httpsCert, home: home)
            do {
                if try APICertificate.ensure(keyPath: key, certPath: cert, hostnames: [ProcessInfo.processInfo.hostName, "localhost"]) {
                    log.info("Generated a self-signed certificate: \(cert)")
                }
                tls = try APICertificate.serverConfiguration(keyPath: key, certPath: cert)
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
        let server = APIServer(home: home, configuration: config, auth: auth, log: log)
        let host = self.host ?? config.host
        do {
            try await server.run(host: host, port: port ?? config.port, tls: tls) { actual in
                log.info("Serving on \(host):\(actual)")
            }
        } catch {
            printError("cannot serve on \(host):\(port ?? config.port): \(error)")
            throw ExitCode(1)
        }
    }
}

struct User: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage API users (NODE_HOME/etc/cluster-api/users.json).",
        discussion: "Run on the master: the users file reaches the workers with the integrity sync.",
        subcommands: [Add.self, Passwd.self, Del.self, List.self])

    struct Options: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Node home directory.", valueName: "NODE_HOME"))
        var home = "/var/ossec"
    }

    /// Users are managed on the master; a worker's file is replaced by the master's at the next sync.
    static func warnOnWorker(_ home: String) {
        if let c = try? ClusterConfigLoader.load(home: home), c.nodeType == .worker, !c.disabled {
            printError("warning: \(home) is a worker: its users file is replaced by the master's at the next integrity sync; manage users on the master")
        }
    }

    static func password(_ given: String?) throws -> String {
        if let given { return given }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("give the password with --password or on standard input")
        }
        return line
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @OptionGroup var options: Options
        @Argument(help: "User name.") var name: String
        @Option(name: .long, help: "Password (default: read a line from standard input).") var password: String?
        func run() throws {
            User.warnOnWorker(options.home)
            do { try APIUsers.add(home: options.home, name: name, password: try User.password(password)) } catch let e as ValidationError { throw e } catch {
                printError("\(error)"); throw ExitCode(1)
            }
            print("User '\(name)' added.")
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's password.")
        @OptionGroup var options: Options
        @Argument(help: "User name.") var name: String
        @Option(name: .long, help: "New password (default: read a line from standard input).") var password: String?
        func run() throws {
            User.warnOnWorker(options.home)
            do { try APIUsers.setPassword(home: options.home, name: name, password: try User.password(password)) } catch let e as ValidationError { throw e } catch {
                printError("\(error)"); throw ExitCode(1)
            }
            print("Password of '\(name)' changed.")
        }
    }

    struct Del: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user.")
        @OptionGroup var options: Options
        @Argument(help: "User name.") var name: String
        func run() throws {
            User.warnOnWorker(options.home)
            do { try APIUsers.delete(home: options.home, name: name) } catch { printError("\(error)"); throw ExitCode(1) }
            print("User '\(name)' deleted.")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var options: Options
        func run() throws {
            do { for n in try APIUsers.names(home: options.home) { print(n) } } catch { printError("\(error)"); throw ExitCode(1) }
        }
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data("cluster-api: \(s)\n".utf8))
}
