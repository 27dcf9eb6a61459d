/*
 * nsutil: the namespace and mount system calls of ucri's pod set-up and teardown, done in one small process
 * instead of several util-linux ones (unshare, nsenter + ip, one umount per pin).
 *
 *   nsutil pin [--net FILE] [--ipc FILE] [--uts FILE] [--hostname NAME]
 *       unshare(2) the named namespaces, set the hostname in the new UTS namespace, bring `lo` up in the new
 *       network namespace, and bind-mount each /proc/self/ns/<kind> onto its FILE (which must exist). The
 *       binds are made last, so a failure before them leaves no pin behind; a failure between two binds
 *       leaves the earlier ones, which the caller removes (as it does after a failed `unshare`).
 *   nsutil unmount [--lazy] [--once] PATH...
 *       umount2(2) every PATH (MNT_DETACH with --lazy), each until nothing is mounted there any more (a path
 *       over-mounted several times is left bare), or once with --once. A PATH that is not a mount point or
 *       does not exist is fine.
 *   nsutil serve
 *       A long-lived mount helper for the daemon (pkg/sys/mount-server.ts), so that the hot paths make no
 *       fork/exec per mount. Reads requests on stdin, one at a time, and answers each on stdout, in order:
 *         request:  4-byte little-endian length N, then N bytes of NUL-terminated fields:
 *                     "mount" SOURCE TARGET FSTYPE FLAGS DATA CWD   (FSTYPE, DATA, CWD may be empty;
 *                                                                     FLAGS is mount(2)'s, in decimal;
 *                                                                     CWD: where relative paths in DATA resolve)
 *                     "umount" TARGET FLAGS                          (umount2(2) once)
 *                     "pin" NET IPC UTS HOSTNAME                     (`nsutil pin` in a forked child: each
 *                                                                     empty field is not pinned/not set)
 *         answer:   one line "ERRNO MESSAGE\n", ERRNO 0 on success (the call's errno otherwise; for "pin" the
 *                   MESSAGE names the failed call and path).
 *       "pin" forks rather than unsharing in place: serve keeps the daemon's namespaces whatever happens to
 *       the child, and the daemon pays no exec of a new nsutil per pod. Requests queue behind it meanwhile.
 *       Exits 0 at end of input (the daemon closed the pipe or died), 2 on a malformed request.
 *   nsutil cgroup1-view PROGRAM [ARG...]
 *       Execs PROGRAM (an absolute path) with ARGs in a mount namespace of its own in which the cgroup2 mount
 *       of a hybrid host, /sys/fs/cgroup/unified, is detached, so that PROGRAM sees a host with cgroup v1
 *       controllers only. This is how ucri runs crun on hybrid hosts: crun up to at least 1.8 refuses to place
 *       a container in cgroups when the hybrid host's cgroup2 hierarchy holds any controller (hugetlb, here).
 *       The subtree at /sys/fs/cgroup is made private first, in this namespace only, so that the detach is
 *       not propagated to the host; every other mount keeps the host's propagation, so mounts made later on
 *       the host still reach the container and a bidirectional volume still reaches the host. The namespace
 *       lives as long as PROGRAM: the container's own mount namespace, copied from it, outlives it.
 *
 * Exit status 0 on success; 1 with a message naming the call and path on stderr; 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what, const char *arg) {
  int err = errno;
  fprintf(stderr, "nsutil: %s %s: %s\n", what, arg ? arg : "", strerror(err));
  errno = err;
  return 1;
}

static int usage(void) {
  fputs("usage: nsutil pin [--net FILE] [--ipc FILE] [--uts FILE] [--hostname NAME]\n"
        "       nsutil unmount [--lazy] [--once] PATH...\n"
        "       nsutil serve\n"
        "       nsutil cgroup1-view PROGRAM [ARG...]\n",
        stderr);
  return 2;
}

static int loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", "lo");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
    close(fd);
    return fail("SIOCGIFFLAGS", "lo");
  }
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
    close(fd);
    return fail("SIOCSIFFLAGS", "lo");
  }
  close(fd);
  return 0;
}

static int do_pin(const char *const files[3], const char *hostname);

static int pin(int argc, char **argv) {
  const char *files[3] = {0, 0, 0};
  static const char *const kinds[3] = {"net", "ipc", "uts"};
  const char *hostname = 0;
  for (int i = 0; i < argc; i++) {
    if (i + 1 >= argc) return usage();
    const char *opt = argv[i], *val = argv[++i];
    int k = -1;
    for (int j = 0; j < 3; j++)
      if (opt[0] == '-' && opt[1] == '-' && strcmp(opt + 2, kinds[j]) == 0) k = j;
    if (k >= 0)
      files[k] = val;
    else if (strcmp(opt, "--hostname") == 0)
      hostname = val;
    else
      return usage();
  }
  if ((!files[0] && !files[1] && !files[2]) || (hostname && !files[2])) return usage();
  return do_pin(files, hostname);
}

/* files: net, ipc, uts (0: not pinned). 0 on success; 1 with errno set and a message on stderr. */
static int do_pin(const char *const files[3], const char *hostname) {
  static const char *const kinds[3] = {"net", "ipc", "uts"};
  static const int flags[3] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
  int unshare_flags = 0;
  for (int j = 0; j < 3; j++)
    if (files[j]) unshare_flags |= flags[j];
  if (unshare(unshare_flags) < 0) return fail("unshare", "");
  if (hostname && sethostname(hostname, strlen(hostname)) < 0) return fail("sethostname", hostname);
  if (files[0] && loopback_up() != 0) return 1;
  for (int j = 0; j < 3; j++) {
    if (!files[j]) continue;
    char src[64];
    snprintf(src, sizeof src, "/proc/self/ns/%s", kinds[j]);
    if (mount(src, files[j], 0, MS_BIND, 0) < 0) return fail("bind mount", files[j]);
  }
  return 0;
}

