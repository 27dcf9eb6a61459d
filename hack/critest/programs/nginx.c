/*
 * Stand-in of the nginx conformance images, as far as the CRI validation suite looks at them: a process whose
 * name is `nginx` and whose command line says "master process", which writes its pid to /var/run/nginx.pid and
 * serves /usr/share/nginx/html over HTTP (busybox httpd does the serving, as its child). The port is $NGINX_PORT
 * (default 80). Signals that stop a container are passed on to the server; the master exits with it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SELF "/usr/sbin/nginx"
#define TITLE "nginx: master process " SELF " -g daemon off;"

static pid_t server;

static void forward(int sig) {
  if (server > 0) kill(server, sig);
}

int main(int argc, char **argv) {
  (void)argc;
  /* Re-executed once so that argv[0], which is what /proc/<pid>/cmdline shows, reads like nginx's master. */
  if (strstr(argv[0], "master process") == NULL) {
    char *title[] = {TITLE, NULL};
    execv(SELF, title);
    perror("nginx: exec " SELF);
    return 127;
  }
  const char *port = getenv("NGINX_PORT");
  if (port == NULL || *port == '\0') port = "80";
  mkdir("/var/run", 0755);
  FILE *pidfile = fopen("/var/run/nginx.pid", "w");
  if (pidfile == NULL || fprintf(pidfile, "%d\n", (int)getpid()) < 0 || fclose(pidfile) != 0) {
    perror("nginx: /var/run/nginx.pid");
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  server = fork();
  if (server < 0) {
    perror("nginx: fork");
    return 1;
  }
  if (server == 0) {
    execl("/bin/busybox", "httpd", "-f", "-p", port, "-h", "/usr/share/nginx/html", (char *)NULL);
    perror("nginx: exec /bin/busybox httpd");
    _exit(127);
  }
  for (;;) {
    int status;
    pid_t got = waitpid(-1, &status, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return 1;
    if (got != server) continue; /* an orphan reaped as pid 1 */
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }
}
