/*
 * monitor: ucri's container monitor, a small static replacement for the part of conmon 2.1 that ucri uses
 * (pkg/oci/conmon.ts). Why: conmon links glib, libsystemd and their compression and crypto libraries, and
 * the pages it touches in them cost ~2.3 MiB RSS per container; this program ~0.7 MiB (0.2 MiB PSS).
 *
 *   monitor --api-version 1 -c ID -u UUID -r RUNTIME [--runtime-arg ARG]... [--log-level L] -n NAME
 *           -b BUNDLE -p PIDFILE -P MONITOR_PIDFILE -l k8s-file:LOG --exit-dir DIR --socket-dir-path DIR
 *           --full-attach [-s] [--log-size-max N] [-t] [-i [--leave-stdin-open]]
 *
 * Only those options are accepted; any other (conmon's --exec, --restore, --sync, other log drivers, …) is
 * refused with exit status 1 and a message on stderr, so a caller never gets a silently different monitor.
 * -u, -n and --log-level only feed conmon's journald driver and its own logging, which this program does not
 * have; --socket-dir-path is conmon's home of the attach socket without --full-attach, which is required here.
 *
 * What ucri observes, as with conmon:
 *   start   fd `_OCI_STARTPIPE` is read once before anything is forked; the process then forks, writes the
 *           monitor's pid to MONITOR_PIDFILE and exits 0; the monitor proper starts a session, becomes a child
 *           subreaper and runs `RUNTIME [--systemd-cgroup] ARGS… create --bundle B --pid-file P
 *           [--console-socket S] ID`. On fd `_OCI_SYNCPIPE` it writes one JSON line: {"data": <init pid>}, or
 *           {"data": -1, "message": "<the runtime's stderr>"} when the create failed.
 *   stdio   pipes (stdout, stderr, and stdin with -i) or, with -t, the pty master received on the console
 *           socket. Output goes to the CRI log, one record per line: `<local time, ns, ±hh:mm> stdout|stderr
 *           F|P <text>`; a read that ends without a newline gives a P record. --log-size-max N: before a record
 *           that would take the file past N bytes, the file is truncated (a new file renamed over it).
 *   BUNDLE/attach  SOCK_SEQPACKET listener: every output read is sent to every client as one packet,
 *           [2 stdout | 3 stderr][data]; packets from clients go to the container's stdin (with -i). A client's
 *           end of input closes the container's stdin unless --leave-stdin-open. Clients get EOF at the exit.
 *   BUNDLE/ctl     fifo of text lines: "1 H W" sets the pty size, "2 0 0" reopens the log (new file renamed
 *           over LOG, as after the kubelet's rotation).
 *   exit    `DIR/ID` holds the exit status (128+N for signal N), written once the output is drained, through a
 *           temporary file and rename; before it, BUNDLE/oom is created when the container's memory cgroup
 *           counted an OOM (v2 memory.events oom/oom_kill, v1 memory.oom_control oom_kill).
 *   signals SIGTERM, SIGINT and SIGQUIT are passed on to the container's init (to the runtime while it runs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "write-all.h"

#define BUF 8192         /* one output read, as conmon's STDIO_BUF_SIZE */
#define IN_BUF 32768     /* one client packet */
#define MAX_CLIENTS 64
#define CGROUP2_MAGIC 0x63677270

static const char *o_cid, *o_runtime, *o_bundle, *o_pidfile, *o_monitor_pidfile, *o_log, *o_exit_dir;
static int o_full_attach, o_systemd, o_terminal, o_stdin, o_leave_stdin_open, o_api = -1;
static long long o_log_size_max = -1;
static const char **o_runtime_args;
static int n_runtime_args;

static int sync_fd = -1;

/* ---- start-up errors ---- */

