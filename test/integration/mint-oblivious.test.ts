// Sealed requests to a real mint on 127.0.0.1 (RFC 9458 over RFC 9180,
// protocol/oblivious.ts): credits issued, redeemed and swapped through the
// client's oblivious mode, a double spend refused exactly as in plain mode,
// sealed requests that do not open refused in the clear and counted, and the
// work budget applied inside the seal. Whatever carries the requests (here a
// `send` that keeps a copy, as an exit relay would see them) holds only
// ciphertext; and the mint's ledger and log lines keep no more of the credits'
// secrets than plain mode does, which is none.
//
// Any log line at level 'error' fails the run.

import { readFileSync, existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toBase64, toHex, utf8 } from '../../protocol/bytes.ts';
import { OBLIVIOUS } from '../../protocol/constants.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { MintError, type SpareCyclesError } from '../../protocol/errors.ts';
import { encodeMessage } from '../../protocol/messages/index.ts';
import { decodeKeyConfigs, encapsulateRequest, encodeInnerRequest, type KeyConfig } from '../../protocol/oblivious.ts';
import { MintClient } from '../../net/mint-client.ts';
import type { TestMint } from '../../testnet/testnet-mint.ts';
import {
  blindOutputs,
  bodyOf,
  dumpDatabase,
  dumpText,
  errorOf,
  issue,
  ledgerSnapshot,
  newAccount,
  post,
  redeemMessage,
  type TestCredit,
  testMints,
  unblindAll,
} from '../support/mint.ts';

const mintForTests = testMints();

async function refusal(p: Promise<unknown>): Promise<SpareCyclesError> {
  try {
    await p;
  } catch (error) {
    return error as SpareCyclesError;
  }
  throw new MintError('INTERNAL', 'expected a refusal, got an answer');
}

const refusedCount = (m: TestMint, kind: string, code: string) =>
  m.mint.ledger.refusals().find((r) => r.kind === kind && r.outcome === code)?.n ?? 0;

/** POSTs raw bytes to /v1/oblivious. */
const postSealed = (m: TestMint, bytes: Uint8Array, type: string = OBLIVIOUS.requestType) =>
  post(m.url, '/v1/oblivious', bytes, { 'content-type': type });

