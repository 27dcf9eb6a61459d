/*
 * spawner: the daemon's long-lived process starter (pkg/sys/spawner.ts). Node forks the whole daemon (≈80 MiB
 * of mappings) for every child and blocks its event loop until the child has exec'd (docs/performance.md,
 * "Spawning children, phase 5"); this small process forks instead, so the daemon's loop only writes a request.
 * It is the parent of every child it starts: it reaps them and reports their exit status.
 *
 * It is started by the daemon with a node IPC channel (a socketpair inherited as the fd named by
 * NODE_CHANNEL_FD, JSON lines), the only way in: there is no socket on the file system. Node's own
 * serialization carries file descriptors (SCM_RIGHTS) as `net.Socket` handles, which is how the parent ends
 * of a child's stdio reach the daemon.
 *
 *   request (daemon → spawner): one JSON string per line, "<base64>", decoding to NUL-terminated fields:
 *     "spawn" ID FLAGS STDIO CWD FILE NARGS ARG... NENV ENV...
 *         ID: the daemon's number for the child (decimal, > 0, unused). FLAGS: "" or "d" (detached: the child
 *         gets a new session). STDIO: one letter per child fd 0, 1, …: 'i' /dev/null, 'p' a unix socketpair
 *         whose other end goes to the daemon (the kind of pipe node gives a child). CWD: "" or absolute.
 *         FILE: the program; without a '/' it is searched in the PATH of ENV (never through a shell).
 *         ARG...: argv, argv[0] included. ENV...: NAME=VALUE.
 *     "kill" ID SIGNAL
 *         Sends SIGNAL to child ID if it has not been reaped yet (so never to a recycled pid).
 *   messages (spawner → daemon), JSON objects per line:
 *     {"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"t":"fd","id":ID,"fd":N}}  + the daemon's end of fd N
 *     {"t":"pid","id":ID,"pid":PID}          the child has exec'd (sent after all its fds)
 *     {"t":"err","id":ID,"errno":E,"step":S}  it could not: S is "fork", "chdir", "exec", "stdio" or "setsid"
 *     {"t":"exit","id":ID,"code":C,"sig":S}   it ended: exit code C (-1 when killed), signal S (0 when exited)
 *     {"t":"bad","id":ID}                     the request was refused (malformed or invalid)
 *
 * The daemon's closing the channel (its exit or crash) ends the spawner, as does PR_SET_PDEATHSIG; children are
 * never signalled for that: they are reparented as any orphan is, and whatever outlives the daemon (conmon,
 * which daemonizes itself) carries on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "write-all.h"

#define MAX_LINE (1 << 20)
#define MAX_STDIO 8
#define MAX_CHILDREN 4096
#define MAX_ARGS 4096

struct child {
  long id;
  pid_t pid;
  int errfd; /* close-on-exec pipe, read end, until the child has exec'd or failed; else -1 */
};

static struct child children[MAX_CHILDREN];
static int nchildren;
static int chan = -1;