static _Noreturn void refuse(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("monitor: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* JSON string body of `s` (quotes, backslashes and control bytes escaped) into `out` of size `n`. */
static void json_escape(const char *s, char *out, size_t n) {
  size_t o = 0;
  for (; *s && o + 7 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
}

static void sync_send(int data, const char *message) {
  if (sync_fd < 0) return;
  static char esc[6 * BUF + 1], line[6 * BUF + 64];
  if (message && *message) {
    json_escape(message, esc, sizeof esc);
    snprintf(line, sizeof line, "{\"data\": %d, \"message\": \"%s\"}\n", data, esc);
  } else {
    snprintf(line, sizeof line, "{\"data\": %d}\n", data);
  }
  if (write_all(sync_fd, line, strlen(line)) < 0) { /* the caller is gone; the exit file still tells */
  }
}

/* After the handshake has started, failures go to the caller on the sync pipe (stderr is /dev/null). */
static _Noreturn void fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sync_send(-1, msg);
  exit(1);
}

/* Writes `text` to `path` through a temporary file in the same directory and a rename. */
static int write_replace(const char *path, const char *text) {
  char tmp[PATH_MAX];
  const char *slash = strrchr(path, '/');
  int dirlen = slash ? (int)(slash - path + 1) : 0;
  if (snprintf(tmp, sizeof tmp, "%.*s.%s.tmp", dirlen, path, slash ? slash + 1 : path) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (write_all(fd, text, strlen(text)) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

/* ---- command line ---- */

static const char *take(int argc, char **argv, int *i, const char *name) {
  const char *arg = argv[*i];
  const char *eq = strchr(arg, '=');
  if (arg[0] == '-' && arg[1] == '-' && eq) return eq + 1;
  if (*i + 1 >= argc) refuse("option %s needs a value", name);
  return argv[++*i];
}

static int is_opt(const char *arg, const char *s, const char *l) {
  if (s && strcmp(arg, s) == 0) return 1;
  size_t n = strlen(l);
  return strncmp(arg, l, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static void parse(int argc, char **argv) {
  o_runtime_args = calloc((size_t)argc + 1, sizeof *o_runtime_args);
  if (!o_runtime_args) refuse("out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (is_opt(a, NULL, "--api-version")) {
      const char *v = take(argc, argv, &i, a);
      if (strcmp(v, "1") != 0) refuse("only --api-version 1 is supported, not %s", v);
      o_api = 1;
    } else if (is_opt(a, "-c", "--cid")) o_cid = take(argc, argv, &i, a);
    else if (is_opt(a, "-u", "--cuuid") || is_opt(a, "-n", "--name") || is_opt(a, NULL, "--log-level"))
      take(argc, argv, &i, a); /* journald fields and conmon's own verbosity: nothing here uses them */
    else if (is_opt(a, "-r", "--runtime")) o_runtime = take(argc, argv, &i, a);
    else if (is_opt(a, NULL, "--runtime-arg")) o_runtime_args[n_runtime_args++] = take(argc, argv, &i, a);
    else if (is_opt(a, "-b", "--bundle")) o_bundle = take(argc, argv, &i, a);
    else if (is_opt(a, "-p", "--container-pidfile")) o_pidfile = take(argc, argv, &i, a);
    else if (is_opt(a, "-P", "--conmon-pidfile")) o_monitor_pidfile = take(argc, argv, &i, a);
    else if (is_opt(a, "-l", "--log-path")) {
      const char *v = take(argc, argv, &i, a);
      if (o_log) refuse("only one --log-path is supported");
      const char *colon = strchr(v, ':');
      if (colon && strncmp(v, "k8s-file:", 9) != 0) refuse("log driver \"%.*s\" is not supported", (int)(colon - v), v);
      o_log = colon ? colon + 1 : v;
    } else if (is_opt(a, NULL, "--exit-dir")) o_exit_dir = take(argc, argv, &i, a);
    else if (is_opt(a, NULL, "--socket-dir-path")) take(argc, argv, &i, a);
    else if (strcmp(a, "--full-attach") == 0) o_full_attach = 1;
    else if (strcmp(a, "-s") == 0 || strcmp(a, "--systemd-cgroup") == 0) o_systemd = 1;
    else if (is_opt(a, NULL, "--log-size-max")) {
      const char *v = take(argc, argv, &i, a);
      char *end;
      errno = 0;
      o_log_size_max = strtoll(v, &end, 10);
      if (errno || *end || end == v) refuse("invalid --log-size-max %s", v);
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "--terminal") == 0) o_terminal = 1;
    else if (strcmp(a, "-i") == 0 || strcmp(a, "--stdin") == 0) o_stdin = 1;
    else if (strcmp(a, "--leave-stdin-open") == 0) o_leave_stdin_open = 1;
    else if (strcmp(a, "--version") == 0) {
      printf("ucri monitor (conmon --api-version 1 subset)\n");
      exit(0);
    } else refuse("option %s is not supported (conmon can be configured instead)", a);
  }
  if (o_api != 1) refuse("--api-version 1 is required");
  if (!o_full_attach) refuse("--full-attach is required");
  const char *missing = !o_cid ? "-c" : !o_runtime ? "-r" : !o_bundle ? "-b" : !o_pidfile ? "-p"
                      : !o_monitor_pidfile ? "-P" : !o_log ? "-l" : !o_exit_dir ? "--exit-dir" : NULL;
  if (missing) refuse("option %s is required", missing);
  if (o_runtime[0] != '/' || o_bundle[0] != '/' || o_exit_dir[0] != '/' || o_log[0] != '/')
    refuse("the runtime, bundle, exit dir and log paths must be absolute");
  if (strchr(o_cid, '/') || o_cid[0] == '.' || o_cid[0] == '\0') refuse("invalid container id \"%s\"", o_cid);
}

/* ---- the CRI log ---- */

static int log_fd = -1;
static long long log_written;

static void log_open(int truncate_by_rename) {
  struct stat st;
  /* Only a regular file is replaced: a log of /dev/null must never be renamed over. */
  if (truncate_by_rename && stat(o_log, &st) == 0 && !S_ISREG(st.st_mode)) return;
  if (truncate_by_rename) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", o_log);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || rename(tmp, o_log) < 0) {
      if (fd >= 0) close(fd);
      return; /* keep writing to the old file rather than lose output */
    }
    if (log_fd >= 0) close(log_fd);
    log_fd = fd;
    log_written = 0;
    return;
  }
  log_fd = open(o_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd < 0) fail("cannot open log file %s: %s", o_log, strerror(errno));
  log_written = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

/* "2026-01-02T03:04:05.123456789+01:00 stdout " (43 bytes), local time like conmon's k8s-file driver. */
static size_t log_stamp(char *buf, size_t n, const char *stream) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  localtime_r(&ts.tv_sec, &tm);
  long off = tm.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  int w = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld%c%02ld:%02ld %s ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, sign, off / 3600, (off % 3600) / 60, stream);
  return w < 0 ? 0 : (size_t)w;
}

/* One output read as CRI records: one per line, the last one P when the read ends inside a line. */
static void log_write(int stream, const char *data, size_t len) {
  if (log_fd < 0) return;
  char stamp[64];
  size_t slen = log_stamp(stamp, sizeof stamp, stream == 2 ? "stdout" : "stderr");
  static char out[2 * BUF + 4096];
  size_t o = 0;
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    int partial = nl == NULL;
    size_t line = partial ? len : (size_t)(nl - data) + 1;
    size_t rec = slen + 2 + line + (partial ? 1 : 0);
    if (o_log_size_max > 0 && log_written + (long long)rec > o_log_size_max) {
      if (o > 0 && write_all(log_fd, out, o) < 0) { /* a full disk loses output, as with conmon */
      }
      o = 0;
      log_open(1);
    }
    /* One read of short lines makes far more records than one read's bytes (a record per "\n" costs ~45
     * bytes): write out what is gathered before it would pass the buffer. One record always fits. */
    if (o + rec > sizeof out) {
      if (write_all(log_fd, out, o) < 0) {
      }
      o = 0;
    }
    memcpy(out + o, stamp, slen);
    o += slen;
    memcpy(out + o, partial ? "P " : "F ", 2);
    o += 2;
    memcpy(out + o, data, line);
    o += line;
    if (partial) out[o++] = '\n';
    log_written += (long long)rec;
    data += line;
    len -= line;
  }
  if (o > 0 && write_all(log_fd, out, o) < 0) {
  }
}

/* ---- attach clients and the container's stdin ---- */

static int clients[MAX_CLIENTS], client_reading[MAX_CLIENTS], n_clients;
static int stdin_fd = -1;
static char pending[IN_BUF];
static size_t pending_len, pending_off;

static void drop_client(int i) {
  close(clients[i]);
  clients[i] = clients[n_clients - 1];
  client_reading[i] = client_reading[n_clients - 1];
  n_clients--;
}

static void close_stdin(void) {
  if (stdin_fd >= 0) close(stdin_fd);
  stdin_fd = -1;
  pending_len = pending_off = 0;
}

static void flush_stdin(void) {
  while (stdin_fd >= 0 && pending_off < pending_len) {
    ssize_t w = write(stdin_fd, pending + pending_off, pending_len - pending_off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) {
      close_stdin(); /* the container closed its stdin */
      return;
    }
    pending_off += (size_t)w;
  }
  pending_len = pending_off = 0;
}

static void broadcast(int stream, const char *data, size_t len) {
  char pkt[BUF + 1];
  pkt[0] = (char)stream;
  memcpy(pkt + 1, data, len);
  for (int i = n_clients - 1; i >= 0; i--) {
    ssize_t w;
    do w = send(clients[i], pkt, len + 1, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) drop_client(i);
  }
}

static void client_input(int i) {
  ssize_t r = recv(clients[i], pending, sizeof pending, 0);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r > 0) {
    if (stdin_fd < 0) return; /* no stdin: dropped, as conmon does */
    pending_len = (size_t)r;
    pending_off = 0;
    flush_stdin();
    return;
  }
  /* The client ended its input (it may still read output); with stdin_once the container's stdin ends too. */
  client_reading[i] = 0;
  if (!o_leave_stdin_open) close_stdin();
  if (r < 0) drop_client(i);
}

