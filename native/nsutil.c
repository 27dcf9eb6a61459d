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
 *
 * Exit status 0 on success; 1 with a message naming the call and path on stderr; 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what, const char *arg) {
  fprintf(stderr, "nsutil: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
  return 1;
}

static int usage(void) {
  fputs("usage: nsutil pin [--net FILE] [--ipc FILE] [--uts FILE] [--hostname NAME]\n"
        "       nsutil unmount [--lazy] [--once] PATH...\n",
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

static int pin(int argc, char **argv) {
  const char *files[3] = {0, 0, 0};
  static const char *const kinds[3] = {"net", "ipc", "uts"};
  static const int flags[3] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
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
  int unshare_flags = 0;
  for (int j = 0; j < 3; j++)
    if (files[j]) unshare_flags |= flags[j];
  if (unshare_flags == 0 || (hostname && !files[2])) return usage();
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

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  if (strcmp(argv[1], "pin") == 0) return pin(argc - 2, argv + 2);
  if (strcmp(argv[1], "unmount") == 0) return unmount_all(argc - 2, argv + 2);
  return usage();
}
