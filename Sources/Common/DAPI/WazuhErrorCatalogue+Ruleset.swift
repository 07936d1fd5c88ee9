extension WazuhErrorCatalogue {
    /// Rules, decoders and CDB lists files (4.8.1's texts).
    static let rulesetCodes: [Int: Entry] = [
        1413: Entry("Error reading rules file"),
        1414: Entry("Error reading rules file", "Please, make sure you have read permissions over the file"),
        1415: Entry("Rules file not found", "Please, use GET /rules/files to list all available rules"),
        1501: Entry("Error reading decoders file"),
        1502: Entry("Error reading decoders file", "Please, make sure you have read permissions on the file"),
        1503: Entry("Decoders file not found", "Please, use GET /decoders/files to list all available decoders"),
        1800: Entry("Bad format in CDB list {path}"),
        1801: Entry("Wrong 'path' parameter", "Please, provide a correct path"),
        1802: Entry("Lists file not found", "Please, use `GET /lists/files` to find all available lists"),
        1803: Entry("Error reading lists file", "Please, make sure you have read permissions over the file"),
        1804: Entry("Error reading lists file", "Please, make sure you provide a correct filepath"),
        1805: Entry("File with the same name already exists in a subdirectory.", "Please, make sure to use a name which is not repeated. "),
        1806: Entry("Error trying to create CDB list file."),
    ]
}