/* ---- control fifo ---- */

static int ctl_fd = -1, pty_fd = -1;
static char ctl_buf[256];
static size_t ctl_len;

static void ctl_line(const char *line) {
  int type, h, w;
  if (sscanf(line, "%d %d %d", &type, &h, &w) != 3) return;
  if (type == 1 && pty_fd >= 0) {
    struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
    ioctl(pty_fd, TIOCSWINSZ, &ws);
  } else if (type == 2) {
    log_open(1);
  }
}

static void ctl_input(void) {
  ssize_t r = read(ctl_fd, ctl_buf + ctl_len, sizeof ctl_buf - 1 - ctl_len);
  if (r <= 0) return;
  ctl_len += (size_t)r;
  ctl_buf[ctl_len] = '\0';
  char *start = ctl_buf, *nl;
  while ((nl = strchr(start, '\n'))) {
    *nl = '\0';
    ctl_line(start);
    start = nl + 1;
  }
  ctl_len = strlen(start);
  memmove(ctl_buf, start, ctl_len);
  if (ctl_len == sizeof ctl_buf - 1) ctl_len = 0; /* a line too long for any valid message */
}

/* ---- OOM ---- */

static char oom_file[PATH_MAX];
static int oom_v2;

/* Finds the memory cgroup of `pid` while it lives: the counters are read at its exit. */
static void oom_setup(pid_t pid) {
  struct statfs sf;
  oom_v2 = statfs("/sys/fs/cgroup", &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_MAGIC;
  char path[64], line[PATH_MAX];
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  FILE *f = fopen(path, "re");
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = '\0';
    const char *controllers = c1 + 1, *cg = c2 + 1;
    if (oom_v2 && strcmp(line, "0") == 0 && *controllers == '\0') {
      snprintf(oom_file, sizeof oom_file, "/sys/fs/cgroup%s/memory.events", cg);
      break;
    }
    if (!oom_v2) {
      char list[256];
      snprintf(list, sizeof list, ",%s,", controllers);
      if (strstr(list, ",memory,")) {
        snprintf(oom_file, sizeof oom_file, "/sys/fs/cgroup/memory%s/memory.oom_control", cg);
        break;
      }
    }
  }
  fclose(f);
}

