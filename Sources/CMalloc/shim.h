#include <malloc.h>

/* glibc declares syncfs only under _GNU_SOURCE. */
int syncfs(int fd);
