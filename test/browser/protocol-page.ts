// Runs in Chromium: protocol/ checked against the same vectors as in Node,
// with the browser's crypto backends (noble, and tweetnacl) and credit arithmetic
// (@noble/curves), plus a short fuzz and a real unit run. Results go to
// window.__results for the Node side to assert on.

import fc from 'fast-check';
import { decode, encode } from '../../protocol/bencode.ts';
import { equalBytes, fromHex, toHex } from '../../protocol/bytes.ts';
import type { Domain } from '../../protocol/constants.ts';
import { blind, hashToCurve, proveDleq, signBlinded, unblind, verifyCredit, verifyDleq } from '../../protocol/credits/bdhke.ts';
import { nobleCurve, scalarFromBigint } from '../../protocol/credits/curve.ts';
import { deriveKeyset, keysetFromJson, keysetToJson, splitAmount } from '../../protocol/credits/keyset.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { signDomain, verifyDomain } from '../../protocol/crypto/sign.ts';
import { DecodeError } from '../../protocol/errors.ts';
import { encodeManifest, openManifest } from '../../protocol/manifest.ts';
import { decodeMessage, encodeMessage, isSignedMessage, verifyMessage } from '../../protocol/messages/index.ts';
import type { SignedMessage } from '../../protocol/messages/index.ts';
import { prepareUnitModule } from '../../protocol/unit-module.ts';
import { runUnit } from '../../protocol/unit.ts';
import credits from '../vectors/credits.json' with { type: 'json' };
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

