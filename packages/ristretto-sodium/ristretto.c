// The ristretto255 operations a mint does for every credit, from the
// system's libsodium: about twice as fast as the same library compiled to
// WebAssembly (docs/decisions.md). Each function takes and returns
// Uint8Arrays and throws where libsodium refuses, as libsodium-wrappers does,
// so the mint wraps both the same way.

#include <node_api.h>
#include <sodium.h>
#include <string.h>

#define POINT crypto_core_ristretto255_BYTES
#define SCALAR crypto_core_ristretto255_SCALARBYTES
#define HASH crypto_core_ristretto255_HASHBYTES

// The bytes of a Uint8Array argument of exactly `want` bytes, or NULL with a TypeError pending.
static const unsigned char *bytes_arg(napi_env env, napi_value value, size_t want, const char *name) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, NULL, name);
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      length != want) {
    napi_throw_type_error(env, NULL, name);
    return NULL;
  }
  return data;
}

// libsodium 1.0.18 (Debian 12's) accepts a point encoding with its top bit
// set, which RFC 9496 refuses as non-canonical and later libsodium refuses
// too. Refusing it here keeps this addon byte for byte with the other backends.
static bool top_bit_set(const unsigned char *point) {
  return (point[POINT - 1] & 0x80) != 0;
}

static napi_value new_bytes(napi_env env, const unsigned char *src, size_t length) {
  void *data;
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, length, &data, &buffer) != napi_ok) return NULL;
  memcpy(data, src, length);
  if (napi_create_typedarray(env, napi_uint8_array, length, buffer, 0, &array) != napi_ok) return NULL;
  return array;
}

// `out` as a new Uint8Array where libsodium succeeded (status 0), else an Error saying `refusal`.
static napi_value answer(napi_env env, int status, const unsigned char *out, const char *refusal) {
  if (status != 0) {
    napi_throw_error(env, NULL, refusal);
    return NULL;
  }
  return new_bytes(env, out, POINT);
}

static size_t get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t max) {
  size_t argc = max;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  for (size_t i = argc; i < max; i++) napi_get_undefined(env, &argv[i]);
  return argc;
}

static napi_value from_hash(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  const unsigned char *h = bytes_arg(env, argv[0], HASH, "expected 64 bytes");
  if (!h) return NULL;
  unsigned char out[POINT];
  crypto_core_ristretto255_from_hash(out, h);
  return new_bytes(env, out, POINT);
}

static napi_value scalarmult(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  get_args(env, info, argv, 2);
  const unsigned char *n = bytes_arg(env, argv[0], SCALAR, "expected a 32-byte scalar");
  if (!n) return NULL;
  const unsigned char *p = bytes_arg(env, argv[1], POINT, "expected a 32-byte point");
  if (!p) return NULL;
  unsigned char out[POINT];
  int status = top_bit_set(p) ? -1 : crypto_scalarmult_ristretto255(out, n, p);
  return answer(env, status, out, "invalid point or identity result");
}

static napi_value scalarmult_base(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  const unsigned char *n = bytes_arg(env, argv[0], SCALAR, "expected a 32-byte scalar");
  if (!n) return NULL;
  unsigned char out[POINT];
  return answer(env, crypto_scalarmult_ristretto255_base(out, n), out, "identity result");
}

typedef int (*binary_op)(unsigned char *, const unsigned char *, const unsigned char *);

static napi_value binary(napi_env env, napi_callback_info info, binary_op op) {
  napi_value argv[2];
  get_args(env, info, argv, 2);
  const unsigned char *a = bytes_arg(env, argv[0], POINT, "expected a 32-byte point");
  if (!a) return NULL;
  const unsigned char *b = bytes_arg(env, argv[1], POINT, "expected a 32-byte point");
  if (!b) return NULL;
  unsigned char out[POINT];
  int status = top_bit_set(a) || top_bit_set(b) ? -1 : op(out, a, b);
  return answer(env, status, out, "invalid point");
}

static napi_value add(napi_env env, napi_callback_info info) {
  return binary(env, info, crypto_core_ristretto255_add);
}

static napi_value sub(napi_env env, napi_callback_info info) {
  return binary(env, info, crypto_core_ristretto255_sub);
}

static napi_value is_valid_point(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  get_args(env, info, argv, 1);
  const unsigned char *p = bytes_arg(env, argv[0], POINT, "expected a 32-byte point");
  if (!p) return NULL;
  napi_get_boolean(env, !top_bit_set(p) && crypto_core_ristretto255_is_valid_point(p) == 1, &result);
  return result;
}

NAPI_MODULE_INIT() {
  if (sodium_init() < 0) {
    napi_throw_error(env, NULL, "libsodium failed to initialise");
    return NULL;
  }
  const napi_property_descriptor functions[] = {
    {"crypto_core_ristretto255_from_hash", NULL, from_hash, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crypto_scalarmult_ristretto255", NULL, scalarmult, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crypto_scalarmult_ristretto255_base", NULL, scalarmult_base, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crypto_core_ristretto255_add", NULL, add, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crypto_core_ristretto255_sub", NULL, sub, NULL, NULL, NULL, napi_enumerable, NULL},
    {"crypto_core_ristretto255_is_valid_point", NULL, is_valid_point, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
