/* Shared by the native helpers: a write that finishes the whole buffer or fails. */
#ifndef UCRI_WRITE_ALL_H
#define UCRI_WRITE_ALL_H
#include <errno.h>
#include <unistd.h>

/* Writes all `n` bytes of `buf` to `fd`, retrying short writes and EINTR; -1 on failure. */
static inline int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}
#endif