static void die(const char *what) {
  fprintf(stderr, "spawner: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void send_line(const char *line) {
  if (write_all(chan, line, strlen(line)) < 0) exit(errno == EPIPE ? 0 : 1);
}

static void sendf(const char *fmt, long id, long a, long b) {
  char line[160];
  snprintf(line, sizeof line, fmt, id, a, b);
  send_line(line);
}

/* One message with one descriptor attached, in a single sendmsg: node pairs the two by the read they arrive in. */
static void send_fd(long id, int n, int fd) {
  char line[160];
  int len = snprintf(line, sizeof line,
                     "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"t\":\"fd\",\"id\":%ld,\"fd\":%d}}\n",
                     id, n);
  struct iovec iov = {line, (size_t)len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t w;
  do w = sendmsg(chan, &msg, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w < 0) exit(errno == EPIPE ? 0 : 1);
  /* The message is small; a short write would leave the JSON cut: finish it without the descriptor. */
  if (w < len && write_all(chan, line + w, (size_t)(len - w)) < 0) exit(1);
}

static struct child *find(long id) {
  for (int i = 0; i < nchildren; i++)
    if (children[i].id == id) return &children[i];
  return 0;
}

static void forget(struct child *c) { *c = children[--nchildren]; }

/* The child side of a failed step: its errno and step go up the close-on-exec pipe. */
static _Noreturn void child_fail(int errfd, int step) {
  int msg[2] = {errno, step};
  ssize_t w = write(errfd, msg, sizeof msg);
  (void)w;
  _exit(127);
}

static const char *const STEPS[] = {"exec", "chdir", "stdio", "setsid", "fork"};
enum { STEP_EXEC, STEP_CHDIR, STEP_STDIO, STEP_SETSID, STEP_FORK };

/* execve with a PATH search in the child's own environment; no shell fallback for ENOEXEC. */
static void exec_path(const char *file, char **argv, char **envp) {
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    return;
  }
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  int err = ENOENT;
  char buf[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    size_t dl = (size_t)(end - p);
    if (dl > 0 && dl + 1 + strlen(file) < sizeof buf) {
      memcpy(buf, p, dl);
      buf[dl] = '/';
      strcpy(buf + dl + 1, file);
      execve(buf, argv, envp);
      /* Keep looking past missing entries; remember that one was there but not runnable. */
      if (errno == EACCES) err = EACCES;
      else if (errno != ENOENT && errno != ENOTDIR) err = errno;
    }
    if (*end == 0) break;
    p = end;
  }
  errno = err;
}

static int decode_b64(const char *in, size_t n, char *out) {
  static signed char map[256];
  if (!map['B']) {
    memset(map, -1, sizeof map);
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++) map[(unsigned char)a[i]] = (signed char)i;
  }
  if (n % 4) return -1;
  int o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4], pad = 0;
    for (int k = 0; k < 4; k++) {
      unsigned char ch = (unsigned char)in[i + k];
      if (ch == '=' && i + 4 == n && k >= 2) {
        v[k] = 0;
        pad++;
      } else if (pad || map[ch] < 0) {
        return -1;
      } else {
        v[k] = map[ch];
      }
    }
    uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out[o++] = (char)(w >> 16);
    if (pad < 2) out[o++] = (char)(w >> 8);
    if (pad < 1) out[o++] = (char)w;
  }
  return o;
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static void spawn_child(long id, char **f, int n) {
  /* f: FLAGS STDIO CWD FILE NARGS ARG... NENV ENV... */
  if (n < 6) goto bad;
  const char *flags = f[0], *stdio = f[1], *cwd = f[2], *file = f[3];
  long nargs, nenv;
  /* At least fds 0-2, so that the spawner's own never leak into a child. */
  if ((flags[0] && strcmp(flags, "d") != 0) || strlen(stdio) < 3 || strlen(stdio) > MAX_STDIO || !*file) goto bad;
  for (const char *s = stdio; *s; s++)
    if (*s != 'i' && *s != 'p') goto bad;
  if (cwd[0] && cwd[0] != '/') goto bad;
  if (parse_long(f[4], 1, MAX_ARGS, &nargs) < 0 || 5 + nargs >= n) goto bad;
  if (parse_long(f[5 + nargs], 0, MAX_ARGS, &nenv) < 0 || 6 + nargs + nenv != n) goto bad;
  char **argv = &f[5], **env = &f[6 + nargs];
  for (long i = 0; i < nenv; i++)
    if (!strchr(env[i], '=') || env[i][0] == '=') goto bad;
  if (find(id) || nchildren == MAX_CHILDREN) goto bad;
  /* argv and env are NULL-terminated in place: each field's successor slot is the next count or field. */
  char *argv_v[MAX_ARGS + 1], *env_v[MAX_ARGS + 1];
  memcpy(argv_v, argv, (size_t)nargs * sizeof *argv);
  argv_v[nargs] = 0;
  memcpy(env_v, env, (size_t)nenv * sizeof *env);
  env_v[nenv] = 0;

  int nfd = (int)strlen(stdio), ours[MAX_STDIO], theirs[MAX_STDIO], errp[2];
  for (int i = 0; i < nfd; i++) ours[i] = theirs[i] = -1;
  int failed_step = -1, failed_errno = 0;
  for (int i = 0; i < nfd && failed_step < 0; i++) {
    if (stdio[i] == 'i') {
      theirs[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (theirs[i] < 0) failed_step = STEP_STDIO;
    } else {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) failed_step = STEP_STDIO;
      else {
        ours[i] = sv[0];
        theirs[i] = sv[1];
      }
    }
  }
  if (failed_step < 0 && pipe2(errp, O_CLOEXEC) < 0) failed_step = STEP_FORK;
  pid_t pid = -1;
  if (failed_step < 0) {
    pid = fork();
    if (pid < 0) {
      failed_step = STEP_FORK;
      failed_errno = errno;
      close(errp[0]);
      close(errp[1]);
    }
  }
  if (failed_step >= 0 && failed_errno == 0) failed_errno = errno;
  if (pid == 0) {
    close(errp[0]);
    sigset_t all;
    sigemptyset(&all);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &all, 0);
    if (flags[0] == 'd' && setsid() < 0) child_fail(errp[1], STEP_SETSID);
    /* Move every source above the target range first, so that no dup2 overwrites a later source. */
    for (int i = 0; i < nfd; i++) {
      int hi = fcntl(theirs[i], F_DUPFD_CLOEXEC, MAX_STDIO + 3);
      if (hi < 0) child_fail(errp[1], STEP_STDIO);
      theirs[i] = hi;
    }
    for (int i = 0; i < nfd; i++)
      if (dup2(theirs[i], i) < 0) child_fail(errp[1], STEP_STDIO);
    if (cwd[0] && chdir(cwd) < 0) child_fail(errp[1], STEP_CHDIR);
    exec_path(file, argv_v, env_v);
    child_fail(errp[1], STEP_EXEC);
  }
  for (int i = 0; i < nfd; i++)
    if (theirs[i] >= 0) close(theirs[i]);
  if (failed_step >= 0) {
    int e = failed_errno;
    for (int i = 0; i < nfd; i++)
      if (ours[i] >= 0) close(ours[i]);
    char line[160];
    snprintf(line, sizeof line, "{\"t\":\"err\",\"id\":%ld,\"errno\":%d,\"step\":\"%s\"}\n", id, e,
             STEPS[failed_step]);
    send_line(line);
    return;
  }
  close(errp[1]);
  struct child *c = &children[nchildren++];
  c->id = id;
  c->pid = pid;
  c->errfd = errp[0];
  for (int i = 0; i < nfd; i++) {
    if (ours[i] < 0) continue;
    send_fd(id, i, ours[i]);
    close(ours[i]);
  }
  return;
