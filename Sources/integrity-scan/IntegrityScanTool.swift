import ArgumentParser
import Common

/// `integrity-scan`: what a node hashes and ships in integrity sync, offline.
struct IntegrityScanTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "integrity-scan",
        abstract: "Hash a Wazuh-style node home, compare two nodes, build and inspect integrity packages.",
        discussion: """
            Without a subcommand, scans a node home like a worker does before integrity sync and prints \
            one line per file, "<BLAKE2b-512 hex>  <path>" (b2sum format; `cd HOME && integrity-scan | \
            b2sum -c` checks it). --json prints the metadata object a worker sends, --jsonl one file per line.

            Exit status: 0 success or no differences, 1 differences (diff) or unreadable files (scan), \
            2 error. See integrity-scan(1).
            """,
        version: "0.1.0",
        subcommands: [ScanCommand.self, DiffCommand.self, PackCommand.self, UnpackCommand.self],
        defaultSubcommand: ScanCommand.self)
}
