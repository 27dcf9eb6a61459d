/*
 * The part of Node-API that ucri's addons use (memory.c, fs.c), declared here instead of including node's
 * headers, which a distribution's node may not ship. Node-API's ABI is stable: the functions resolve against
 * the node binary when the addon loads. Each addon declares any further function it calls itself.
 */
#ifndef UCRI_ADDON_NAPI_H
#define UCRI_ADDON_NAPI_H

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

/* Exports `cb` as `name` on `exports`; false when Node-API refused. */
static inline bool export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, (size_t)-1, cb, NULL, &fn) == 0 &&
         napi_set_named_property(env, exports, name, fn) == 0;
}

#endif