static int oom_seen(void) {
  if (!oom_file[0]) return 0;
  FILE *f = fopen(oom_file, "re");
  if (!f) return 0;
  char key[64];
  long long v;
  int seen = 0;
  while (fscanf(f, "%63s %lld", key, &v) == 2) {
    if (v > 0 && (strcmp(key, "oom_kill") == 0 || (oom_v2 && strcmp(key, "oom") == 0))) seen = 1;
  }
  fclose(f);
  return seen;
}

/* ---- the runtime ---- */

static pid_t create_pid = -1, container_pid = -1;

static void set_oom_score(const char *v) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, v, strlen(v)) < 0) { /* not permitted: keep the inherited score */
  }
  close(fd);
}

static _Noreturn void exec_runtime(const sigset_t *oldmask, int in, int out, int err, const char *console) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigprocmask(SIG_SETMASK, oldmask, NULL);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
  /* The container's user may differ from ours: it must be able to reopen /dev/stdout and friends. */
  for (int fd = 0; fd < 3; fd++) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) fchmod(fd, 0777);
  }
  set_oom_score("0");
  const char *argv[n_runtime_args + 16];
  int n = 0;
  argv[n++] = o_runtime;
  if (o_systemd) argv[n++] = "--systemd-cgroup";
  for (int i = 0; i < n_runtime_args; i++) argv[n++] = o_runtime_args[i];
  argv[n++] = "create";
  argv[n++] = "--bundle";
  argv[n++] = o_bundle;
  argv[n++] = "--pid-file";
  argv[n++] = o_pidfile;
  if (console) {
    argv[n++] = "--console-socket";
    argv[n++] = console;
  }
  argv[n++] = o_cid;
  argv[n] = NULL;
  execv(o_runtime, (char *const *)argv);
  dprintf(2, "cannot execute %s: %s\n", o_runtime, strerror(errno));
  _exit(127);
}

