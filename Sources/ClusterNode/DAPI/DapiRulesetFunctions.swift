import Common
import Foundation

/// `wazuh.rule`, `wazuh.decoder` and `wazuh.cdb_list` file functions (LOCAL-DAPI-CONTROL.md §4: GET
/// /rules/files, /decoders/files, /lists/files and GET/PUT/DELETE of one file). Reads cover the default
/// ruleset directory (`ruleset/rules`, `ruleset/decoders`, when the node has one) and the user one
/// (`etc/rules`, `etc/decoders`, `etc/lists`); writes only touch the user directory, on the master (the
/// calls are `local_master`), and the integrity task then spreads them to the workers.
///
/// Not parsed here: ossec.conf's `<ruleset>` (every listed file is `status: enabled`), and XML contents for
/// `raw=false` reads (those answer `WazuhError` 1000 saying so; the API's `raw=true` reads are served).
enum DapiRulesetFunctions {
    static let table: [DapiEntry] = [
        DapiEntry("wazuh.rule", "get_rules_files", .blocking({ try rules.listFiles($0) })),
        DapiEntry("wazuh.rule", "get_rule_file", .blocking({ try rules.getFile($0) })),
        DapiEntry("wazuh.rule", "upload_rule_file", .blocking({ try rules.upload($0) })),
        DapiEntry("wazuh.rule", "delete_rule_file", .blocking({ try rules.delete($0) })),
        DapiEntry("wazuh.decoder", "get_decoders_files", .blocking({ try decoders.listFiles($0) })),
        DapiEntry("wazuh.decoder", "get_decoder_file", .blocking({ try decoders.getFile($0) })),
        DapiEntry("wazuh.decoder", "upload_decoder_file", .blocking({ try decoders.upload($0) })),
        DapiEntry("wazuh.decoder", "delete_decoder_file", .blocking({ try decoders.delete($0) })),
        DapiEntry("wazuh.cdb_list", "get_path_lists", .blocking({ try DapiListFunctions.getPathLists($0) })),
        DapiEntry("wazuh.cdb_list", "get_list_file", .blocking({ try DapiListFunctions.getListFile($0) })),
        DapiEntry("wazuh.cdb_list", "upload_list_file", .blocking({ try DapiListFunctions.upload($0) })),
        DapiEntry("wazuh.cdb_list", "delete_list_file", .blocking({ try DapiListFunctions.delete($0) })),
    ]

    /// Rules and decoders differ only in directories, messages and codes.
    struct XMLKind: Sendable {
        var defaultDir: String
        var userDir: String
        var listMsgs: (all: String, some: String, none: String)
        var getMsgs: (all: String, none: String)
        var uploadMsgs: (all: String, none: String)
        var deleteMsgs: (all: String, none: String)
        /// Not found, XML error, read error.
        var notFound: Int, xmlError: Int, readError: Int

        func listFiles(_ call: DapiCall) throws -> DapiOutcome {
            var result = AffectedItems(allMsg: listMsgs.all, someMsg: listMsgs.some, noneMsg: listMsgs.none)
            var items = files(call.env.home)
            if let names = try call.stringList("filename") { items = items.filter { names.contains($0.filename) } }
            if let dir = try call.string("relative_dirname") { items = items.filter { $0.dir == dir } }
            if let status = try call.string("status"), status != "all", status != "enabled" { items = [] }
            let query = try DapiItemQuery(call)
            let json: [JSONValue] = items.map {
                .object(JSONObject([("filename", .string($0.filename)), ("relative_dirname", .string($0.dir)), ("status", "enabled")]))
            }
            (result.affectedItems, result.totalAffectedItems) = try query.apply(to: json)
            return .affected(result)
        }

        func files(_ home: String) -> [(filename: String, dir: String)] {
            DapiRulesetFiles.list(home: home, dirs: [defaultDir, userDir], xmlOnly: true)
        }

        /// The file named `filename` (in `relative_dirname` when given; else the one with the shortest
        /// directory), as an absolute path.
        func locate(_ home: String, _ filename: String, _ dir: String?) -> String? {
            var d = dir
            while d?.hasSuffix("/") == true { d?.removeLast() }
            let hits = files(home).filter { $0.filename == filename && (d == nil || d!.isEmpty || $0.dir == d!) }
            guard let best = hits.min(by: { $0.dir.count < $1.dir.count }) else { return nil }
            return home + "/" + best.dir + "/" + filename
        }

