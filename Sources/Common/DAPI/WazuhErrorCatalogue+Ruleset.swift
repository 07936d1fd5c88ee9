extension WazuhErrorCatalogue {
    /// Rules, decoders and CDB lists files.
    static let rulesetCodes: [Int: Entry] = [:]
}
