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
        // glibc gives threads up to 8 arenas per core, each holding its own free space and fragments: a
        // master of 8 threads had 6 arenas of 6-10 MB each in the soak. One arena per core is enough for a
        // daemon whose threads are about as many as its cores times three.
        _ = mallopt(M_ARENA_MAX, Int32(max(2, min(64, sysconf(Int32(_SC_NPROCESSORS_ONLN))))))
        #endif
    }

    /// Gives the free memory of every malloc arena back to the system (`malloc_trim`). With the thresholds
    /// above, glibc keeps up to 128 MB free per arena, and a daemon whose rounds run on several threads
    /// grows by each arena's high-water mark (the 30-minute soak of 20,000 agents: the master from 88 to 170
    /// MB, then flat). The nodes call this once per integrity round (seconds apart), so buffers are still
    /// reused within a round and resident memory follows what is live between rounds. The master also calls
    /// it after each worker's agent-info round, whose strings are the largest transient it holds.
    public static func releaseFreeMemory() {
        #if canImport(Glibc)
        if getenv("CLUSTERD_MALLOC_DEFAULTS") != nil { return }
        _ = malloc_trim(0)
        #endif
    }
}
