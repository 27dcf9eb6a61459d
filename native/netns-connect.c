/*
 * netns-connect: opens a TCP connection to the loopback of a network namespace and relays it.
 *
 *   netns-connect NETNS_FILE PORT
 *
 * Enters the namespace pinned at NETNS_FILE, connects to 127.0.0.1:PORT (then [::1]:PORT), and relays
 * fd 0 → socket and socket → fd 1, each direction until its end (end of fd 0 half-closes the socket).
 * Success is told by closing fd 2 once connected; on failure fd 2 carries the reason and the exit status
 * is 1. Node cannot enter a namespace itself (setns needs a single-threaded process), hence this helper;
 * it replaces what other runtimes need socat on the host for.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "write-all.h"

static int try_connect(int family, int port) {
  int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int rc;
  if (family == AF_INET) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(s, (struct sockaddr *)&a, sizeof a);
  } else {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port)};
    a.sin6_addr = in6addr_loopback;
    rc = connect(s, (struct sockaddr *)&a, sizeof a);
  }
  if (rc < 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: netns-connect NETNS_FILE PORT\n");
    return 2;
  }
  char *end;
  long port = strtol(argv[2], &end, 10);
  if (*end || port < 1 || port > 65535) {
    fprintf(stderr, "invalid port %s\n", argv[2]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int ns = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
    fprintf(stderr, "cannot enter network namespace %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  close(ns);
  int s = try_connect(AF_INET, (int)port);
  if (s < 0) {
    int e4 = errno;
    s = try_connect(AF_INET6, (int)port);
    if (s < 0) {
      fprintf(stderr, "cannot connect to port %ld in the pod: %s\n", port, strerror(e4));
      return 1;
    }
  }
  close(2);

  int in_open = 1, out_open = 1;
  char buf[65536];
  while (out_open) {
    struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(s, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return 3; /* reset by the target: the whole connection ends */
      if (r == 0) {
        out_open = 0;
        close(1);
      } else if (write_all(1, buf, (size_t)r) < 0) {
        return 3;
      }
    }
    if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        in_open = 0;
        shutdown(s, SHUT_WR);
      } else if (write_all(s, buf, (size_t)r) < 0) {
        return 3;
      }
    }
  }
  /* The target closed its side; keep sending what the client still sends until it ends too. */
  while (in_open) {
    ssize_t r = read(0, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || write_all(s, buf, (size_t)r) < 0) break;
  }
  return 0;
}
