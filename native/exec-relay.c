/*
 * exec-relay: runs `<runtime> exec --detach ...` for one streaming exec session and stays the parent of the
 * exec'd process, so that ucri learns its exit status and the process is reaped, never left a zombie.
 *
 *   exec-relay -p PIDFILE [-c CONSOLE_SOCKET] -- RUNTIME ARGS...
 *
 * The runtime's argv must carry the same `--pid-file PIDFILE` (and `--tty --console-socket CONSOLE_SOCKET`
 * for a terminal). We become a child subreaper first, so when the detached runtime exits its exec'd process
 * is re-parented to us.
 *
 * Without a terminal the process inherits our fds 0, 1 and 2 (the runtime passes them through), and we drop
 * our own copies so end-of-file reaches ucri only from the process. With a terminal we receive the pty
 * master over the console socket (SCM_RIGHTS) and relay fd 0 → master and master → fd 1.
 *
 * fd 3 is the control socket to ucri. We write "pid N\n" once the process runs, "exit N\n" when it has been
 * reaped (N = status, or 128 + signal), or "error <text>\n" when the runtime failed. ucri writes
 * "resize H W\n" lines; end-of-file on fd 3 means ucri is gone: the process is killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "write-all.h"

#define CTL 3
#define MAX_REAPED 64

static pid_t reaped_pid[MAX_REAPED];
static int reaped_status[MAX_REAPED];
static int n_reaped;

static void ctl_printf(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n >= (int)sizeof buf) n = sizeof buf - 1;
  for (int off = 0; off < n;) {
    ssize_t w = write(CTL, buf + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += w;
  }
}

static void fail(const char *what) {
  ctl_printf("error %s: %s\n", what, strerror(errno));
  exit(1);
}

static int code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

/* Reaps every child that has exited; remembers their statuses. */
static void reap_all(void) {
  for (;;) {
    int status;
    pid_t p = waitpid(-1, &status, WNOHANG);
    if (p <= 0) return;
    if (n_reaped < MAX_REAPED) {
      reaped_pid[n_reaped] = p;
      reaped_status[n_reaped] = status;
      n_reaped++;
    }
  }
}

static int find_reaped(pid_t p, int *status) {
  for (int i = 0; i < n_reaped; i++) {
    if (reaped_pid[i] == p) {
      *status = reaped_status[i];
      return 1;
    }
  }
  return 0;
}

static int recv_fd(int sock) {
  char data[1];
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  errno = EBADMSG;
  return -1;
}

/* Applies "resize H W" lines from the control buffer; returns 0 when fd 3 reached end-of-file. */
static int read_ctl(int master, char *buf, size_t *len, size_t cap) {
  ssize_t n = read(CTL, buf + *len, cap - *len - 1);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) return 0;
  *len += (size_t)n;
  buf[*len] = 0;
  char *line = buf, *nl;
  while ((nl = strchr(line, '\n')) != NULL) {
    *nl = 0;
    unsigned h, w;
    if (master >= 0 && sscanf(line, "resize %u %u", &h, &w) == 2) {
      struct winsize ws = {.ws_row = (unsigned short)h, .ws_col = (unsigned short)w};
      ioctl(master, TIOCSWINSZ, &ws);
    }
    line = nl + 1;
  }
  *len -= (size_t)(line - buf);
  memmove(buf, line, *len);
  if (*len >= cap - 1) *len = 0; /* an over-long line is dropped */
  return 1;
}

