extension WazuhErrorCatalogue {
    /// Manager and cluster node information.
    static let managerCodes: [Int: Entry] = [:]
}
