/*
 * pause: the process of a pod's infra container when the pod shares one PID namespace. As PID 1 of that
 * namespace it must do two things only: stay alive without starting anything (a `sleep` child would be seen by
 * every container of the pod, e.g. by `pgrep sleep`), and reap the zombies that exec'd and re-parented
 * processes leave behind. SIGTERM or SIGINT end it with status 0 (PID 1 ignores signals it has no handler for).
 * Built statically (see the Makefile): the infra rootfs holds no libc.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {0};
  stop.sa_handler = on_stop;
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);
  struct sigaction child = {0};
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
}
