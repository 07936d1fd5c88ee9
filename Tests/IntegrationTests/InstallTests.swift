import Foundation
import Testing

/// `make install` and `make uninstall` into a DESTDIR, with the programs of the build the tests run from
/// (BINARIES_FROM: no second, release build inside `make test`).
@Suite struct InstallTests {
    static let programs = ["clusterd", "cluster_control", "cluster-api", "integrity-scan", "frame-dump", "agent-sim"]
    static let units = ["clusterd.service", "cluster-api.service"]
    /// The command lines the units run, for PREFIX=/usr and the default WAZUH_HOME.
    static let execStart = [
        "clusterd.service": "/usr/bin/clusterd -f --home /var/ossec",
        "cluster-api.service": "/usr/bin/cluster-api serve --home /var/ossec",
    ]

    /// `make -C <package root> args...`. The variables of an outer `make test` (MAKEFLAGS carries its
    /// command-line assignments to sub-makes) and install variables set in the environment are dropped,
    /// so the install goes where `args` say and nowhere else.
    static func make(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        var env = ProcessInfo.processInfo.environment
        for name in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS", "PREFIX", "DESTDIR", "BINDIR",
                     "MANDIR", "UNITDIR", "WAZUH_HOME", "BINARIES_FROM", "INSTALL_SWIFT_FLAGS", "SWIFT_FLAGS"] {
            env[name] = nil
        }
        return try runProgram("/usr/bin/env", ["make", "--no-print-directory", "-C", Harness.packageRoot.path] + args,
                              environment: env)!
    }

    /// Every path under `dir` (relative to it) that is not a directory.
    static func nonDirectories(under dir: String) -> [String] {
        guard let walk = FileManager.default.enumerator(atPath: dir) else { return [] }
        var found: [String] = []
        while let rel = walk.nextObject() as? String {
            var st = stat()
            if lstat(dir + "/" + rel, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR { found.append(rel) }
        }
        return found.sorted()
    }

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    static func sameBytes(_ a: String, _ b: String) throws -> Bool {
        try runProgram("/usr/bin/env", ["cmp", "-s", a, b])!.status == 0
    }

    /// `name` found in PATH, or nil.
    static func which(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The man pages `make install` must install: every `man/<name>.<section>` of the package.
    static func manPages() throws -> [(name: String, section: String)] {
        let dir = Harness.packageRoot.appendingPathComponent("man").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().compactMap { name in
            guard let dot = name.lastIndex(of: "."), name[name.index(after: dot)...].allSatisfy(\.isNumber),
                  dot < name.index(before: name.endIndex) else { return nil }
            return (name, String(name[name.index(after: dot)...]))
        }
    }

    /// The executable targets of Package.swift, with whether they are benchmarks or test tools (their
    /// sources under Benchmarks/ or Tools/), which are not installed.
    static func executableTargets() throws -> [(name: String, internalTool: Bool)] {
        let text = try String(contentsOf: Harness.packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        var found: [(String, Bool)] = []
        var rest = text[...]
        while let start = rest.range(of: ".executableTarget(") {
            // The target's argument list: up to the parenthesis that closes it.
            var depth = 1, end = start.upperBound
            while depth > 0, end < rest.endIndex {
                if rest[end] == "(" { depth += 1 } else if rest[end] == ")" { depth -= 1 }
                end = rest.index(after: end)
            }
            let body = rest[start.upperBound..<end]
            if let n = body.range(of: "name: \""), let close = body[n.upperBound...].firstIndex(of: "\"") {
                found.append((String(body[n.upperBound..<close]),
                              body.contains("path: \"Benchmarks/") || body.contains("path: \"Tools/")))
            }
            rest = rest[end...]
        }
        return found
    }

    @Test func installedProgramsAreTheExecutableTargetsExceptBenchmarksAndTestTools() throws {
        let targets = try Self.executableTargets()
        #expect(targets.count > Self.programs.count, "parsed \(targets) from Package.swift")
        #expect(Set(targets.filter { !$0.internalTool }.map(\.name)) == Set(Self.programs))
    }

    @Test func installLaysOutTheTreeAndUninstallRemovesIt() throws {
        let base = Harness.tempDir("install")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let stage = base + "/stage"
        let vars = ["DESTDIR=\(stage)", "PREFIX=/usr"]
        let install = try Self.make(["install", "BINARIES_FROM=\(Harness.binDir)"] + vars)
        try #require(install.status == 0, "make install failed:\n\(install.out)\(install.err)")

        var expected: [String] = []
        for p in Self.programs {
            let path = stage + "/usr/bin/" + p
            expected.append("usr/bin/" + p)
            #expect(Self.mode(path) == 0o755, "\(path)")
            #expect(try Self.sameBytes(path, Harness.binDir + "/" + p), "\(path) is not the built \(p)")
        }
        let pages = try Self.manPages()
        #expect(pages.count >= 6)
        for page in pages {
            let rel = "usr/share/man/man\(page.section)/\(page.name)"
            expected.append(rel)
            #expect(Self.mode(stage + "/" + rel) == 0o644, "\(rel)")
            #expect(try Self.sameBytes(stage + "/" + rel, Harness.packageRoot.appendingPathComponent("man/" + page.name).path))
        }
        for unit in Self.units {
            let rel = "usr/lib/systemd/system/" + unit
            expected.append(rel)
            #expect(Self.mode(stage + "/" + rel) == 0o644, "\(rel)")
            let text = try String(contentsOfFile: stage + "/" + rel, encoding: .utf8)
            let lines = text.split(separator: "\n")
            #expect(lines.filter { $0.hasPrefix("ExecStart=") }.map(String.init) == ["ExecStart=" + Self.execStart[unit]!], "\(unit)")
            #expect(lines.contains("ReadWritePaths=/var/ossec"), "\(unit)")
            #expect(lines.contains("Type=simple"), "\(unit)")
            #expect(!text.contains(/@[A-Z_]+@/), "\(unit) keeps a template placeholder")
        }
        // Exactly these files: nothing else under DESTDIR.
        #expect(Self.nonDirectories(under: stage) == expected.sorted())

        // The units' command lines are ones the installed programs accept: clusterd's checks a node home
        // (-t) with the unit's flags, cluster-api's has the `serve` subcommand with --home.
        let home = try Harness.makeHome(.init(name: "installed", type: "master", port: Harness.freePort()), in: base)
        let check = try runProgram(stage + "/usr/bin/clusterd", ["-f", "--home", home, "-t"])!
        #expect(check.status == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("configuration OK"), "\(check.out)")
        let serveHelp = try runProgram(stage + "/usr/bin/cluster-api", ["serve", "--help"])!
        #expect(serveHelp.status == 0 && serveHelp.out.contains("--home"), "\(serveHelp.out)\(serveHelp.err)")

        try Self.verifyUnits(stage: stage, scratch: base + "/verify")

        let uninstall = try Self.make(["uninstall"] + vars)
        #expect(uninstall.status == 0, "make uninstall failed:\n\(uninstall.out)\(uninstall.err)")
        #expect(Self.nonDirectories(under: stage) == [], "left behind by make uninstall")
    }

    /// `systemd-analyze verify` on the installed units, when the command exists.
    ///
    /// It checks that each ExecStart= program exists and is executable at its path on this host, and it
    /// looks up every `Documentation=man:` page with `man`. The staged units name /usr/bin/..., which is
    /// not on this host, and `--root=DESTDIR` does not help: the binaries would be found, but not the
    /// units they depend on (sysinit.target, network-online.target...), which DESTDIR does not hold. So
    /// the check runs on copies whose ExecStart= points into DESTDIR (the only change; the lines were
    /// checked above), with MANPATH on DESTDIR's man pages so the documentation is the installed one.
    static func verifyUnits(stage: String, scratch: String) throws {
        guard let analyze = which("systemd-analyze") else {
            print("InstallTests: systemd-analyze verify skipped: systemd-analyze is not installed (the systemd package)")
            return
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var paths: [String] = []
        for unit in units {
            let text = try String(contentsOfFile: stage + "/usr/lib/systemd/system/" + unit, encoding: .utf8)
            let copy = text.replacingOccurrences(of: "\nExecStart=/usr/bin/", with: "\nExecStart=\(stage)/usr/bin/")
            #expect(copy != text)
            try copy.write(toFile: scratch + "/" + unit, atomically: true, encoding: .utf8)
            paths.append(scratch + "/" + unit)
        }
        var env = ProcessInfo.processInfo.environment
        var args = ["verify"]
        if which("man") != nil {
            env["MANPATH"] = stage + "/usr/share/man"
        } else {
            print("InstallTests: systemd-analyze verify runs with --man=no: man is not installed")
            args.append("--man=no")
        }
        let r = try runProgram(analyze, args + paths, environment: env)!
        // Warnings (an unknown key, a bad value) do not change the status: any line about our units fails too.
        let ours = (r.out + r.err).split(separator: "\n").filter { line in
            units.contains { line.contains($0) } || line.contains(scratch)
        }
        #expect(r.status == 0 && ours.isEmpty, "systemd-analyze verify:\n\(r.out)\(r.err)")
    }

    /// Small stand-in programs: what is installed does not matter here, only where.
    static func fakeBuild(in dir: String, except missing: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for p in programs where p != missing {
            try "#!/bin/sh\necho \(p)\n".write(toFile: dir + "/" + p, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/" + p)
        }
    }

    @Test func destdirInstallWritesNothingOutsideIt() throws {
        let base = Harness.tempDir("install-destdir")
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Self.fakeBuild(in: base + "/build")
        // A PREFIX this test may write: an install that ignored DESTDIR anywhere would create it.
        let prefix = base + "/live", stage = base + "/stage"
        let vars = ["DESTDIR=\(stage)", "PREFIX=\(prefix)", "WAZUH_HOME=/srv/node1"]
        let r = try Self.make(["install", "BINARIES_FROM=\(base)/build"] + vars)
        try #require(r.status == 0, "\(r.out)\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: prefix))
        #expect(Self.nonDirectories(under: stage).allSatisfy { ("/" + $0).hasPrefix(prefix + "/") })
        #expect(FileManager.default.fileExists(atPath: stage + prefix + "/bin/clusterd"))
        let unit = try String(contentsOfFile: stage + prefix + "/lib/systemd/system/clusterd.service", encoding: .utf8)
        #expect(unit.contains("\nExecStart=\(prefix)/bin/clusterd -f --home /srv/node1\n"))
        #expect(unit.contains("\nReadWritePaths=/srv/node1\n"))
        let u = try Self.make(["uninstall"] + vars)
        #expect(u.status == 0, "\(u.out)\(u.err)")
        #expect(!FileManager.default.fileExists(atPath: prefix))
        #expect(Self.nonDirectories(under: stage) == [])
    }

    @Test func aRefusedInstallNamesTheProblemAndWritesNothing() throws {
        let base = Harness.tempDir("install-refused")
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Self.fakeBuild(in: base + "/build", except: "agent-sim")
        let stage = base + "/stage"
        let missing = try Self.make(["install", "BINARIES_FROM=\(base)/build", "DESTDIR=\(stage)", "PREFIX=/usr"])
        #expect(missing.status != 0)
        #expect(missing.err.contains("no executable 'agent-sim'"), "\(missing.err)")
        #expect(!FileManager.default.fileExists(atPath: stage))

        try Self.fakeBuild(in: base + "/build")
        let spaced = try Self.make(["install", "BINARIES_FROM=\(base)/build", "DESTDIR=\(stage)", "BINDIR=/opt/my tools"])
        #expect(spaced.status != 0)
        #expect(spaced.err.contains("BINDIR='/opt/my tools'"), "\(spaced.err)")
        let relative = try Self.make(["install", "BINARIES_FROM=\(base)/build", "DESTDIR=\(stage)", "WAZUH_HOME=var/ossec"])
        #expect(relative.status != 0)
        #expect(relative.err.contains("WAZUH_HOME='var/ossec' is not an absolute path"), "\(relative.err)")
        #expect(!FileManager.default.fileExists(atPath: stage))
    }
}
