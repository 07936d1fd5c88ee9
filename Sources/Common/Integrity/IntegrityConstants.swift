/// cluster.json `intervals.communication` values that shape integrity packages (PROTOCOL.md §5.6, §11).
/// They are identical in every Wazuh tag from 4.8.1 to 4.14.7, so they are constants here, not settings.
public enum IntegrityConstants {
    /// `max_zip_size`: the package limit a sender starts from, and the most a receiver decompresses.
    public static let maxZipSize = 1_073_741_824
    /// `min_zip_size`: the floor a sender's limit shrinks to after a cancelled transfer.
    public static let minZipSize = 31_457_280
    /// `compress_level`: zlib / deflate level of package entries.
    public static let compressLevel = 1
    /// `zip_limit_tolerance`: shrink and grow factor of the sender's limit.
    public static let zipLimitTolerance = 0.2
    /// Name of the metadata entry, always at the root of a package.
    public static let metadataEntryName = "files_metadata.json"
}
