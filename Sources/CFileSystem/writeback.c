// sync_file_range and syncfs are GNU extensions: glibc declares them only under _GNU_SOURCE, which
// Swift's Glibc module does not set, hence this small C target.
#define _GNU_SOURCE
#include <fcntl.h>
#include "CFileSystem.h"

int cfs_start_writeback(int fd) {
#if defined(__linux__)
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    return 0;
#endif
}
