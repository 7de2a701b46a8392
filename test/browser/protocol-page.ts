// Runs in Chromium: protocol/ checked against the same vectors as in Node,
// with the browser's crypto backend (tweetnacl), plus a short fuzz and a real
// unit run. Results go to window.__results for the Node side to assert on.

import fc from 'fast-check';
import { decode, encode } from '../../protocol/bencode.ts';
import { equalBytes, fromHex, toHex } from '../../protocol/bytes.ts';
import type { Domain } from '../../protocol/constants.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { signDomain, verifyDomain } from '../../protocol/crypto/sign.ts';
import { DecodeError } from '../../protocol/errors.ts';
import { encodeManifest, openManifest } from '../../protocol/manifest.ts';
import { decodeMessage, encodeMessage, isSignedMessage, verifyMessage } from '../../protocol/messages/index.ts';
import type { SignedMessage } from '../../protocol/messages/index.ts';
import { prepareUnitModule } from '../../protocol/unit-module.ts';
import { runUnit } from '../../protocol/unit.ts';
import ed25519 from '../vectors/ed25519.json' with { type: 'json' };
import manifestVector from '../vectors/manifest.json' with { type: 'json' };
import messages from '../vectors/messages.json' with { type: 'json' };
import x25519 from '../vectors/x25519.json' with { type: 'json' };

type Result = { name: string; ok: boolean; detail?: string };
const results: Result[] = [];

function check(name: string, fn: () => boolean | void): void {
  try {
    const ok = fn();
    results.push({ name, ok: ok !== false });
  } catch (error) {
    results.push({ name, ok: false, detail: String(error) });
  }
}

function throwsNamed(fn: () => unknown, name: string): boolean {
  try {
    fn();
    return false;
  } catch (error) {
    return (error as Error).name === name;
  }
}

const nacl = naclCrypto;

for (const v of ed25519.rfc8032) {
  check(`ed25519 ${v.name}`, () => {
    const seed = fromHex(v.seed);
    const message = fromHex(v.message);
    return (
      toHex(nacl.ed25519PublicKey(seed)) === v.publicKey &&
      toHex(nacl.ed25519Sign(seed, message)) === v.signature &&
      nacl.ed25519Verify(fromHex(v.publicKey), message, fromHex(v.signature))
    );
  });
}
for (const [i, v] of ed25519.domainSeparated.entries()) {
  check(`ed25519 domain vector ${i} (${v.domain})`, () => {
    const signature = signDomain(nacl, fromHex(v.seed), v.domain as Domain, fromHex(v.message));
    verifyDomain(nacl, fromHex(v.publicKey), v.domain as Domain, fromHex(v.message), signature);
    return toHex(signature) === v.signature;
  });
}
for (const v of ed25519.edgeCases) {
  check(`ed25519 refuses: ${v.reason}`, () =>
    throwsNamed(
      () => verifyDomain(nacl, fromHex(v.publicKey), v.domain as Domain, fromHex(v.message), fromHex(v.signature)),
      v.expect,
    ),
  );
}
for (const v of x25519.rfc7748.scalarMult) {
  check(`x25519 ${v.name}`, () => toHex(nacl.x25519(fromHex(v.scalar), fromHex(v.u))) === v.output);
}
for (const v of messages.valid) {
  check(`message ${v.name}`, () => {
    const bytes = fromHex(v.encoded);
    const message = decodeMessage(bytes);
    if (isSignedMessage(message)) verifyMessage(nacl, message);
    return equalBytes(encodeMessage(message), bytes);
  });
}
for (const v of messages.invalid) {
  check(`message refuses: ${v.name}`, () =>
    throwsNamed(() => {
      const message = decodeMessage(fromHex(v.hex));
      if (v.stage === 'verify') verifyMessage(nacl, message as SignedMessage);
    }, v.error),
  );
}
check('manifest vector opens and re-encodes', () => {
  const bytes = fromHex(manifestVector.bytes);
  return equalBytes(encodeManifest(openManifest(nacl, bytes)), bytes);
});
check('bencode fuzz: arbitrary bytes decode or raise DecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        const value = decode(bytes);
        return equalBytes(encode(value), bytes);
      } catch (error) {
        return error instanceof DecodeError;
      }
    }),
    { numRuns: 2000 },
  );
});

async function unitRun(): Promise<void> {
  // The Mandelbrot example's unit 10, through the same ABI runner as Node.
  const [wasm, params] = await Promise.all(
    ['unit.wasm', 'params.bin'].map(async (f) => new Uint8Array(await (await fetch(`/mandelbrot/${f}`)).arrayBuffer())),
  );
  const manifest = openManifest(nacl, fromHex(manifestVector.bytes));
  const prepared = await prepareUnitModule(nacl, manifest, wasm!);
  const output = runUnit(prepared.module, {
    unit: 10,
    input: params!,
    memory: prepared.memory,
    maxOutputBytes: manifest.limits.outputBytes,
  });
  (window as unknown as { __unitHash: string }).__unitHash = toHex(nacl.sha256(output));
}

unitRun()
  .then(() => results.push({ name: 'unit runs in the browser', ok: true }))
  .catch((error) => results.push({ name: 'unit runs in the browser', ok: false, detail: String(error) }))
  .finally(() => {
    (window as unknown as { __results: Result[] }).__results = results;
  });