bad:
  sendf("{\"t\":\"bad\",\"id\":%ld}\n", id, 0, 0);
}

/* The child has exec'd (EOF on its close-on-exec pipe) or reported a failed step: tell the daemon which. */
static void settle(struct child *c) {
  int msg[2];
  ssize_t r;
  do r = read(c->errfd, msg, sizeof msg);
  while (r < 0 && errno == EINTR);
  close(c->errfd);
  c->errfd = -1;
  if (r == (ssize_t)sizeof msg && msg[1] >= 0 && msg[1] <= STEP_FORK) {
    char line[160];
    snprintf(line, sizeof line, "{\"t\":\"err\",\"id\":%ld,\"errno\":%d,\"step\":\"%s\"}\n", c->id, msg[0],
             STEPS[msg[1]]);
    send_line(line);
    c->id = -c->id; /* its exit is not reported: the daemon has its error */
  } else {
    sendf("{\"t\":\"pid\",\"id\":%ld,\"pid\":%ld}\n", c->id, (long)c->pid, 0);
  }
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (int i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->pid != pid) continue;
      if (c->errfd >= 0) settle(c); /* the pipe holds the outcome of the exec: report it first */
      if (c->id > 0) {
        long code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        long sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        sendf("{\"t\":\"exit\",\"id\":%ld,\"code\":%ld,\"sig\":%ld}\n", c->id, code, sig);
      }
      forget(c);
      break;
    }
  }
}

