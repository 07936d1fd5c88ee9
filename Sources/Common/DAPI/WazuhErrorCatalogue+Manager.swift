extension WazuhErrorCatalogue {
    /// Manager and cluster node information, logs, uploaded files (4.8.1's texts).
    static let managerCodes: [Int: Entry] = [
        1005: Entry("Error reading file", "Please, ensure you have the right file permissions in Wazuh directories"),
        1020: Entry("Could not find any Wazuh log file", "Please check `WAZUH_HOME/logs`"),
        1112: Entry("Empty files are not supported", "Please, provide another file"),
        1113: Entry("XML syntax error", "Please, ensure file content has correct XML"),
        1407: Entry("Query does not match expected format"),
        1905: Entry("File could not be updated, it already exists", "Please, provide a different file or set overwrite=True to overwrite actual file"),
        1906: Entry("File does not exist", "Please, provide a different file or make sure provided file path is correct"),
        1907: Entry("File could not be deleted", "Please, ensure you have the right file permissions"),
    ]
}
