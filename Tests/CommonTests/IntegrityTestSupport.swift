import Common
import Foundation
import Testing

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return (0..<count).map { _ in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

struct ProcessResult {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program to completion, feeding `stdin` and collecting both outputs.
func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil,
         directory: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    // Drain both pipes concurrently so a large output cannot block the child.
    let errBox = DataBox()
    let done = DispatchSemaphore(value: 0)
    let errHandle = err.fileHandleForReading
    Thread {
        errBox.data = errHandle.readDataToEndOfFile()
        done.signal()
    }.start()
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    done.wait()
    return ProcessResult(status: process.terminationStatus, stdout: Array(outData),
                         stderr: String(decoding: errBox.data, as: UTF8.self))
}

/// Written by the stderr reader thread, read after it signals.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}

enum IntegrityPaths {
    /// The package root, found from this file's path (Tests/CommonTests/<file>).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The debug build of the tool (`swift build --build-tests` builds it with the tests).
    static var tool: String { packageRoot + "/.build/debug/integrity-scan" }

    static func fixture(_ name: String) throws -> [UInt8] {
        try Array(Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/wazuh-4.8.1/" + name)))
    }
}
