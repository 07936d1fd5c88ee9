extension WazuhErrorCatalogue {
    /// Agents and groups (1700s).
    static let agentCodes: [Int: Entry] = [
        1701: Entry("Agent does not exist", "Please, use `GET /agents?select=id,name` to find all available agents"),
    ]
}
