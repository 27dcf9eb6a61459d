/*
 * ucri-malloc.node: glibc's malloc_trim(0) for the daemon (pkg/sys/malloc.ts).
 *
 * Memory a thread freed stays in glibc's arenas: after a pull, the layer worker thread's arena kept ~10 MiB
 * resident once the thread had ended, and the main arena a few MiB after a burst of stats calls
 * (docs/performance.md, "Pull and memory after load, phase 6"). malloc_trim walks every arena and gives the
 * free pages back (madvise); the daemon calls it when it goes quiet. An addon because node offers no way to
 * reach it, and glibc's MALLOC_* variables would have to be set in every place that starts the daemon.
 *
 * Node-API's ABI is stable, so the few functions used are declared here instead of building against node's
 * headers, which a distribution's node may not ship; they resolve against the node binary at load time.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);

extern napi_status napi_create_function(napi_env env, const char *utf8name, size_t length, napi_callback cb,
                                        void *data, napi_value *result);
extern napi_status napi_set_named_property(napi_env env, napi_value object, const char *utf8name, napi_value value);
extern napi_status napi_get_boolean(napi_env env, bool value, napi_value *result);

/* trim(): true when some memory was given back to the system. */
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out = NULL;
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
  return out;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "trim", (size_t)-1, trim, NULL, &fn) != 0) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != 0) return NULL;
  return exports;
}
