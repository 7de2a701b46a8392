export function crypto_core_ristretto255_from_hash(hash64: Uint8Array): Uint8Array;
export function crypto_scalarmult_ristretto255(scalar: Uint8Array, point: Uint8Array): Uint8Array;
export function crypto_scalarmult_ristretto255_base(scalar: Uint8Array): Uint8Array;
export function crypto_core_ristretto255_add(a: Uint8Array, b: Uint8Array): Uint8Array;
export function crypto_core_ristretto255_sub(a: Uint8Array, b: Uint8Array): Uint8Array;
export function crypto_core_ristretto255_is_valid_point(point: Uint8Array): boolean;