/* The pty master the runtime sends on the console socket. */
static int receive_pty(int listener) {
  int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char data[256];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t r;
  do r = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  close(c);
  struct cmsghdr *h = r > 0 ? CMSG_FIRSTHDR(&m) : NULL;
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

static int env_fd(const char *name) {
  const char *v = getenv(name);
  if (!v) return -1;
  char *end;
  long fd = strtol(v, &end, 10);
  if (*end || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) refuse("invalid %s=%s", name, v);
  return (int)fd;
}

static int exit_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

int main(int argc, char **argv) {
  parse(argc, argv);
  umask(022);
  signal(SIGPIPE, SIG_IGN);
  set_oom_score("-1000");

  int start_fd = env_fd("_OCI_STARTPIPE");
  sync_fd = env_fd("_OCI_SYNCPIPE");
  if (start_fd >= 0) {
    /* The caller places us (e.g. in a cgroup) before this byte: nothing is forked until it arrives. */
    char b[64];
    ssize_t r;
    do r = read(start_fd, b, sizeof b);
    while (r < 0 && errno == EINTR);
    if (r < 0) refuse("start pipe: %s", strerror(errno));
    close(start_fd);
  }

  int null_r = open("/dev/null", O_RDONLY | O_CLOEXEC), null_w = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_r < 0 || null_w < 0) refuse("cannot open /dev/null: %s", strerror(errno));

  pid_t child = fork();
  if (child < 0) refuse("fork: %s", strerror(errno));
  if (child > 0) {
    char text[32];
    snprintf(text, sizeof text, "%d", child);
    if (write_replace(o_monitor_pidfile, text) < 0) {
      kill(child, SIGKILL);
      refuse("cannot write %s: %s", o_monitor_pidfile, strerror(errno));
    }
    _exit(0);
  }

  /* The monitor proper: detached from the caller's stdio and session, reaper of the container's init. */
  dup2(null_r, 0);
  dup2(null_w, 1);
  dup2(null_w, 2);
  setsid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail("cannot become a subreaper: %s", strerror(errno));
  if (chdir(o_bundle) < 0) fail("cannot enter bundle %s: %s", o_bundle, strerror(errno));

  sigset_t mask, oldmask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGQUIT);
  sigprocmask(SIG_BLOCK, &mask, &oldmask);
  int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) fail("signalfd: %s", strerror(errno));

  int p[2], in_w = -1, in_r = null_r, out_r = -1, out_w = null_w, err_r, err_w;
  char console_dir[] = "/tmp/ucri-monitor-XXXXXX", console_path[sizeof console_dir + 16] = "";
  int console_l = -1;
  if (o_terminal) {
    if (!mkdtemp(console_dir)) fail("cannot create the console socket directory: %s", strerror(errno));
    snprintf(console_path, sizeof console_path, "%s/console", console_dir);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, console_path);
    console_l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (console_l < 0 || bind(console_l, (struct sockaddr *)&a, sizeof a) < 0 || listen(console_l, 1) < 0)
      fail("cannot listen on the console socket: %s", strerror(errno));
  } else {
    if (o_stdin) {
      if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
      in_r = p[0];
      in_w = p[1];
    }
    if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    out_r = p[0];
    out_w = p[1];
  }
  /* Always a pipe: it carries the runtime's error message before it carries the container's stderr. */
  if (pipe2(p, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
  err_r = p[0];
  err_w = p[1];

  /* The attach socket and the control fifo exist before the container does. */
  unlink("attach");
  int attach_l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un aa = {.sun_family = AF_UNIX, .sun_path = "attach"};
  if (attach_l < 0 || bind(attach_l, (struct sockaddr *)&aa, sizeof aa) < 0 || chmod("attach", 0700) < 0 ||
      listen(attach_l, 10) < 0)
    fail("cannot listen on %s/attach: %s", o_bundle, strerror(errno));
  unlink("ctl");
  if (mkfifo("ctl", 0600) < 0) fail("cannot create %s/ctl: %s", o_bundle, strerror(errno));
  ctl_fd = open("ctl", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  /* Our own writer keeps the fifo from reporting end-of-file after each message. */
  int ctl_keep = open("ctl", O_WRONLY | O_CLOEXEC);
  if (ctl_fd < 0 || ctl_keep < 0) fail("cannot open %s/ctl: %s", o_bundle, strerror(errno));

  log_open(0);

  create_pid = fork();
  if (create_pid < 0) fail("fork: %s", strerror(errno));
  if (create_pid == 0) exec_runtime(&oldmask, in_r, out_w, err_w, o_terminal ? console_path : NULL);
  if (in_r != null_r) close(in_r);
  if (out_w != null_w) close(out_w);
  close(err_w);
  stdin_fd = in_w;

  /* Until the runtime has exited: its exit status, the pty (with -t), and signals passed on to it. */
  int create_status = -1;
  while (create_status < 0) {
    struct pollfd w[2] = {{.fd = sig_fd, .events = POLLIN}, {.fd = console_l, .events = POLLIN}};
    if (poll(w, 2, -1) < 0 && errno != EINTR) fail("poll: %s", strerror(errno));
    if (w[1].revents & POLLIN) {
      int fd = receive_pty(console_l);
      if (fd >= 0) {
        if (pty_fd >= 0) close(pty_fd);
        pty_fd = fd;
      }
    }
    struct signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo != SIGCHLD) kill(create_pid, (int)si.ssi_signo);
    }
    int st;
    if (waitpid(create_pid, &st, WNOHANG) == create_pid) create_status = st;
  }
  if (console_l >= 0) {
    close(console_l);
    unlink(console_path);
    rmdir(console_dir);
  }

  if (!WIFEXITED(create_status) || WEXITSTATUS(create_status) != 0) {
    static char msg[BUF];
    fcntl(err_r, F_SETFL, O_NONBLOCK);
    ssize_t r = read(err_r, msg, sizeof msg - 1);
    msg[r > 0 ? r : 0] = '\0';
    if (r <= 0) snprintf(msg, sizeof msg, "%s create exited with status %d", o_runtime, exit_status(create_status));
    fail("%s", msg);
  }
  if (o_terminal && pty_fd < 0) fail("the runtime did not send the container's terminal");

  char pidtext[32] = "";
  int pf = open(o_pidfile, O_RDONLY | O_CLOEXEC);
  ssize_t pr = pf >= 0 ? read(pf, pidtext, sizeof pidtext - 1) : -1;
  if (pf >= 0) close(pf);
  container_pid = pr > 0 ? (pid_t)atoi(pidtext) : -1;
  if (container_pid <= 0) fail("cannot read the container's pid from %s", o_pidfile);

  oom_setup(container_pid);
  sync_send(container_pid, NULL);
  close(sync_fd);
  sync_fd = -1;

  if (o_terminal) {
    out_r = pty_fd;
    if (o_stdin) stdin_fd = dup(pty_fd);
  }
  if (stdin_fd >= 0) fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  int outs[2] = {out_r, err_r};
  int status = -1;
  static char buf[BUF];

  for (int exited = 0; !exited;) {
    struct pollfd w[6 + MAX_CLIENTS];
    int n = 0;
    w[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    w[n++] = (struct pollfd){.fd = outs[0], .events = POLLIN};
    w[n++] = (struct pollfd){.fd = outs[1], .events = POLLIN};
    w[n++] = (struct pollfd){.fd = attach_l, .events = POLLIN};
    w[n++] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
    w[n++] = (struct pollfd){.fd = pending_len ? stdin_fd : -1, .events = POLLOUT};
    int base = n;
    for (int i = 0; i < n_clients; i++)
      w[n++] = (struct pollfd){.fd = clients[i], .events = client_reading[i] && !pending_len ? POLLIN : 0};
    if (poll(w, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int s = 0; s < 2; s++) {
      if (outs[s] < 0 || !(w[1 + s].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(outs[s], buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) { /* end of output (EIO: the pty's last slave closed) */
        close(outs[s]);
        outs[s] = -1;
        continue;
      }
      log_write(2 + s, buf, (size_t)r);
      broadcast(2 + s, buf, (size_t)r);
    }
    if (w[3].revents & POLLIN) {
      int c = accept4(attach_l, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0 && n_clients < MAX_CLIENTS) {
        clients[n_clients] = c;
        client_reading[n_clients++] = 1;
      } else if (c >= 0) {
        close(c);
      }
    }
    if (w[4].revents & POLLIN) ctl_input();
    if (w[5].revents) flush_stdin();
    /* From the last: drop_client moves the last client into the freed slot. */
    for (int i = n - base - 1; i >= 0; i--) {
      if (i >= n_clients || clients[i] != w[base + i].fd) continue;
      if (w[base + i].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (client_reading[i] && !pending_len) client_input(i);
        else if (w[base + i].revents & (POLLHUP | POLLERR)) drop_client(i);
      }
    }
    if (w[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sig_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo != SIGCHLD) kill(container_pid, (int)si.ssi_signo);
      }
      int st;
      pid_t pid;
      while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == container_pid) {
          status = exit_status(st);
          exited = 1;
        }
      }
    }
  }

  /* What the container wrote before it died is still in the pipes: read what is there, without waiting for
   * processes that may have inherited them. */
  for (int s = 0; s < 2; s++) {
    if (outs[s] < 0) continue;
    fcntl(outs[s], F_SETFL, O_NONBLOCK);
    ssize_t r;
    while ((r = read(outs[s], buf, sizeof buf)) > 0) {
      log_write(2 + s, buf, (size_t)r);
      broadcast(2 + s, buf, (size_t)r);
    }
  }
  if (log_fd >= 0) fsync(log_fd);

  if (oom_seen()) {
    int fd = open("oom", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
  }
  char exit_path[PATH_MAX], text[16];
  snprintf(exit_path, sizeof exit_path, "%s/%s", o_exit_dir, o_cid);
  snprintf(text, sizeof text, "%d", status);
  write_replace(exit_path, text);
  for (int i = n_clients - 1; i >= 0; i--) drop_client(i);
  return status < 0 ? 1 : status & 0xff;
}
