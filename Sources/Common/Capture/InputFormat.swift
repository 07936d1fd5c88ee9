/// What the input is. Detected from its first four bytes unless the user says.
public enum InputFormat: String, Sendable, CaseIterable {
    case auto, pcap, pcapng, raw

    /// pcap magic (either byte order, micro or nano), pcapng section header, otherwise a raw byte
    /// stream of one direction of cluster traffic (which starts with a frame's counter).
    public static func detect(_ first4: [UInt8]) -> InputFormat {
        if PcapngReader.matches(first4) { return .pcapng }
        if PcapReader.matches(first4) { return .pcap }
        return .raw
    }
}
