#if canImport(Glibc)
import CMalloc
import Glibc
#endif

/// Process-wide allocator settings for tools that move multi-megabyte messages.
///
/// glibc serves allocations above its mmap threshold with a fresh mmap and returns them with munmap, so
/// every 5 MiB frame, token and plaintext buffer would be page-faulted in anew: measured, that halves the
/// decode throughput of the wire codec. Raising the mmap and trim thresholds lets freed buffers be reused
/// from the heap. Memory still returns to the system above the trim threshold.
public enum MemoryTuning {
    public static func apply() {
        #if canImport(Glibc)
        if getenv("CLUSTERD_MALLOC_DEFAULTS") != nil { return }
        _ = mallopt(M_MMAP_THRESHOLD, 64 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 128 << 20)
        #endif
    }
}