int main(int argc, char **argv) {
  const char *pidfile = NULL, *console = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) pidfile = argv[++i];
    else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) console = argv[++i];
    else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else {
      fprintf(stderr, "usage: exec-relay -p PIDFILE [-c CONSOLE_SOCKET] -- RUNTIME ARGS...\n");
      return 2;
    }
  }
  if (!pidfile || i >= argc) {
    fprintf(stderr, "usage: exec-relay -p PIDFILE [-c CONSOLE_SOCKET] -- RUNTIME ARGS...\n");
    return 2;
  }
  if (fcntl(CTL, F_GETFD) < 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) fail("subreaper");

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) fail("signalfd");

  int lsock = -1;
  if (console) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(console) >= sizeof addr.sun_path) {
      errno = ENAMETOOLONG;
      fail("console socket");
    }
    strcpy(addr.sun_path, console);
    lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lsock, 1) < 0) {
      fail("console socket");
    }
  }

  pid_t runtime = fork();
  if (runtime < 0) fail("fork");
  if (runtime == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    close(CTL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(argv[i], argv + i);
    _exit(127);
  }
  if (!console) {
    /* The process holds fds 0-2 now; ours would keep ucri from seeing their end. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2; fd++) dup3(null, fd, 0);
    close(null);
  }

  int master = -1;
  int runtime_status = -1;
  pid_t exec_pid = 0;
  int exec_status = 0, exec_done = 0;
  int stdin_open = console != NULL, master_open = 0;
  char ctl_buf[256];
  size_t ctl_len = 0;
  char io[32768];

  for (;;) {
    struct pollfd p[5];
    int np = 0;
    p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = CTL, .events = POLLIN};
    int li = -1, mi = -1, si = -1;
    if (lsock >= 0 && master < 0) {
      li = np;
      p[np++] = (struct pollfd){.fd = lsock, .events = POLLIN};
    }
    if (master_open) {
      mi = np;
      p[np++] = (struct pollfd){.fd = master, .events = POLLIN};
    }
    if (master_open && stdin_open && exec_pid > 0) {
      si = np;
      p[np++] = (struct pollfd){.fd = 0, .events = POLLIN};
    }
    /* After the process exited, wait briefly for the rest of its terminal output, then finish. */
    int timeout = exec_done ? 100 : -1;
    int n = poll(p, (nfds_t)np, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("poll");
    if (n == 0 && exec_done) break;

    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si_info;
      while (read(sfd, &si_info, sizeof si_info) == sizeof si_info) {
        if (si_info.ssi_signo == SIGTERM && exec_pid > 0) kill(exec_pid, SIGKILL);
      }
      reap_all();
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!read_ctl(master, ctl_buf, &ctl_len, sizeof ctl_buf)) {
        /* ucri is gone: nobody will read the output or the status. */
        if (exec_pid > 0) kill(exec_pid, SIGKILL);
        else kill(runtime, SIGKILL);
        exit(1);
      }
    }
    if (li >= 0 && (p[li].revents & POLLIN)) {
      int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        master = recv_fd(c);
        close(c);
        if (master < 0) fail("receive terminal");
        master_open = 1;
        close(lsock);
        lsock = -1;
        unlink(console);
      }
    }
    if (mi >= 0 && (p[mi].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(master, io, sizeof io);
      if (r > 0) {
        if (write_all(1, io, (size_t)r) < 0) master_open = 0;
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        master_open = 0; /* EIO: every slave fd is closed */
      }
    }
    if (si >= 0 && (p[si].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(0, io, sizeof io);
      if (r > 0) {
        write_all(master, io, (size_t)r);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        stdin_open = 0;
        /* A terminal has no half-close: end-of-file is ^D at the start of a line, as a typing user sends. */
        write_all(master, "\x04", 1);
      }
    }

    if (runtime_status < 0 && find_reaped(runtime, &runtime_status)) {
      if (runtime_status != 0) {
        ctl_printf("error runtime exited with status %d\n", code_of(runtime_status));
        exit(1);
      }
      FILE *f = fopen(pidfile, "r");
      int v = 0;
      if (!f || fscanf(f, "%d", &v) != 1 || v <= 0) fail("read pid file");
      fclose(f);
      exec_pid = v;
      ctl_printf("pid %d\n", exec_pid);
    }
    if (exec_pid > 0 && !exec_done && find_reaped(exec_pid, &exec_status)) {
      exec_done = 1;
      if (!master_open) break;
    }
    if (exec_done && !master_open) break;
  }
  ctl_printf("exit %d\n", code_of(exec_status));
  return 0;
}
