import Common
import Foundation
import Testing

/// A temporary directory removed when the value is released, so parallel tests never share files.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/integrity-test.XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Creates a file (and its directories) with the given bytes.
    @discardableResult
    func write(_ relative: String, _ content: [UInt8]) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: full, contents: Data(content)))
        return full
    }

    @discardableResult
    func write(_ relative: String, _ text: String) -> String { write(relative, Array(text.utf8)) }

    func makeDirectory(_ relative: String) {
        try! FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    func read(_ relative: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path + "/" + relative).map { Array($0) }
    }

    /// Every path below the directory (files, directories and links), relative and sorted.
    func listing(_ relative: String = "") -> [String] {
        let base = relative.isEmpty ? path : path + "/" + relative
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        return (e.allObjects as? [String] ?? []).sorted()
    }
}

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