// Both pure-JS backends: noble is the one the extension uses, tweetnacl the
// one the protocol started with; each must give the same bytes as in Node.
for (const backend of [nobleCrypto, naclCrypto]) {
  for (const v of ed25519.rfc8032) {
    check(`${backend.name}: ed25519 ${v.name}`, () => {
      const seed = fromHex(v.seed);
      const message = fromHex(v.message);
      return (
        toHex(backend.ed25519PublicKey(seed)) === v.publicKey &&
        toHex(backend.ed25519Sign(seed, message)) === v.signature &&
        backend.ed25519Verify(fromHex(v.publicKey), message, fromHex(v.signature))
      );
    });
  }
  for (const [i, v] of ed25519.domainSeparated.entries()) {
    check(`${backend.name}: ed25519 domain vector ${i} (${v.domain})`, () => {
      const signature = signDomain(backend, fromHex(v.seed), v.domain as Domain, fromHex(v.message));
      verifyDomain(backend, fromHex(v.publicKey), v.domain as Domain, fromHex(v.message), signature);
      return toHex(signature) === v.signature;
    });
  }
  for (const v of ed25519.edgeCases) {
    check(`${backend.name}: ed25519 refuses: ${v.reason}`, () =>
      throwsNamed(
        () => verifyDomain(backend, fromHex(v.publicKey), v.domain as Domain, fromHex(v.message), fromHex(v.signature)),
        v.expect,
      ),
    );
  }
  for (const v of x25519.rfc7748.scalarMult) {
    check(`${backend.name}: x25519 ${v.name}`, () => toHex(backend.x25519(fromHex(v.scalar), fromHex(v.u))) === v.output);
  }
  for (const v of messages.valid) {
    check(`${backend.name}: message ${v.name}`, () => {
      const bytes = fromHex(v.encoded);
      const message = decodeMessage(bytes);
      if (isSignedMessage(message)) verifyMessage(backend, message);
      return equalBytes(encodeMessage(message), bytes);
    });
  }
  for (const v of messages.invalid) {
    check(`${backend.name}: message refuses: ${v.name}`, () =>
      throwsNamed(() => {
        const message = decodeMessage(fromHex(v.hex));
        if (v.stage === 'verify') verifyMessage(backend, message as SignedMessage);
      }, v.error),
    );
  }
}
// Credits, with the backend wallets and the extension use.
const curve = nobleCurve;
const hex = (bytes: Uint8Array) => toHex(bytes);
const secretOf = (amount: number) => fromHex((credits.keyset.secrets as Record<string, string>)[String(amount)]!);
const keyOf = (amount: number) => fromHex((credits.keyset.keys as Record<string, string>)[String(amount)]!);
const G = fromHex(credits.rfc9496.smallMultiples[0]!.point);
for (const v of credits.rfc9496.smallMultiples) {
  check(`ristretto255 RFC 9496 multiple ${v.point.slice(0, 8)}`, () => hex(curve.mulBase(fromHex(v.scalar))) === v.point);
}
for (const v of credits.rfc9496.elementDerivation) {
  check(`ristretto255 RFC 9496 element derivation: ${v.label}`, () => hex(curve.fromUniform(fromHex(v.uniform))) === v.point);
}
for (const v of credits.hashToCurve) {
  check(`credit hash_to_curve: ${v.name}`, () => hex(hashToCurve(curve, fromHex(v.secret))) === v.Y);
}
check('credit keyset derives from its seed', () => {
  const keyset = deriveKeyset(curve, fromHex(credits.keyset.seed));
  const json = keysetToJson(keyset);
  return (
    json.id === credits.keyset.id &&
    JSON.stringify(json.keys) === JSON.stringify(credits.keyset.keys) &&
    hex(keysetFromJson(curve, json).id) === credits.keyset.id
  );
});
for (const v of credits.credits) {
  check(`credit: ${v.name}`, () => {
    const [x, r, k, K] = [fromHex(v.x), fromHex(v.r), secretOf(v.amount), keyOf(v.amount)];
    const { Y, B } = blind(curve, x, r);
    const C_ = signBlinded(curve, k, B);
    const { e, s } = proveDleq(curve, k, B, C_);
    const C = unblind(curve, C_, r, K);
    return (
      [Y, B, C_, e, s, C].map(hex).join() === [v.Y, v.B, v.C_, v.e, v.s, v.C].join() &&
      verifyDleq(curve, K, B, C_, { e, s }) &&
      verifyCredit(curve, k, x, C)
    );
  });
}
for (const v of credits.negative.credits) {
  check(`credit refused: ${v.name}`, () => !verifyCredit(curve, secretOf(v.amount), fromHex(v.x), fromHex(v.C)));
}
for (const v of credits.negative.proofs) {
  check(`DLEQ proof refused: ${v.name}`, () =>
    !verifyDleq(curve, fromHex(v.K), fromHex(v.B), fromHex(v.C_), { e: fromHex(v.e), s: fromHex(v.s) }),
  );
}
for (const v of credits.negative.notPoints) {
  check(`point refused: ${v.name}`, () => {
    const p = fromHex(v.hex);
    return !curve.isPoint(p) && throwsNamed(() => curve.mul(scalarFromBigint(1n), p), 'KeyError') && throwsNamed(() => curve.add(G, p), 'KeyError');
  });
}
for (const v of credits.negative.notScalars) {
  check(`scalar refused: ${v.name}`, () => throwsNamed(() => curve.mulBase(fromHex(v.hex)), 'KeyError'));
}
for (const v of credits.negative.identitySums) {
  check(`identity sum refused: ${v.name}`, () =>
    throwsNamed(() => (v.op === 'add' ? curve.add(fromHex(v.a), fromHex(v.b)) : curve.sub(fromHex(v.a), fromHex(v.b))), 'KeyError'),
  );
}
for (const v of credits.negative.keysets) {
  check(`keyset refused: ${v.name}`, () => throwsNamed(() => keysetFromJson(curve, v.json), 'KeyError'));
}
for (const v of credits.splitAmount.valid) {
  check(`splitAmount ${v.amount}`, () => splitAmount(v.amount).join() === v.parts.join());
}

check('manifest vector opens and re-encodes', () => {
  const bytes = fromHex(manifestVector.bytes);
  return equalBytes(encodeManifest(openManifest(nobleCrypto, bytes)), bytes);
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
  const manifest = openManifest(nobleCrypto, fromHex(manifestVector.bytes));
  const prepared = await prepareUnitModule(nobleCrypto, manifest, wasm!);
  const output = runUnit(prepared.module, {
    unit: 10,
    input: params!,
    memory: prepared.memory,
    maxOutputBytes: manifest.limits.outputBytes,
  });
  (window as unknown as { __unitHash: string }).__unitHash = toHex(nobleCrypto.sha256(output));
}

unitRun()
  .then(() => results.push({ name: 'unit runs in the browser', ok: true }))
  .catch((error) => results.push({ name: 'unit runs in the browser', ok: false, detail: String(error) }))
  .finally(() => {
    (window as unknown as { __results: Result[] }).__results = results;
  });
