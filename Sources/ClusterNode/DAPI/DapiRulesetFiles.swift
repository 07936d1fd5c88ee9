import Common
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File work shared by the rule, decoder and CDB list functions: listing, reading, checked names, atomic
/// writes.
enum DapiRulesetFiles {
    /// The files of `dirs` (relative to `home`, recursively, shallower first, then by path), optionally only `.xml` ones,
    /// as `{filename, relative_dirname}` pairs. A missing directory lists nothing.
    static func list(home: String, dirs: [String], xmlOnly: Bool, skip: (String) -> Bool = { _ in false }) -> [(filename: String, dir: String)] {
        var out: [(String, String)] = []
        for dir in dirs {
            let base = home + "/" + dir
            guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
            var found: [String] = []
            while let rel = walker.nextObject() as? String {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: base + "/" + rel, isDirectory: &isDir), !isDir.boolValue else { continue }
                let name = (rel as NSString).lastPathComponent
                if xmlOnly && !name.hasSuffix(".xml") { continue }
                if skip(name) { continue }
                found.append(rel)
            }
            // A directory's files before its subdirectories' (a top-down walk), names sorted.
            let depth = { (p: String) in p.split(separator: "/").count }
            for rel in found.sorted(by: { depth($0) != depth($1) ? depth($0) < depth($1) : $0 < $1 }) {
                let sub = (rel as NSString).deletingLastPathComponent
                out.append(((rel as NSString).lastPathComponent, sub.isEmpty ? dir : dir + "/" + sub))
            }
        }
        return out
    }

    /// A file name a user may upload or delete: one path component, not `.`/`..`, no NUL; with `xml`, ending
    /// in `.xml`. 4.8.1's API rejects other names before the framework runs (its path parameter formats);
    /// here the framework-side check answers `WazuhError` 1801 "Wrong 'path' parameter" naming the file.
    static func checkName(_ name: String, xml: Bool) throws(WazuhException) {
        let bad = name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\0")
            || name.contains("..") || (xml && (!name.hasSuffix(".xml") || name.count <= 4))
        if bad { throw WazuhException.error(1801, name) }
    }

    /// `relative_dirname` of an upload or delete: only the user directory (trailing `/` ignored); clusterd
    /// does not serve other `<rule_dir>`/`<decoder_dir>` entries. Anything else: 1801.
    static func checkUserDir(_ given: String?, user: String) throws(WazuhException) {
        guard let given else { return }
        var d = given
        while d.hasSuffix("/") { d.removeLast() }
        if d != user { throw WazuhException.error(1801, given) }
    }

    /// Errors that become failed items (`WazuhError` and its subclasses); others abort the call.
    static func isItemError(_ e: WazuhException) -> Bool {
        e.kind == .error || e.kind == .resourceNotFound || e.kind == .permissionError
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// A write of one file (`relative`): `body` does it; the file is the affected item, or the failed one
    /// when `body` throws an item error (other errors abort the call).
    static func singleFile(_ relative: String, allMsg: String, noneMsg: String, _ body: () throws -> Void) throws -> DapiOutcome {
        var result = AffectedItems(allMsg: allMsg, noneMsg: noneMsg)
        do {
            try body()
            result.affectedItems = [.string(relative)]
        } catch let e as WazuhException where isItemError(e) {
            result.addFailed(id: relative, error: e)
        }
        result.totalAffectedItems = result.affectedItems.count
        return .affected(result)
    }

    /// Removes a user file: 1906 when there is none, 1907 when it cannot be removed.
    static func removeUserFile(home: String, relative: String) throws(WazuhException) {
        let path = home + "/" + relative
        guard exists(path) else { throw WazuhException.error(1906) }
        if unlink(path) != 0 { throw WazuhException.error(1907) }
    }

    static func readText(_ path: String) throws(SystemCallError) -> String {
        String(decoding: try FileIO.readAll(path: path), as: UTF8.self)
    }

    /// Writes `content` to `path` through a temporary file in the same directory, then `rename`: readers
    /// (and the integrity scan) see the old file or the new one, never half of it. Mode 0660, as the
    /// cluster items give these files.
    static func writeAtomically(_ path: String, _ content: String) throws(SystemCallError) {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = dir + "/.\((path as NSString).lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o660)
        if fd < 0 { throw SystemCallError("open", path: tmp, errno: errno) }
        let bytes = Array(content.utf8)
        do throws(SystemCallError) {
            let written: Result<Void, SystemCallError> = bytes.withUnsafeBytes { raw in
                do throws(SystemCallError) { try FileIO.writeAll(fd: fd, raw, path: tmp); return .success(()) } catch { return .failure(error) }
            }
            try written.get()
            if fsync(fd) != 0 { throw SystemCallError("fsync", path: tmp, errno: errno) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        close(fd)
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw SystemCallError("rename", path: path, errno: e)
        }
    }

    /// XML well-formedness as Wazuh ruleset files need it: several top-level elements are allowed (4.8.1
    /// parses the content inside a `<root>` element); tags must nest and close, attributes be quoted;
    /// comments, processing instructions and CDATA are skipped. Returns a problem description, or nil.
    static func xmlProblem(_ text: String) -> String? {
        let s = Array(text.utf8)
        var i = 0, stack: [[UInt8]] = []
        func line() -> Int { s[..<min(i, s.count)].filter { $0 == 0x0A }.count + 1 }
        func skip(past end: [UInt8]) -> Bool {
            while i + end.count <= s.count {
                if Array(s[i..<i + end.count]) == end { i += end.count; return true }
                i += 1
            }
            return false
        }
        while i < s.count {
            guard s[i] == UInt8(ascii: "<") else { i += 1; continue }
            let rest = s[i...]
            if rest.starts(with: Array("<!--".utf8)) {
                i += 4
                if !skip(past: Array("-->".utf8)) { return "unclosed comment: line \(line())" }
            } else if rest.starts(with: Array("<![CDATA[".utf8)) {
                i += 9
                if !skip(past: Array("]]>".utf8)) { return "unclosed CDATA section: line \(line())" }
            } else if rest.starts(with: Array("<?".utf8)) || rest.starts(with: Array("<!".utf8)) {
                i += 2
                if !skip(past: [UInt8(ascii: ">")]) { return "unclosed markup: line \(line())" }
            } else {
                let closing = i + 1 < s.count && s[i + 1] == UInt8(ascii: "/")
                i += closing ? 2 : 1
                let start = i
                while i < s.count, !" \t\r\n/>".utf8.contains(s[i]) { i += 1 }
                let name = Array(s[start..<i])
                if name.isEmpty { return "not well-formed (invalid token): line \(line())" }
                var quote: UInt8? = nil, selfClosing = false
                while i < s.count {
                    let c = s[i]
                    if let q = quote { if c == q { quote = nil } }
                    else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { quote = c }
                    else if c == UInt8(ascii: "<") { return "not well-formed (invalid token): line \(line())" }
                    else if c == UInt8(ascii: ">") { selfClosing = i > 0 && s[i - 1] == UInt8(ascii: "/"); break }
                    i += 1
                }
                if i >= s.count { return "unclosed token: line \(line())" }
                i += 1
                if closing {
                    guard let open = stack.popLast(), open == name else { return "mismatched tag: line \(line())" }
                } else if !selfClosing {
                    stack.append(name)
                }
            }
        }
        if !stack.isEmpty { return "no element found: line \(line())" }
        return nil
    }
}
