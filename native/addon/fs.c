/*
 * ucri-fs.node: renameat2(RENAME_EXCHANGE) for the daemon's record writes (pkg/util/exchange.ts), and three
 * file-system walks each run as one job of libuv's thread pool: removeTree and rmdirTrees
 * (pkg/util/remove-tree.ts), makeDirs (pkg/util/make-dirs.ts).
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
 *
 * removeTree(path) removes `path` and, when it is a directory, everything below it, in the thread pool, and
 * resolves its promise with 0 or the errno. node's own `fs.rm(path, { recursive: true })` issues one pool job per
 * lstat, readdir, unlink and rmdir, and each job's dispatch and completion cost the event loop more than the
 * system call itself on this project's VMs (a pool thread woken per call): ~4 ms of the daemon's thread per
 * container removed (docs/performance.md, "Phase 17"). Here the whole walk is one job. It never follows a
 * symlink (names are opened relative to their directory with O_NOFOLLOW, and a symlink is unlinked as a file),
 * and it does not cross into another file system: a directory below on another device (a mount) stops the
 * walk with EXDEV, where node's rm would remove the mount's content (a bind mount of the same file system has
 * the same device and is not told apart; the callers unmount what is below first). A missing `path` is 0, as
 * with rm's `force`. Directories deeper than MAX_DEPTH (each level holds a descriptor) answer ELOOP untouched
 * below that level, for the caller to finish another way.
 *
 * makeDirs(paths, modes) makes the directories `paths[i]` with `modes[i]` (under the umask, as mkdir(2)), in
 * that order, as one job of the pool, and resolves with 0, or with [errno, i] for the first that failed (the
 * ones before it are made). The overlay spares' nine dirs are made this way (pkg/util/make-dirs.ts).
 *
 * rmdirTrees(paths) rmdir's each path after the directories below it (depth first, files left alone), in order,
 * as one job, and resolves with 0 or [errno, i] for the first path that could not be removed (a missing one is
 * removed). Made for cgroup v1 hierarchies, where a container's cgroup is one directory per controller, whose
 * control files go with the rmdir (pkg/oci/state-shortcuts.ts). It never follows a symlink and stays on the
 * path's device.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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

typedef struct napi_async_work__ *napi_async_work;
typedef struct napi_deferred__ *napi_deferred;
typedef void (*napi_async_execute_callback)(napi_env env, void *data);
typedef void (*napi_async_complete_callback)(napi_env env, napi_status status, void *data);
extern napi_status napi_create_async_work(napi_env env, napi_value async_resource, napi_value async_resource_name,
                                          napi_async_execute_callback execute, napi_async_complete_callback complete,
                                          void *data, napi_async_work *result);
extern napi_status napi_queue_async_work(napi_env env, napi_async_work work);
extern napi_status napi_delete_async_work(napi_env env, napi_async_work work);
extern napi_status napi_create_promise(napi_env env, napi_deferred *deferred, napi_value *promise);
extern napi_status napi_resolve_deferred(napi_env env, napi_deferred deferred, napi_value resolution);
extern napi_status napi_create_string_utf8(napi_env env, const char *str, size_t length, napi_value *result);
extern napi_status napi_get_array_length(napi_env env, napi_value value, uint32_t *result);
extern napi_status napi_get_element(napi_env env, napi_value object, uint32_t index, napi_value *result);
extern napi_status napi_get_value_uint32(napi_env env, napi_value value, uint32_t *result);
extern napi_status napi_create_array_with_length(napi_env env, size_t length, napi_value *result);
extern napi_status napi_set_element(napi_env env, napi_value object, uint32_t index, napi_value value);

/* Paths longer than this are refused (ENAMETOOLONG), as the kernel would refuse them. */
#define PATH_BYTES 4096

static bool arg_path(napi_env env, napi_value v, char *buf) {
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, PATH_BYTES, &got) != 0) {
    napi_throw_error(env, "ERR_INVALID_ARG_TYPE", "paths must be strings");
    return false;
  }
  if (got >= PATH_BYTES - 1 || strlen(buf) != got) {
    napi_throw_error(env, got >= PATH_BYTES - 1 ? "ENAMETOOLONG" : "ERR_INVALID_ARG_VALUE",
                     "path too long or holding a NUL byte");
    return false;
  }
  return true;
}

/* The arguments of a call, exactly `want` of them; else throws with `usage`. */
static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc != want) {
    napi_throw_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return false;
  }
  return true;
}

/* exchange(a, b): 0, or the errno (EISDIR when `b` is not a regular file). */
static napi_value exchange(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "exchange: two paths expected")) return NULL;
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

/* Directory levels removeTree and rmdirTrees descend (one open descriptor each) before they answer ELOOP. */
#define MAX_DEPTH 64
/* At most this many paths per makeDirs or rmdirTrees call. */
#define MAX_DIRS 32

