import ArgumentParser
import Common

/// `frame-dump [options] FILE|-`: decode a capture or raw stream.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a capture file or raw stream (the default subcommand).",
        discussion: """
            FILE is a pcap (micro- or nanosecond, either byte order) or pcapng capture, or a raw byte \
            stream of one direction of a cluster connection; the first bytes tell which. `-` reads \
            stdin, so `tcpdump -w - port 1516 | frame-dump --key KEY -` decodes live.
            """
    )

    @OptionGroup var keyOptions: KeyOptions
    @OptionGroup var printOptions: PrintOptions

    @Option(name: .long, help: ArgumentHelp("Decode TCP connections with this port at either end.", valueName: "N"))
    var port: UInt16 = 1516

    @Option(name: .long, help: ArgumentHelp(
        "Input format: auto (from the first bytes), pcap, pcapng or raw.", valueName: "FORMAT"))
    var format: InputFormat = .auto

    @Argument(help: ArgumentHelp("Capture file or raw stream; - for stdin.", valueName: "FILE|-"))
    var file: String

    func run() throws {
        let options = CaptureDecoder.Options(fernet: try keyOptions.fernet(), port: port, format: format)
        let source: ByteSource
        do {
            source = file == "-" ? FileDescriptorByteSource(fileDescriptor: 0, name: "stdin")
                : try FileDescriptorByteSource(path: file)
        } catch {
            Output.error(error.description)
            throw ExitCode(ExitStatus.usage)
        }
        let formatter = printOptions.formatter
        let decoder = CaptureDecoder(options: options)
        // A pipe is shown live; a file is flushed in large blocks.
        let live = file == "-"
        decoder.onMessage = { Output.line(formatter.line($0), flush: live) }
        decoder.onWarning = { Output.warning($0) }
        decoder.onStop = { stream, stop in
            Output.error("\(stream == "-" ? (file == "-" ? "stdin" : file) : stream): \(stop)")
        }
        let summary: CaptureDecoder.Summary
        do {
            summary = try decoder.run(source)
        } catch {
            Output.error(error.description)
            throw ExitCode(error.isIOError ? ExitStatus.usage : ExitStatus.decodeStopped)
        }
        Output.flush()
        if summary.stops > 0 { throw ExitCode(ExitStatus.decodeStopped) }
    }
}

extension InputFormat: ExpressibleByArgument {}
