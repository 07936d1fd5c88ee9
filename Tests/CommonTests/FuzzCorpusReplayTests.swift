import Foundation
import Testing

/// The fuzz harnesses (Fuzz/, `make fuzz`) as a normal build makes them: each replays its committed seed
/// corpus and the inputs a fuzzer once crashed on (Tests/Fixtures/fuzz/<target>/) through the entry
/// point libFuzzer calls, without sanitizers. A harness traps on a broken invariant, so a regression in
/// a parser, or a harness that no longer builds or runs, fails here without a fuzzing run.
@Suite struct FuzzCorpusReplayTests {
    static let targets = ["fuzz-wire", "fuzz-fernet", "fuzz-container", "fuzz-zip", "fuzz-json", "fuzz-config",
                          "fuzz-pcap", "fuzz-pcapng", "fuzz-dapi", "fuzz-local"]

    @Test(arguments: targets) func replaysItsCorpus(_ target: String) throws {
        let corpus = TestPaths.packageRoot.appendingPathComponent("Fuzz/corpus/\(target)").path
        let seeds = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(seeds.count >= 5, "\(target) has \(seeds.count) seeds")
        var inputs = [corpus]
        let regressions = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/fuzz/\(target)").path
        if FileManager.default.fileExists(atPath: regressions) { inputs.append(regressions) }
        let result = try run(TestPaths.tool(target), inputs)
        #expect(result.status == 0, "\(target): \(result.stderr.suffix(2000))")
        let total = try inputs.map { try FileManager.default.contentsOfDirectory(atPath: $0).count }.reduce(0, +)
        #expect(result.stdoutText == "\(target): \(total) inputs, no crash\n")
    }

    @Test func aHarnessWithoutInputsSaysHowToUseIt() throws {
        let result = try run(TestPaths.tool("fuzz-json"), [])
        #expect(result.status == 2)
        #expect(result.stderr.contains("usage: fuzz-json FILE|DIR..."))
    }
}
