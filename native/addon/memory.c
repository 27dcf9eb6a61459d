/*
 * ucri-memory.node: two ways for the daemon to give memory back when it goes quiet (pkg/sys/memory.ts).
 *
 * trim(): glibc's malloc_trim(0). Memory a thread freed stays in glibc's arenas: after a pull, the layer worker
 * thread's arena kept ~10 MiB resident once the thread had ended, and the main arena a few MiB after a burst of
 * stats calls (docs/performance.md, "Pull and memory after load, phase 6"). malloc_trim walks every arena and
 * gives the free pages back (madvise).
 *
 * lowMemory(): V8's public `v8::Isolate::LowMemoryNotification()` for the calling thread's isolate: full
 * collections in V8's memory-reducing mode until one frees nothing more, then the young generation shrunk and
 * the pooled pages unmapped. node's `gc()` (--expose-gc) runs an ordinary full collection, which leaves those;
 * V8's own memory reducer gives them back ~8 s after a collection. Asking for it at once puts the daemon at that
 * level when it goes quiet (docs/performance.md, "Idle memory, phase 14").
 *
 * Both are reached from an addon because node offers no way to them (glibc's MALLOC_* variables would have to be
 * set in every place that starts the daemon). Node-API's ABI is stable, so the few functions used are declared
 * (napi.h) instead of building against node's headers, which a distribution's node may not ship; they resolve
 * against the node binary at load time. The two V8 functions are looked up with dlsym when the addon loads, by
 * their Itanium C++ ABI names, and called as plain functions with the isolate as first argument (how that ABI
 * passes `this` to a non-virtual member function). A node binary that does not export them gets no `lowMemory`
 * export and the daemon falls back to `gc()`: nothing is ever called that did not resolve.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>

#include "napi.h"

extern napi_status napi_get_boolean(napi_env env, bool value, napi_value *result);

/* v8::Isolate::GetCurrent() and v8::Isolate::LowMemoryNotification(), as the Itanium C++ ABI names them. */
static void *(*isolate_get_current)(void);
static void (*isolate_low_memory_notification)(void *isolate);

/* trim(): true when some memory was given back to the system. */
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out = NULL;
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
  return out;
}

/* lowMemory(): true when the calling thread has an isolate and V8 was told; exported only when both resolved. */
static napi_value low_memory(napi_env env, napi_callback_info info) {
  (void)info;
  void *isolate = isolate_get_current();
  if (isolate != NULL) isolate_low_memory_notification(isolate);
  napi_value out = NULL;
  napi_get_boolean(env, isolate != NULL, &out);
  return out;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  if (!export_function(env, exports, "trim", trim)) return NULL;
  *(void **)&isolate_get_current = dlsym(RTLD_DEFAULT, "_ZN2v87Isolate10GetCurrentEv");
  *(void **)&isolate_low_memory_notification = dlsym(RTLD_DEFAULT, "_ZN2v87Isolate21LowMemoryNotificationEv");
  if (isolate_get_current != NULL && isolate_low_memory_notification != NULL) {
    if (!export_function(env, exports, "lowMemory", low_memory)) return NULL;
  }
  return exports;
}
