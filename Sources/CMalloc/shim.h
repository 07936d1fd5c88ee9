#include <malloc.h>

/* glibc declares syncfs only under _GNU_SOURCE. */
int syncfs(int fd);

/* Likewise sync_file_range (fcntl.h, _GNU_SOURCE); the flag is the kernel's value. */
int sync_file_range(int fd, long long offset, long long nbytes, unsigned int flags);
#define CLUSTERD_SYNC_FILE_RANGE_WRITE 2