static int unmount_all(int argc, char **argv) {
  int flags = 0, times = 8, i = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--lazy") == 0)
      flags = MNT_DETACH;
    else if (strcmp(argv[i], "--once") == 0)
      times = 1;
    else
      return usage();
  }
  if (i >= argc) return usage();
  int status = 0;
  for (; i < argc; i++) {
    /* Over-mounted several times (a retried create): unmount until bare; bounded like the caller's loop. */
    for (int n = 0; n < times; n++) {
      if (umount2(argv[i], flags) == 0) continue;
      if (errno != EINVAL && errno != ENOENT) status = fail("umount", argv[i]);
      break;
    }
  }
  return status;
}

/* Reads exactly n bytes; 0 at a clean end of input before the first byte, -1 on error or a cut-off read. */
static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got == 0 && r == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

static int answer_msg(int err, const char *msg) {
  char line[512];
  int n = snprintf(line, sizeof line, "%d %s\n", err, msg);
  if (n < 0) return -1;
  if (n >= (int)sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  /* One line per answer whatever the message holds. */
  for (int i = 0; i < n - 1; i++)
    if (line[i] == '\n') line[i] = ' ';
  for (int off = 0; off < n;) {
    ssize_t w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (int)w;
  }
  return 0;
}

static int answer(int err) { return answer_msg(err, err ? strerror(err) : "ok"); }

/*
 * "pin" in a child, so that serve itself never changes namespace. The child's stderr is a pipe whose text
 * (naming the failed call) becomes the answer's message; its exit status is the errno (0: pinned).
 */
static int serve_pin(char **f) {
  const char *files[3] = {f[1][0] ? f[1] : 0, f[2][0] ? f[2] : 0, f[3][0] ? f[3] : 0};
  const char *hostname = f[4][0] ? f[4] : 0;
  if ((!files[0] && !files[1] && !files[2]) || (hostname && !files[2])) return answer(EINVAL);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return answer(errno);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(p[0]);
    close(p[1]);
    return answer(err);
  }
  if (pid == 0) {
    if (dup2(p[1], STDERR_FILENO) < 0) _exit(EIO);
    errno = 0;
    int rc = do_pin(files, hostname);
    _exit(rc == 0 ? 0 : errno > 0 && errno < 256 ? errno : EIO);
  }
  close(p[1]);
  char msg[400];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(p[0], msg + got, sizeof msg - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (got == sizeof msg - 1) break;
  }
  close(p[0]);
  msg[got] = 0;
  while (got > 0 && msg[got - 1] == '\n') msg[--got] = 0;
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return answer(errno);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return answer(0);
  int err = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
  if (got == 0) snprintf(msg, sizeof msg, "nsutil: pin child ended with status %d", status);
  return answer_msg(err, msg);
}