/* A zeroed job of `size` bytes; NULL after throwing when memory ran out. */
static void *new_job(napi_env env, size_t size) {
  void *job = calloc(1, size);
  if (job == NULL) napi_throw_error(env, "ENOMEM", "out of memory");
  return job;
}

/* Opens the directory `name` of `parent` without following a symlink: the descriptor, or -errno (-ENOENT when
 * it is gone, -EXDEV when `dev` is not 0 and it is on another device, -ELOOP past MAX_DEPTH). `*dev_out` is its
 * device. */
static int open_dir_at(int parent, const char *name, dev_t dev, int depth, dev_t *dev_out) {
  if (depth >= MAX_DEPTH) return -ELOOP;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  int e = fstat(fd, &st) != 0 ? errno : dev != 0 && st.st_dev != dev ? EXDEV : 0;
  if (e != 0) {
    close(fd);
    return -e;
  }
  *dev_out = st.st_dev;
  return fd;
}

typedef int (*entry_fn)(int dirfd, const struct dirent *ent, dev_t dev, int depth);

/* Calls `fn` for each entry of the directory open as `fd` but . and .., until one answers an errno; closes it. */
static int each_entry(int fd, dev_t dev, int depth, entry_fn fn) {
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int e = errno;
    close(fd);
    return e;
  }
  int e = 0;
  for (;;) {
    errno = 0;
    struct dirent *ent = readdir(dir);
    if (ent == NULL) {
      e = errno;
      break;
    }
    const char *n = ent->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    e = fn(dirfd(dir), ent, dev, depth);
    if (e != 0) break;
  }
  closedir(dir);
  return e;
}

/* removeTree's step: removes the entry `ent` of `dirfd`, a directory with all below it (d_type DT_UNKNOWN: the
 * unlink tells). */
static int remove_entry(int dirfd, const struct dirent *ent, dev_t dev, int depth) {
  if (ent->d_type != DT_DIR) {
    if (unlinkat(dirfd, ent->d_name, 0) == 0 || errno == ENOENT) return 0;
    /* unlink(2) of a directory: EISDIR on Linux. Anything else is the answer. */
    if (errno != EISDIR) return errno;
  }
  dev_t own = 0;
  int fd = open_dir_at(dirfd, ent->d_name, dev, depth, &own);
  if (fd < 0) return fd == -ENOENT ? 0 : -fd;
  int e = each_entry(fd, own, depth + 1, remove_entry);
  if (e != 0) return e;
  return unlinkat(dirfd, ent->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : errno;
}

/* rmdirTrees' step: rmdir's the directory `name` of `parent` after the directories below it. */
static int rmdir_tree_at(int parent, const char *name, dev_t dev, int depth);

static int rmdir_entry(int dirfd, const struct dirent *ent, dev_t dev, int depth) {
  return ent->d_type == DT_DIR ? rmdir_tree_at(dirfd, ent->d_name, dev, depth) : 0;
}

static int rmdir_tree_at(int parent, const char *name, dev_t dev, int depth) {
  dev_t own = 0;
  int fd = open_dir_at(parent, name, dev, depth, &own);
  if (fd < 0) return fd == -ENOENT ? 0 : -fd;
  int e = each_entry(fd, own, depth + 1, rmdir_entry);
  if (e != 0) return e;
  return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : errno;
}

/* One call's work: its paths (one for removeTree), modes (makeDirs) and answer. */
struct job {
  napi_async_work work;
  napi_deferred deferred;
  int rc;
  uint32_t failed;
  uint32_t count;
  mode_t modes[MAX_DIRS];
  char paths[MAX_DIRS][PATH_BYTES];
};

/* In a pool thread, as every execute below: no Node-API calls. */
static void remove_execute(napi_env env, void *data) {
  (void)env;
  struct job *job = data;
  const char *p = job->paths[0];
  struct stat st;
  if (lstat(p, &st) != 0) {
    job->rc = errno == ENOENT ? 0 : errno;
  } else if (!S_ISDIR(st.st_mode)) {
    job->rc = unlink(p) == 0 || errno == ENOENT ? 0 : errno;
  } else {
    dev_t own = 0;
    int fd = open_dir_at(AT_FDCWD, p, st.st_dev, 0, &own);
    job->rc = fd == -ENOENT ? 0 : fd < 0 ? -fd : each_entry(fd, own, 1, remove_entry);
    if (job->rc == 0 && rmdir(p) != 0 && errno != ENOENT) job->rc = errno;
  }
}

static void mkdirs_execute(napi_env env, void *data) {
  (void)env;
  struct job *job = data;
  for (uint32_t i = 0; i < job->count && job->rc == 0; i++) {
    if (mkdir(job->paths[i], job->modes[i]) != 0) {
      job->rc = errno;
      job->failed = i;
    }
  }
}

static void rmdirs_execute(napi_env env, void *data) {
  (void)env;
  struct job *job = data;
  for (uint32_t i = 0; i < job->count && job->rc == 0; i++) {
    job->rc = rmdir_tree_at(AT_FDCWD, job->paths[i], 0, 0);
    job->failed = i;
  }
}

/* removeTree's answer: 0 or the errno. A job the environment cancelled (shutdown) did not run: ECANCELED. */
static void errno_complete(napi_env env, napi_status status, void *data) {
  struct job *job = data;
  napi_value rc = NULL;
  napi_create_int32(env, status == 0 ? job->rc : ECANCELED, &rc);
  napi_resolve_deferred(env, job->deferred, rc);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* makeDirs' and rmdirTrees' answer: 0, or [errno, index of the path that failed]. */
static void indexed_complete(napi_env env, napi_status status, void *data) {
  struct job *job = data;
  napi_value out = NULL, rc = NULL, at = NULL;
  int e = status == 0 ? job->rc : ECANCELED;
  if (e == 0) {
    napi_create_int32(env, 0, &out);
  } else {
    napi_create_array_with_length(env, 2, &out);
    napi_create_int32(env, e, &rc);
    napi_create_int32(env, status == 0 ? (int32_t)job->failed : 0, &at);
    napi_set_element(env, out, 0, rc);
    napi_set_element(env, out, 1, at);
  }
  napi_resolve_deferred(env, job->deferred, out);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* Queues `job` and returns its promise; frees it and throws on failure. */
static napi_value queue_job(napi_env env, struct job *job, napi_async_execute_callback execute,
                            napi_async_complete_callback complete) {
  napi_value name = NULL, promise = NULL;
  if (napi_create_string_utf8(env, "ucri.fs", (size_t)-1, &name) != 0 ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != 0) {
    free(job);
    napi_throw_error(env, NULL, "could not create the job");
    return NULL;
  }
  if (napi_create_promise(env, &job->deferred, &promise) != 0 || napi_queue_async_work(env, job->work) != 0) {
    napi_delete_async_work(env, job->work);
    free(job);
    napi_throw_error(env, NULL, "could not queue the job");
    return NULL;
  }
  return promise;
}

/* The paths of the array `v` (at most MAX_DIRS) into `job`; false after throwing. */
static bool arg_paths(napi_env env, napi_value v, struct job *job) {
  if (napi_get_array_length(env, v, &job->count) != 0 || job->count > MAX_DIRS) {
    napi_throw_error(env, "ERR_INVALID_ARG_TYPE", "an array of at most 32 paths expected");
    return false;
  }
  for (uint32_t i = 0; i < job->count; i++) {
    napi_value p = NULL;
    if (napi_get_element(env, v, i, &p) != 0 || !arg_path(env, p, job->paths[i])) return false;
  }
  return true;
}

/* removeTree's and rmdirTrees' entry: one argument, a path (`many` false) or an array of paths. */
static napi_value paths_job(napi_env env, napi_callback_info info, bool many, const char *usage,
                            napi_async_execute_callback execute, napi_async_complete_callback complete) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, usage)) return NULL;
  struct job *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->count = 1;
  if (many ? !arg_paths(env, argv[0], job) : !arg_path(env, argv[0], job->paths[0])) {
    free(job);
    return NULL;
  }
  return queue_job(env, job, execute, complete);
}

