/*
 * attach-relay: a client of conmon's attach socket, which Node cannot open (it is SOCK_SEQPACKET).
 *
 *   attach-relay SOCKET_PATH
 *
 * Each packet conmon sends is one byte naming the stream (2 stdout, 3 stderr) and the data; we write it
 * to fd 1 preceded by its length as a 16-bit big-endian number, so packet boundaries survive the pipe.
 * Bytes on fd 0 go to the container's stdin, at most one conmon buffer per packet; end of fd 0
 * half-closes the socket (conmon then closes a `stdin_once` container's stdin). We exit when conmon
 * closes the socket (the container exited) or fd 1 is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "write-all.h"

#define CONMON_BUF 8192

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: attach-relay SOCKET_PATH\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* Bundle paths can exceed sun_path: connect relative to the socket's directory. */
  char *dup1 = strdup(argv[1]), *dup2 = strdup(argv[1]);
  if (!dup1 || !dup2 || chdir(dirname(dup1)) < 0) {
    fprintf(stderr, "cannot reach %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  const char *base = basename(dup2);
  if (strlen(base) >= sizeof addr.sun_path) return 1;
  strcpy(addr.sun_path, base);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    fprintf(stderr, "cannot connect to attach socket %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  close(2);

  int in_open = 1;
  char buf[CONMON_BUF + 3];
  for (;;) {
    struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = recv(s, buf + 2, CONMON_BUF + 1, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return 0;
      buf[0] = (char)((r >> 8) & 0xff);
      buf[1] = (char)(r & 0xff);
      if (write_all(1, buf, (size_t)r + 2) < 0) return 0;
    }
    if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(0, buf, CONMON_BUF);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        in_open = 0;
        shutdown(s, SHUT_WR);
      } else if (send(s, buf, (size_t)r, 0) < 0) {
        return 0;
      }
    }
  }
}
