import ArgumentParser
import Foundation

/// `frame-dump`: shows the messages of Wazuh cluster traffic, from a capture or live through a proxy.
@main
struct FrameDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frame-dump",
        abstract: "Decode Wazuh cluster traffic (port 1516 or the local socket) into messages.",
        usage: """
            frame-dump [--key KEY | --key-file FILE] [--json] [--payload] [--port N] [--format FORMAT] FILE|-
            frame-dump proxy --listen HOST:PORT --to HOST:PORT [--key KEY] [--json] [--payload]
            frame-dump faults --listen HOST:PORT --to HOST:PORT --control PATH [--fault FAULT]
            """,
        discussion: """
            Reads a pcap or pcapng capture, or a raw byte stream of one direction of a cluster \
            connection, and prints one line per message in time order: time, sender → receiver, \
            counter, command, divided flag, bytes on the wire, plaintext bytes and a payload preview. \
            Responses are marked with the request they answer.

            With --key (the 32-character <key> of the <cluster> block) payloads are decrypted; without \
            it, encrypted payloads are shown as Fernet tokens. Use `frame-dump proxy` to watch a live \
            connection. All options: `frame-dump decode --help`, `frame-dump proxy --help`, and \
            frame-dump(1).

            Exit status: 0 when everything decoded, 1 when decoding stopped on truncated or damaged \
            data (the byte offset is reported on stderr), 2 on a usage or input/output error.
            """,
        subcommands: [DecodeCommand.self, ProxyCommand.self, FaultsCommand.self],
        defaultSubcommand: DecodeCommand.self
    )

    /// ArgumentParser exits 64 on usage errors; frame-dump documents 2, like most Unix tools.
    static func main() {
        Signals.restoreTerminationDefaults()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as ExitCode {
            Output.flush()
            Foundation.exit(exit.rawValue)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))  // --help, --version
                Foundation.exit(ExitStatus.ok)
            }
            Output.error(fullMessage(for: error))
            Foundation.exit(ExitStatus.usage)
        }
    }
}

/// Exit statuses (documented in frame-dump(1)).
enum ExitStatus {
    static let ok: Int32 = 0
    static let decodeStopped: Int32 = 1
    static let usage: Int32 = 2
}