describe('oblivious mode against a real mint', () => {
  let m: TestMint;
  let keyConfig: KeyConfig;
  let sealed: MintClient;
  /** What the carrier saw: every request and answer, as bytes. */
  const carried: Uint8Array[] = [];
  const tasker = Identity.generate(nodeCrypto);
  const credits: TestCredit[] = [];

  beforeAll(async () => {
    m = await mintForTests();
    await m.fund(toHex(tasker.publicKey), 1_000);
    keyConfig = await m.client.obliviousKeyConfig();
    // The carrier: a direct POST that keeps a copy of both directions, as an exit would see them.
    sealed = new MintClient(m.url, {
      timeoutMs: 30_000,
      oblivious: {
        keyConfig,
        send: async (bytes) => {
          carried.push(bytes);
          const answer = await fetch(`${m.url}/v1/oblivious`, { method: 'POST', headers: { 'content-type': OBLIVIOUS.requestType }, body: bytes as Uint8Array<ArrayBuffer> });
          const out = new Uint8Array(await answer.arrayBuffer());
          carried.push(out);
          if (answer.headers.get('content-type') !== OBLIVIOUS.responseType) throw new MintError('INTERNAL', `expected a sealed answer, got HTTP ${answer.status}`);
          return out;
        },
      },
    });
  });

  it('publishes its key configuration at /v1/oblivious-keys, from a seed kept in the ledger', async () => {
    const answer = await post(m.url, '/v1/oblivious-keys');
    expect(answer.status).toBe(200);
    const [config] = decodeKeyConfigs(Buffer.from((answer.json as { keys: string }).keys, 'base64'));
    expect(config!.keyId).toBe(m.mint.obliviousKey.keyId);
    expect(toHex(config!.publicKey)).toBe(toHex(m.mint.obliviousKey.publicKey));
    expect(toHex(keyConfig.publicKey)).toBe(toHex(m.mint.obliviousKey.publicKey));
    // The seed is in the ledger, beside the keyset seeds: a mint opened on the same file has the same key.
    const row = m.mint.ledger.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'oblivious'").get();
    expect(row?.value.slice(2)).toHaveLength(64);
  });

  it('issues credits, answers balances and redeems them, all sealed', async () => {
    const account = newAccount();
    const issued = await issue(sealed, m.curve, tasker, m.keyset, [1, 2, 4, 8, 16, 32]);
    credits.push(...issued.credits);
    const ok = await sealed.redeem(redeemMessage(m.keyset.id, [credits[0]!, credits[1]!], account));
    expect(ok).toMatchObject({ amount: 3, to: account });
    expect(await sealed.balance(account)).toBe(3);
    expect(await sealed.balance(newAccount())).toBeUndefined();
    expect(await sealed.state([credits[0]!.Y, credits[2]!.Y])).toEqual(['spent', 'unspent']);
    expect((await sealed.info()).mint).toBe(toHex(m.mint.id));
    expect(toHex((await sealed.activeKeyset(m.curve)).id)).toBe(toHex(m.keyset.id));
    expect(await m.client.balance(toHex(tasker.publicKey))).toBe(1_000 - 63);
  });

  it('a retried sealed redeem gets the same answer; a double spend is ALREADY_SPENT exactly as in plain mode', async () => {
    const account = newAccount();
    const msg = redeemMessage(m.keyset.id, [credits[2]!], account);
    const first = await sealed.redeem(msg);
    const again = await sealed.redeem(msg);
    expect(toHex(encodeMessage(again))).toBe(toHex(encodeMessage(first)));
    expect(await sealed.balance(account)).toBe(4);

    const before = refusedCount(m, 'redeem', 'ALREADY_SPENT');
    const viaSeal = await refusal(sealed.redeem(redeemMessage(m.keyset.id, [credits[3]!, credits[2]!], newAccount())));
    const viaPlain = await refusal(m.client.redeem(redeemMessage(m.keyset.id, [credits[3]!, credits[2]!], newAccount())));
    for (const error of [viaSeal, viaPlain]) {
      expect(error).toBeInstanceOf(MintError);
      expect({ code: error.code, field: error.field }).toEqual({ code: 'ALREADY_SPENT', field: 'proofs[1]' });
    }
    expect(viaSeal.message).toBe(viaPlain.message);
    expect(refusedCount(m, 'redeem', 'ALREADY_SPENT')).toBe(before + 2);
    // Neither spent the credit beside the spent one.
    expect(await sealed.state([credits[3]!.Y])).toEqual(['unspent']);
    const line = m.lines.filter((l) => l.event === 'mint.refused' && l.code === 'ALREADY_SPENT');
    expect(line.map((l) => ({ route: l.route, sealed: l.sealed }))).toEqual([{ route: 'redeem', sealed: true }, { route: 'redeem', sealed: undefined }]);
  });

  it('swaps credits for fresh ones, sealed', async () => {
    const outputs = blindOutputs(m.curve, [8, 8, 32]);
    const ok = await sealed.redeem(redeemMessage(m.keyset.id, [credits[4]!, credits[5]!], outputs));
    expect(ok.amount).toBe(48);
    const fresh = unblindAll(m.curve, m.keyset, outputs, ok.signatures!);
    const account = newAccount();
    await sealed.redeem(redeemMessage(m.keyset.id, fresh, account));
    expect(await sealed.balance(account)).toBe(48);
    credits.push(...fresh);
  });

  it('a sealed request that does not open is refused in the clear, counted, and reaches no handler', async () => {
    const snapshot = ledgerSnapshot(m.db);
    const audit = dumpDatabase(m.db).audit!.rows.length;
    const inner = encodeInnerRequest({ method: 'POST', path: '/v1/redeem', body: utf8(bodyOf(redeemMessage(m.keyset.id, [credits[3]!], newAccount()))) });
    const { encapsulated } = encapsulateRequest(nodeCrypto, keyConfig, inner);
    const decryptBefore = refusedCount(m, 'oblivious', 'DECRYPT');
    const cases: { bytes: Uint8Array; type?: string; status: number; code: string }[] = [];
    const flipped = encapsulated.slice();
    flipped[flipped.length - 30]! ^= 1;
    cases.push({ bytes: flipped, status: 400, code: 'DECRYPT' });
    const otherId = encapsulated.slice();
    otherId[0] = (otherId[0]! + 1) % 256;
    cases.push({ bytes: otherId, status: 400, code: 'KEY' });
    cases.push({ bytes: encapsulated.subarray(0, 40), status: 400, code: 'DECODE' });
    cases.push({ bytes: encapsulated, type: 'application/json', status: 400, code: 'SCHEMA' });
    for (const c of cases) {
      const answer = await postSealed(m, c.bytes, c.type);
      expect(answer.status).toBe(c.status);
      expect(errorOf(answer)?.code).toBe(c.code);
    }
    expect(refusedCount(m, 'oblivious', 'DECRYPT')).toBe(decryptBefore + 1);
    expect(refusedCount(m, 'oblivious', 'KEY')).toBeGreaterThanOrEqual(1);
    const metrics = await m.client.balance(newAccount()).then(() => fetch(`${m.url}/metrics`)).then((r) => r.text());
    expect(metrics).toMatch(/sparecycles_mint_requests_total\{route="oblivious",outcome="DECRYPT"\} 1/);
    expect(metrics).toMatch(/sparecycles_mint_requests_total\{route="oblivious",outcome="ok"\} \d+/);
    // Nothing reached the ledger: the credit is unspent, no audit line, the tables as they were.
    expect(ledgerSnapshot(m.db)).toBe(snapshot);
    expect(dumpDatabase(m.db).audit!.rows.length).toBe(audit);
    expect(await m.client.state([credits[3]!.Y])).toEqual(['unspent']);
    // The untouched request still opens and is answered.
    const good = await postSealed(m, encapsulated);
    expect(good.status).toBe(200);
    expect(await m.client.state([credits[3]!.Y])).toEqual(['spent']);
  });

  it('an inner request the mint has no route for, or that does not read, is refused inside the seal', async () => {
    const error = await refusal(new MintClient(m.url, { oblivious: { keyConfig } }).balance('not-a-key'));
    expect(error.code).toBe('SCHEMA');
    const { encapsulated } = encapsulateRequest(nodeCrypto, keyConfig, encodeInnerRequest({ method: 'POST', path: '/v1/oblivious', body: new Uint8Array(0) }));
    const answer = await postSealed(m, encapsulated);
    // Sealed: the carrier sees a 200 and ciphertext, whatever the answer inside.
    expect(answer.status).toBe(200);
  });

  it('the carrier saw only ciphertext, and the ledger and the log keep no secret x, in any form', async () => {
    const secrets = credits.map((c) => c.x);
    const forms = (x: Uint8Array) => [Buffer.from(x), Buffer.from(toHex(x)), Buffer.from(toBase64(x))];
    expect(carried.length).toBeGreaterThan(20);
    for (const bytes of carried) {
      const buffer = Buffer.from(bytes);
      for (const x of secrets) for (const form of forms(x)) expect(buffer.includes(form)).toBe(false);
      expect(buffer.includes(Buffer.from('/v1/redeem'))).toBe(false);
      expect(buffer.includes(Buffer.from('"message"'))).toBe(false);
    }
    const files = [m.db, `${m.db}-wal`].filter(existsSync).map((f) => readFileSync(f));
    const text = dumpText(dumpDatabase(m.db));
    const log = m.lines.map((l) => JSON.stringify(l)).join('\n');
    for (const x of secrets) {
      for (const form of forms(x)) {
        for (const file of files) expect(file.includes(form)).toBe(false);
        expect(log.includes(form.toString())).toBe(false);
      }
      expect(text.includes(toHex(x))).toBe(false);
    }
    // Nor the ephemeral keys of the sealed requests: nothing of the envelope is kept.
    for (let i = 0; i < carried.length; i += 2) {
      const enc = Buffer.from(carried[i]!.subarray(7, 39));
      for (const file of files) expect(file.includes(enc)).toBe(false);
    }
    // What a redeem leaves is its Y, as in plain mode.
    const spent = dumpDatabase(m.db).spent!.rows.map((r) => r[0]);
    expect(spent).toContain(toHex(credits[0]!.Y));
  });
});

describe('the work budget inside the seal', () => {
  it('a sealed redeem the address cannot pay for is RATE_LIMITED, as it would be in plain HTTP', async () => {
    const m = await mintForTests({ budget: { perMinute: 600, burst: 40 } });
    const keyConfig = await m.client.obliviousKeyConfig();
    const sealed = new MintClient(m.url, { oblivious: { keyConfig }, timeoutMs: 30_000 });
    // 64 made-up credits ask for 64 units of checking: more than the burst, refused before any is checked.
    const forged: TestCredit[] = Array.from({ length: 64 }, () => ({ ...blindOutputs(m.curve, [1])[0]!, Cblind: new Uint8Array(32), C: fromHex('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76') }));
    const error = await refusal(sealed.redeem(redeemMessage(m.keyset.id, forged, newAccount())));
    expect(error).toBeInstanceOf(MintError);
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).toMatch(/retry in \d+ s/);
    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(metrics).toMatch(/route="redeem",outcome="RATE_LIMITED"\} 1/);
  });
});