        func getFile(_ call: DapiCall) throws -> DapiOutcome {
            var result = AffectedItems(allMsg: getMsgs.all, noneMsg: getMsgs.none)
            let filename = try call.string("filename") ?? ""
            let raw = try call.bool("raw") ?? false
            guard let path = locate(call.env.home, filename, try call.string("relative_dirname")) else {
                result.addFailed(id: filename, error: .error(notFound, filename))
                return .affected(result)
            }
            let content: String
            do { content = try DapiRulesetFiles.readText(path) } catch {
                result.addFailed(id: filename, error: .error(readError, filename))
                return .affected(result)
            }
            if let problem = DapiRulesetFiles.xmlProblem(content) {
                if raw { return .result(WazuhResultValue(JSONObject([("message", .string(content))]))) }
                result.addFailed(id: filename, error: .error(xmlError, "\(filename): \(problem)"))
                return .affected(result)
            }
            guard raw else {
                throw WazuhException.error(1000, "clusterd serves \(filename) with raw=true only; the XML-to-JSON form is not implemented")
            }
            return .result(WazuhResultValue(JSONObject([("message", .string(content))])))
        }

        func upload(_ call: DapiCall) throws -> DapiOutcome {
            let filename = try call.string("filename") ?? ""
            let content = try call.string("content") ?? ""
            let overwrite = try call.bool("overwrite") ?? false
            let relative = userDir + "/" + filename
            let dir = try call.string("relative_dirname")
            return try DapiRulesetFiles.singleFile(relative, allMsg: uploadMsgs.all, noneMsg: uploadMsgs.none) {
                try DapiRulesetFiles.checkUserDir(dir, user: userDir)
                try DapiRulesetFiles.checkName(filename, xml: true)
                if content.isEmpty { throw WazuhException.error(1112) }
                if let problem = DapiRulesetFiles.xmlProblem(content) { throw WazuhException.error(1113, problem) }
                let path = call.env.home + "/" + relative
                if !overwrite && DapiRulesetFiles.exists(path) { throw WazuhException.error(1905) }
                do throws(SystemCallError) { try DapiRulesetFiles.writeAtomically(path, content) } catch {
                    throw WazuhException.error(1005, "\(relative): \(error.reason)")
                }
            }
        }

        func delete(_ call: DapiCall) throws -> DapiOutcome {
            let filename = try call.stringList("filename")?.first ?? ""
            let relative = userDir + "/" + filename
            let dir = try call.string("relative_dirname")
            return try DapiRulesetFiles.singleFile(relative, allMsg: deleteMsgs.all, noneMsg: deleteMsgs.none) {
                try DapiRulesetFiles.checkUserDir(dir, user: userDir)
                try DapiRulesetFiles.checkName(filename, xml: true)
                try DapiRulesetFiles.removeUserFile(home: call.env.home, relative: relative)
            }
        }
    }

    static let rules = XMLKind(
        defaultDir: "ruleset/rules", userDir: "etc/rules",
        listMsgs: ("All rules files were returned", "Some rules files were not returned", "No rules files were returned"),
        getMsgs: ("Selected rule was returned", "No rule was returned"),
        uploadMsgs: ("Rule was successfully uploaded", "Could not upload rule"),
        deleteMsgs: ("Rule was successfully deleted", "Could not delete rule"),
        notFound: 1415, xmlError: 1413, readError: 1414)

    static let decoders = XMLKind(
        defaultDir: "ruleset/decoders", userDir: "etc/decoders",
        listMsgs: ("All decoders files were returned", "Some decoders files were not returned", "No decoders files were returned"),
        getMsgs: ("Selected decoder was returned", "No decoder was returned"),
        uploadMsgs: ("Decoder was successfully uploaded", "Could not upload decoder"),
        deleteMsgs: ("Decoder file was successfully deleted", "Could not delete decoder file"),
        notFound: 1503, xmlError: 1501, readError: 1502)
}
