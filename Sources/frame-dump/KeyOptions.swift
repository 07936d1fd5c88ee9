import ArgumentParser
import Common
import Foundation

/// How the cluster key is given. Shared by both subcommands.
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Cluster key (the 32-character <key> of ossec.conf's <cluster> block, or its base64 Fernet form) used to decrypt payloads.",
        valueName: "KEY"))
    var key: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp(
        "Read the cluster key from the first line of FILE (keeps it out of the process list).",
        valueName: "FILE"))
    var keyFile: String?

    func validate() throws {
        if key != nil && keyFile != nil { throw ValidationError("give --key or --key-file, not both") }
        _ = try fernet()
    }

    /// The Fernet for the key, or nil when none was given.
    func fernet() throws -> Fernet? {
        var text = key
        if let keyFile {
            guard let contents = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                throw ValidationError("cannot read key file \(keyFile)")
            }
            text = String(contents.split(whereSeparator: \.isNewline).first ?? "")
        }
        guard let text else { return nil }
        if text.utf8.count == 44, let fernet = try? Fernet(base64Key: text) { return fernet }
        do {
            return try Fernet(clusterKey: text)
        } catch {
            throw ValidationError("invalid --key: \(error)")
        }
    }
}

/// How messages are printed. Shared by both subcommands.
struct PrintOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON Lines (one object per message) instead of text.")
    var json = false

    @Flag(name: .long, help: "Print the whole payload on text lines instead of a 60-character preview.")
    var payload = false

    var formatter: MessageFormatter {
        MessageFormatter(style: json ? .json : .text(fullPayload: payload))
    }
}