/* Splits buf (len bytes, NUL-terminated fields) into at most max fields; returns the count, -1 if malformed. */
static int split_fields(char *buf, uint32_t len, char **fields, int max) {
  int n = 0;
  for (uint32_t i = 0; i < len;) {
    if (n == max) return -1;
    fields[n++] = buf + i;
    char *end = memchr(buf + i, 0, len - i);
    if (!end) return -1;
    i = (uint32_t)(end - buf) + 1;
  }
  return n;
}

static int serve_one(char **f, int n) {
  if (n == 7 && strcmp(f[0], "mount") == 0) {
    char *endp;
    unsigned long flags = strtoul(f[4], &endp, 10);
    if (*f[4] == 0 || *endp != 0) return -1;
    if (f[6][0] && chdir(f[6]) < 0) return answer(errno);
    int rc = mount(f[1], f[2], f[3][0] ? f[3] : 0, flags, f[5][0] ? f[5] : 0);
    int err = rc < 0 ? errno : 0;
    if (f[6][0] && chdir("/") < 0) return -1;
    return answer(err);
  }
  if (n == 3 && strcmp(f[0], "umount") == 0) {
    char *endp;
    long flags = strtol(f[2], &endp, 10);
    if (*f[2] == 0 || *endp != 0) return -1;
    return answer(umount2(f[1], (int)flags) < 0 ? errno : 0);
  }
  if (n == 5 && strcmp(f[0], "pin") == 0) return serve_pin(f);
  return -1;
}

static int serve(void) {
  /* Dies with the daemon even if the pipe were inherited elsewhere; answers go to a pipe it may close. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  if (chdir("/") < 0) return fail("chdir", "/");
  static char buf[65536];
  for (;;) {
    unsigned char hdr[4];
    int r = read_full(STDIN_FILENO, hdr, 4);
    if (r == 0) return 0;
    if (r < 0) return fail("read", "request");
    uint32_t len = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    if (len == 0 || len > sizeof buf || read_full(STDIN_FILENO, buf, len) != 1) {
      fputs("nsutil serve: malformed request\n", stderr);
      return 2;
    }
    char *fields[8];
    int n = split_fields(buf, len, fields, 8);
    if (n < 0 || serve_one(fields, n) < 0) {
      fputs("nsutil serve: malformed request or closed answer pipe\n", stderr);
      return 2;
    }
  }
}

static int cgroup1_view(char **argv) {
  if (!argv[0] || argv[0][0] != '/') return usage();
  if (unshare(CLONE_NEWNS) < 0) return fail("unshare", "mount namespace");
  if (mount(NULL, "/sys/fs/cgroup", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return fail("make-rprivate", "/sys/fs/cgroup");
  if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
    return fail("umount", "/sys/fs/cgroup/unified");
  }
  execv(argv[0], argv);
  return fail("exec", argv[0]);
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  if (strcmp(argv[1], "pin") == 0) return pin(argc - 2, argv + 2);
  if (strcmp(argv[1], "unmount") == 0) return unmount_all(argc - 2, argv + 2);
  if (strcmp(argv[1], "serve") == 0 && argc == 2) return serve();
  if (strcmp(argv[1], "cgroup1-view") == 0 && argc >= 3) return cgroup1_view(argv + 2);
  return usage();
}