static void handle(char *line, size_t len) {
  /* Node's own messages to us (NODE_HANDLE_ACK for the descriptors we sent) are objects: not requests. */
  if (len > 0 && line[0] == '{') return;
  static char buf[MAX_LINE];
  if (len < 2 || line[0] != '"' || line[len - 1] != '"') goto malformed;
  int n = decode_b64(line + 1, len - 2, buf);
  if (n <= 0 || buf[n - 1] != 0) goto malformed;
  static char *f[2 * MAX_ARGS + 8];
  int nf = 0;
  for (int i = 0; i < n; i += (int)strlen(buf + i) + 1) {
    if (nf == (int)(sizeof f / sizeof *f)) goto malformed;
    f[nf++] = buf + i;
  }
  long id;
  if (nf < 2 || parse_long(f[1], 1, LONG_MAX, &id) < 0) goto malformed;
  if (strcmp(f[0], "spawn") == 0) {
    spawn_child(id, f + 2, nf - 2);
  } else if (strcmp(f[0], "kill") == 0 && nf == 3) {
    long sig;
    struct child *c = find(id);
    if (parse_long(f[2], 1, NSIG - 1, &sig) < 0) sendf("{\"t\":\"bad\",\"id\":%ld}\n", id, 0, 0);
    else if (c) kill(c->pid, (int)sig); /* unreaped: the pid is still this child's */
  } else {
    sendf("{\"t\":\"bad\",\"id\":%ld}\n", id, 0, 0);
  }
  return;
malformed:
  /* Framing we cannot trust: stop rather than guess (the daemon starts a new spawner). */
  fputs("spawner: malformed request\n", stderr);
  exit(2);
}

int main(void) {
  const char *fdname = getenv("NODE_CHANNEL_FD");
  long fdnum;
  if (!fdname || parse_long(fdname, 3, 1000, &fdnum) < 0) {
    fputs("spawner: must be started by the daemon with an ipc channel (NODE_CHANNEL_FD)\n", stderr);
    return 2;
  }
  chan = (int)fdnum;
  int fl = fcntl(chan, F_GETFL);
  if (fl < 0 || fcntl(chan, F_SETFL, fl & ~O_NONBLOCK) < 0 || fcntl(chan, F_SETFD, FD_CLOEXEC) < 0) die("channel");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (chdir("/") < 0) die("chdir /");
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, 0) < 0) die("sigprocmask");
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");

  static char in[MAX_LINE + 2];
  size_t have = 0;
  static struct pollfd pfd[2 + MAX_CHILDREN];
  static struct child *waiting[MAX_CHILDREN];
  for (;;) {
    int np = 2, nw = 0;
    pfd[0] = (struct pollfd){.fd = chan, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (int i = 0; i < nchildren; i++) {
      if (children[i].errfd < 0) continue;
      waiting[nw++] = &children[i];
      pfd[np++] = (struct pollfd){.fd = children[i].errfd, .events = POLLIN};
    }
    if (poll(pfd, (nfds_t)np, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = 0; i < nw; i++)
      if (pfd[2 + i].revents) settle(waiting[i]);
    if (pfd[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
      reap();
    }
    if (pfd[0].revents) {
      ssize_t r = read(chan, in + have, sizeof in - have);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return 0; /* the daemon is gone: leave the children be */
      have += (size_t)r;
      char *start = in, *nl;
      while ((nl = memchr(start, '\n', have - (size_t)(start - in)))) {
        handle(start, (size_t)(nl - start));
        start = nl + 1;
      }
      have -= (size_t)(start - in);
      memmove(in, start, have);
      if (have == sizeof in) {
        fputs("spawner: request too long\n", stderr);
        return 2;
      }
    }
  }
}