/* removeTree(path): a promise of 0 or the errno. */
static napi_value remove_tree(napi_env env, napi_callback_info info) {
  return paths_job(env, info, false, "removeTree: one path expected", remove_execute, errno_complete);
}

/* makeDirs(paths, modes): a promise of 0, or of [errno, index] for the first mkdir that failed. */
static napi_value make_dirs(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "makeDirs: paths and modes expected")) return NULL;
  struct job *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  uint32_t modes = 0;
  if (!arg_paths(env, argv[0], job)) {
    free(job);
    return NULL;
  }
  bool ok = napi_get_array_length(env, argv[1], &modes) == 0 && modes == job->count;
  for (uint32_t i = 0; ok && i < job->count; i++) {
    napi_value mode = NULL;
    uint32_t bits = 0;
    ok = napi_get_element(env, argv[1], i, &mode) == 0 && napi_get_value_uint32(env, mode, &bits) == 0 &&
         bits <= 07777;
    job->modes[i] = (mode_t)bits;
  }
  if (!ok) {
    free(job);
    napi_throw_error(env, "ERR_INVALID_ARG_VALUE", "makeDirs: one mode (permission bits) per path expected");
    return NULL;
  }
  return queue_job(env, job, mkdirs_execute, indexed_complete);
}

/* rmdirTrees(paths): a promise of 0, or of [errno, index] for the first path that could not be removed. */
static napi_value rmdir_trees(napi_env env, napi_callback_info info) {
  return paths_job(env, info, true, "rmdirTrees: an array of paths expected", rmdirs_execute, indexed_complete);
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  return export_function(env, exports, "exchange", exchange) &&
                 export_function(env, exports, "removeTree", remove_tree) &&
                 export_function(env, exports, "makeDirs", make_dirs) &&
                 export_function(env, exports, "rmdirTrees", rmdir_trees)
             ? exports
             : NULL;
}
