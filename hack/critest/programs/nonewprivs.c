/*
 * Stand-in of the `nonewprivs` conformance image's program: installed setuid root, it prints the effective uid
 * it runs with. Started as a non-root user, it prints 0 when the kernel honoured the setuid bit and the
 * caller's uid when no_new_privs stopped it from doing so.
 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("Effective uid: %d\n", (int)geteuid());
  return fflush(stdout) == 0 ? 0 : 1;
}
