#ifndef CFILESYSTEM_H
#define CFILESYSTEM_H

/// Starts writing `fd`'s dirty pages to its device without waiting for them (Linux sync_file_range with
/// SYNC_FILE_RANGE_WRITE; a no-op returning 0 elsewhere). Not a durability guarantee: a later fsync or
/// syncfs still decides that, it just finds less to write. Returns 0 or -1 with errno.
int cfs_start_writeback(int fd);

/// syncfs(2): flushes the file system holding `fd` (glibc declares it only under _GNU_SOURCE).
int syncfs(int fd);

#endif
