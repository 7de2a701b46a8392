// HMAC-SHA256 (RFC 2104) built over a backend's own SHA-256: what the
// pure-JS backends give as CryptoBackend.hmacSha256. node.ts has OpenSSL's
// HMAC instead, and the tests hold both to @noble/hashes' own.

const BLOCK = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

export function hmacSha256Over(sha256: (data: Uint8Array) => Uint8Array, key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? sha256(key) : key);
  const inner = new Uint8Array(BLOCK + data.length);
  const outer = new Uint8Array(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = k[i]! ^ IPAD;
    outer[i] = k[i]! ^ OPAD;
  }
  inner.set(data, BLOCK);
  outer.set(sha256(inner), BLOCK);
  return sha256(outer);
}
