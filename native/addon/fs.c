/*
 * ucri-fs.node: renameat2(RENAME_EXCHANGE) for the daemon's record writes (pkg/util/exchange.ts).
 *
 * exchange(a, b) swaps the two names in one step: afterwards `b` names what `a` named and `a` what `b` named.
 * ucri replaces a record by writing a temp file beside it and renaming the temp over it. On ext4 that rename
 * costs the event loop two waits when the old file had blocks: the old inode is freed inside the rename (with
 * the `discard` mount option, the freed blocks are discarded there, waiting for the device), and the new file's
 * delayed blocks are allocated and their writeback started (ext4's `auto_da_alloc` heuristic for a rename over
 * an existing file). An exchange does neither: the old file lives on under the temp name, and the daemon
 * unlinks it in the thread pool (docs/performance.md, "Phase 16").
 *
 * Node has no binding for renameat2, hence the addon. As memory.c does, it declares the few Node-API functions
 * it uses (napi.h) instead of including node's headers (stable ABI, resolved against the node binary at load
 * time).
 * exchange returns 0 or the errno (ENOENT where either name is missing, EINVAL where the file system cannot
 * exchange) rather than throwing: the caller's usual case for a failure is a first write, whose target does not
 * exist yet, and it then renames; an exception would cost more than the syscall. Only arguments that are not
 * two paths throw. The daemon calls it from its main thread only (the path buffers are static).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "napi.h"

extern napi_status napi_get_cb_info(napi_env env, napi_callback_info cbinfo, size_t *argc, napi_value *argv,
                                    napi_value *this_arg, void **data);
extern napi_status napi_get_value_string_utf8(napi_env env, napi_value value, char *buf, size_t bufsize,
                                              size_t *result);
extern napi_status napi_throw_error(napi_env env, const char *code, const char *msg);
extern napi_status napi_create_int32(napi_env env, int32_t value, napi_value *result);

/* Paths longer than this are refused (ENAMETOOLONG), as the kernel would refuse them. */
#define PATH_BYTES 4096

static bool arg_path(napi_env env, napi_value v, char *buf) {
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, PATH_BYTES, &got) != 0) {
    napi_throw_error(env, "ERR_INVALID_ARG_TYPE", "exchange: paths must be strings");
    return false;
  }
  if (got >= PATH_BYTES - 1 || strlen(buf) != got) {
    napi_throw_error(env, got >= PATH_BYTES - 1 ? "ENAMETOOLONG" : "ERR_INVALID_ARG_VALUE",
                     "exchange: path too long or holding a NUL byte");
    return false;
  }
  return true;
}

/* exchange(a, b): 0, or the errno (EISDIR when `b` is not a regular file). */
static napi_value exchange(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != 2) {
    napi_throw_error(env, "ERR_INVALID_ARG_TYPE", "exchange: two paths expected");
    return NULL;
  }
  static char a[PATH_BYTES], b[PATH_BYTES];
  if (!arg_path(env, argv[0], a) || !arg_path(env, argv[1], b)) return NULL;
  /* Only over a regular file, as a rename of a file would replace it: a rename over a directory fails, which
   * an exchange would not (the caller then renames, and gets that failure). */
  struct stat st;
  int rc;
  if (lstat(b, &st) != 0) rc = errno;
  else if (!S_ISREG(st.st_mode)) rc = EISDIR;
  else rc = syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0 ? 0 : errno;
  napi_value out = NULL;
  napi_create_int32(env, rc, &out);
  return out;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  return export_function(env, exports, "exchange", exchange) ? exports : NULL;
}
