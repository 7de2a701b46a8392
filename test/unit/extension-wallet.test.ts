// The extension's wallet, piece by piece, in Node:
// - the store over storage.local (lib/wallet-store.ts). storage.local is a
//   FAKE here: a Map-backed area with the same get/set shape, whose writes
//   can be held and released to test the order of saves;
// - the wallet messages' encoding across the page boundary
//   (lib/wallet-messages.ts): bytes as hex, read back with bounds;
// - the offscreen document's Earnings (lib/remote-earnings.ts) forwarded to
//   the background's WalletService (lib/wallet-service.ts) through a channel
//   that does to every message what runtime.sendMessage does: JSON in, JSON
//   out. The mint is a FAKE too: a keyset derived here signs the outputs,
//   with DLEQ proofs, and a stand-in client answers redeems. The real
//   browser, storage and mint are in test/e2e/extension-credits.test.ts;
// - the popup's wording for the wallet (lib/credits-text.ts).

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  describeBalance,
  describeExport,
  describeHolding,
  describeMint,
  describeRedeem,
  redeemLabel,
} from '../../extension/lib/credits-text.ts';
import { remoteEarnings } from '../../extension/lib/remote-earnings.ts';
import type { KeyValueArea } from '../../extension/lib/settings.ts';
import {
  askWallet,
  outputsFromJson,
  payFromJson,
  payToJson,
  readWalletRequest,
  unwrapReply,
  WalletMessageError,
  WalletRefusedError,
  type ToWallet,
} from '../../extension/lib/wallet-messages.ts';
import { summarize, WalletService } from '../../extension/lib/wallet-service.ts';
import { EXPORTED_KEY, keepExported, readExported, storageWalletStore, WALLET_KEY, type ExportedToken } from '../../extension/lib/wallet-store.ts';
import type { MintClient } from '../../net/mint-client.ts';
import { toHex } from '../../protocol/bytes.ts';
import { proveDleq, signBlinded } from '../../protocol/credits/bdhke.ts';
import { nobleCurve } from '../../protocol/credits/curve.ts';
import { deriveKeyset } from '../../protocol/credits/keyset.ts';
import { decodeToken } from '../../protocol/credits/token.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';
import type { MessageOf } from '../../protocol/messages/index.ts';
import type { ReceivedPay } from '../../worker/ports.ts';
import { emptyWallet, type WalletData } from '../../worker/wallet-data.ts';
import { Wallet, WalletError } from '../../worker/wallet.ts';

// ---- fakes --------------------------------------------------------------------------------

/** A FAKE storage.local: a Map, copying on the way in and out as the real one does. */
function memoryArea(initial: Record<string, unknown> = {}) {
  const data = new Map(Object.entries(initial).map(([k, v]) => [k, structuredClone(v)]));
  const area: KeyValueArea & { data: Map<string, unknown> } = {
    data,
    get: async (key) => (data.has(key) ? { [key]: structuredClone(data.get(key)) } : {}),
    set: async (items) => {
      for (const [k, v] of Object.entries(items)) data.set(k, structuredClone(v));
    },
  };
  return area;
}

/** A FAKE storage.local whose writes wait until the test releases them, in any order it likes. */
function heldArea() {
  const data = new Map<string, unknown>();
  const held: Array<{ items: Record<string, unknown>; release: () => void; fail: (e: Error) => void }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const written: unknown[] = [];
  const area: KeyValueArea = {
    get: async (key) => (data.has(key) ? { [key]: structuredClone(data.get(key)) } : {}),
    set: (items) =>
      new Promise<void>((resolve, reject) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const done = () => void inFlight--;
        held.push({
          items,
          release: () => {
            for (const [k, v] of Object.entries(items)) data.set(k, structuredClone(v));
            written.push(structuredClone(items[WALLET_KEY]));
            done();
            resolve();
          },
          fail: (e) => {
            done();
            reject(e);
          },
        });
      }),
  };
  return { area, data, held, written, maxInFlight: () => maxInFlight };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Wallet data that says which save it was: one pending output labelled `save-<n>`. */
function marked(n: number): WalletData {
  const d = emptyWallet();
  d.pending.push({ mint: 'http://mint.test', amount: 1, x: '11'.repeat(32), r: '22'.repeat(32), B: n.toString(16).padStart(64, '0'), label: `save-${n}`, created: 0 });
  return d;
}

const MINT = 'http://127.0.0.1:9/';
const MINT_KEY = 'http://127.0.0.1:9';
const keyset = deriveKeyset(nobleCurve, new Uint8Array(32).fill(3));

/** The mint's side of a payment, done here: sign each blinded output for its amount, with a DLEQ proof. */
function payFor(outputs: readonly Uint8Array[], amounts: readonly number[]): ReceivedPay {
  return {
    keyset: keyset.id,
    signatures: outputs.map((B, i) => {
      const amount = amounts[i]!;
      const k = keyset.secrets.get(amount)!;
      const C = signBlinded(nobleCurve, k, B);
      return { amount, C, ...proveDleq(nobleCurve, k, B, C) };
    }),
  };
}

/** A FAKE mint client: the keyset derived above, and redeems that always succeed. */
function fakeMint() {
  const redeems: Array<MessageOf<'redeem'>> = [];
  const client = {
    url: MINT_KEY,
    keyset: async (_curve: unknown, id: Uint8Array) => {
      if (toHex(id) !== toHex(keyset.id)) throw new Error('unknown keyset');
      return { id: keyset.id, keys: keyset.keys };
    },
    redeem: async (msg: MessageOf<'redeem'>): Promise<MessageOf<'redeem-ok'>> => {
      redeems.push(msg);
      return { t: 'redeem-ok', v: 1, id: msg.id, amount: msg.proofs.reduce((s, p) => s + p.amount, 0), to: msg.to! } as MessageOf<'redeem-ok'>;
    },
  };
  return { client: client as unknown as MintClient, redeems };
}

/** What runtime.sendMessage does to a message and its reply: JSON both ways. */
const json = <T>(value: T): T => (value === undefined ? value : JSON.parse(JSON.stringify(value)));

function background(options: { account?: string; area?: ReturnType<typeof memoryArea> } = {}) {
  const area = options.area ?? memoryArea();
  const store = storageWalletStore(area);
  const mint = fakeMint();
  const kept: ExportedToken[][] = [];
  let account = options.account ?? '';
  const service = new WalletService({
    openWallet: () => Wallet.open(store),
    redeemAccount: async () => account,
    mintAccess: () => ({ client: mint.client }),
    keepExport: async (tokens) => void kept.push(tokens),
  });
  const send = async (message: ToWallet) => json(await service.handle(json(message)));
  const stored = () => area.data.get(WALLET_KEY) as WalletData | undefined;
  return { area, store, mint, kept, service, send, stored, setAccount: (a: string) => void (account = a) };
}

// ---- the store ----------------------------------------------------------------------------

describe('the wallet store over storage.local (a fake area)', () => {
  it('loads nothing when nothing is stored, and what was saved after that', async () => {
    const area = memoryArea();
    const store = storageWalletStore(area);
    expect(await store.load()).toBeUndefined();
    await store.save(marked(1));
    expect(await store.load()).toEqual(marked(1));
    expect(area.data.get(WALLET_KEY)).toEqual(marked(1));
  });

  it('writes one save at a time, in the order asked, even when asked all at once', async () => {
    const { area, held, written, maxInFlight, data } = heldArea();
    const store = storageWalletStore(area);
    const saves = [1, 2, 3].map((n) => store.save(marked(n)));
    const loaded = store.load();
    await tick();
    // Only the first write has started; the others wait for it.
    expect(held.length).toBe(1);
    for (let i = 0; i < 3; i++) {
      await tick();
      held[i]!.release();
      await tick();
    }
    await Promise.all(saves);
    expect(maxInFlight()).toBe(1);
    expect(written).toEqual([marked(1), marked(2), marked(3)]);
    expect(data.get(WALLET_KEY)).toEqual(marked(3));
    // A load waits for the saves asked before it.
    expect(await loaded).toEqual(marked(3));
  });

  it('saves the data as it was when asked, and a failed save does not stop the next', async () => {
    const { area, held, data } = heldArea();
    const store = storageWalletStore(area);
    const d = marked(1);
    const first = store.save(d);
    d.pending[0]!.label = 'changed after save() was called';
    const second = store.save(marked(2));
    await tick();
    held[0]!.fail(new Error('QUOTA_BYTES quota exceeded'));
    await expect(first).rejects.toThrow(/quota/);
    await tick();
    expect(held.length).toBe(2);
    expect(held[0]!.items[WALLET_KEY]).toEqual(marked(1));
    held[1]!.release();
    await second;
    expect(data.get(WALLET_KEY)).toEqual(marked(2));
    await store.flushed();
  });

  it('keeps a Wallet across a restart of the background', async () => {
    const area = memoryArea();
    const wallet = await Wallet.open(storageWalletStore(area));
    const outputs = await wallet.prepare(MINT, 3, 'task:0:lease');
    const reopened = await Wallet.open(storageWalletStore(area));
    expect(reopened.pendingFor('task:0:lease').map((p) => p.B)).toEqual(outputs.map((o) => toHex(o.B)));
  });

  it('reads a version 1 record (the format before pending outputs had times) and stores it as version 2 with the next change', async () => {
    const old = JSON.parse(await readFile(new URL('../fixtures/wallet/wallet-v1.json', import.meta.url), 'utf8'));
    const area = memoryArea({ [WALLET_KEY]: old });
    const wallet = await Wallet.open(storageWalletStore(area));
    expect(wallet.balance()).toBe(4);
    const label = old.pending[0].label as string;
    expect(wallet.pendingFor(label)).toHaveLength(2);
    expect(area.data.get(WALLET_KEY)).toEqual(old);
    await wallet.prepare(MINT, 1, 'task:1:lease');
    const stored = area.data.get(WALLET_KEY) as WalletData;
    expect(stored.v).toBe(2);
    expect(stored.credits).toEqual(old.credits);
    expect(stored.pending.filter((p) => p.label === label).every((p) => Number.isSafeInteger(p.created))).toBe(true);
  });

  it('never writes over a record it cannot read: the wallet reports it and the record stays', async () => {
    const future = { v: 3, credits: [{ anything: 'a later version keeps' }], pending: [], redeems: [] };
    const area = memoryArea({ [WALLET_KEY]: future });
    await expect(Wallet.open(storageWalletStore(area))).rejects.toSatisfy((e: unknown) => e instanceof WalletError && e.code === 'VERSION');
    const { service, send } = background({ area });
    const summary = await service.summary();
    expect(summary).toMatchObject({ total: 0, count: 0, mints: [] });
    expect(summary.error).toMatch(/version 3/);
    await expect(remoteEarnings(send).request(MINT, 1, 'task:0:lease')).rejects.toThrow(/version 3/);
    expect(area.data.get(WALLET_KEY)).toEqual(future);
  });
});

// ---- the messages -------------------------------------------------------------------------

describe('wallet messages across the page boundary', () => {
  const pay = payFor([nobleCurve.mulBase(new Uint8Array(32).fill(1))], [4]);

  it('carries pay as hex that survives JSON, and reads it back into fresh bytes', () => {
    // A Uint8Array itself does not survive: JSON makes it an object of indices.
    expect(json({ b: Uint8Array.of(1, 2) }).b).not.toBeInstanceOf(Uint8Array);
    const back = payFromJson(json(payToJson(pay)));
    expect(back.keyset).toEqual(pay.keyset);
    expect(back.signatures.map((s) => [s.amount, toHex(s.C), toHex(s.e), toHex(s.s)])).toEqual(
      pay.signatures.map((s) => [s.amount, toHex(s.C), toHex(s.e), toHex(s.s)]),
    );
    expect(outputsFromJson(json([toHex(new Uint8Array(32).fill(9))]))).toEqual([new Uint8Array(32).fill(9)]);
  });

  it('refuses requests that do not read, naming the field', () => {
    const good = payToJson(pay);
    const sig = good.signatures[0]!;
    const bad: Array<[unknown, string]> = [
      [null, 'message'],
      [{ target: 'background', kind: 'summary' }, 'target'],
      [{ target: 'wallet', kind: 'steal' }, 'kind'],
      [{ target: 'wallet', kind: 'earnings-request', mint: MINT, amount: 0, label: 'l' }, 'amount'],
      [{ target: 'wallet', kind: 'earnings-request', mint: MINT, amount: 1.5, label: 'l' }, 'amount'],
      [{ target: 'wallet', kind: 'earnings-request', mint: MINT, amount: 1, label: 'l'.repeat(257) }, 'label'],
      [{ target: 'wallet', kind: 'earnings-request', mint: 7, amount: 1, label: 'l' }, 'mint'],
      [{ target: 'wallet', kind: 'earnings-receive', mint: MINT, label: 'l', pay: { ...good, keyset: 'zz'.repeat(8) } }, 'pay.keyset'],
      [{ target: 'wallet', kind: 'earnings-receive', mint: MINT, label: 'l', pay: { ...good, signatures: [] } }, 'pay.signatures'],
      [{ target: 'wallet', kind: 'earnings-receive', mint: MINT, label: 'l', pay: { ...good, signatures: Array(65).fill(sig) } }, 'pay.signatures'],
      [{ target: 'wallet', kind: 'earnings-receive', mint: MINT, label: 'l', pay: { ...good, signatures: [{ ...sig, C: sig.C.slice(2) }] } }, 'pay.signatures[0].C'],
      [{ target: 'wallet', kind: 'earnings-receive', mint: MINT, label: 'l', pay: { ...good, signatures: [{ ...sig, e: sig.e.toUpperCase() }] } }, 'pay.signatures[0].e'],
      [{ target: 'wallet', kind: 'earnings-forfeit' }, 'label'],
    ];
    for (const [message, field] of bad) {
      let error: unknown;
      try {
        readWalletRequest(message);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(message)?.slice(0, 80)).toBeInstanceOf(WalletMessageError);
      expect((error as WalletMessageError).field).toBe(field);
      expect((error as WalletMessageError).code).toBe('SCHEMA');
    }
  });

  it('reads a request into a fresh object, without fields it does not know', () => {
    const read = readWalletRequest({ target: 'wallet', kind: 'earnings-forfeit', label: 'task:1:ab', extra: { big: 1 } });
    expect(read).toEqual({ target: 'wallet', kind: 'earnings-forfeit', label: 'task:1:ab' });
  });

  it('turns replies back into values or typed refusals', () => {
    expect(unwrapReply({ ok: true, value: 3 }, 'summary')).toBe(3);
    expect(() => unwrapReply({ ok: false, error: 'no', code: 'FUNDS' }, 'export')).toThrow(WalletRefusedError);
    expect(() => unwrapReply({ ok: false, error: 'no', code: 'FUNDS' }, 'export')).toThrow(expect.objectContaining({ code: 'FUNDS', message: 'no' }));
    // A code this side does not know is a fault the other side did not name.
    expect(() => unwrapReply({ ok: false, error: 'no', code: 'NOT_A_CODE' }, 'export')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => unwrapReply(undefined, 'summary')).toThrow(/did not answer summary/);
    expect(() => unwrapReply(undefined, 'summary')).toThrow(expect.objectContaining({ code: 'NETWORK' }));
    expect(() => unwrapReply({ error: 'Error: from the other listener' }, 'summary')).toThrow(WalletRefusedError);
    expect(() => unwrapReply({ error: 'Error: from the other listener' }, 'summary')).toThrow(SpareCyclesError);
  });
});

// ---- the whole path ---------------------------------------------------------------------------

describe('Earnings in the offscreen document, kept by the background wallet', () => {
  it('asks for outputs, stores them before answering, and keeps the pay as credits', async () => {
    const { send, stored, service } = background();
    const earnings = remoteEarnings(send);
    const label = `${'ab'.repeat(20)}:3:${'cd'.repeat(16)}`;
    const outputs = await earnings.request(MINT, 5, label);
    expect(outputs.map((o) => o.length)).toEqual([32, 32]);
    // In storage before the engine sees them.
    expect(stored()!.pending.map((p) => [p.B, p.label, p.amount])).toEqual([
      [toHex(outputs[0]!), label, 4],
      [toHex(outputs[1]!), label, 1],
    ]);
    expect(await earnings.receive(MINT, label, payFor(outputs, [4, 1]))).toBe(5);
    expect(stored()!.pending).toEqual([]);
    expect(stored()!.credits.map((c) => c.amount)).toEqual([4, 1]);
    expect(await service.summary()).toEqual({ total: 5, count: 2, mints: [{ mint: MINT_KEY, amount: 5, count: 2 }] });
    expect(await askWallet(send, 'summary')).toEqual(await service.summary());
  });

  it('refuses pay that does not verify, leaving the wallet as it was', async () => {
    const { send, stored } = background();
    const earnings = remoteEarnings(send);
    const outputs = await earnings.request(MINT, 2, 'task:1:aa');
    const pay = payFor(outputs, [2]);
    pay.signatures[0]!.s = pay.signatures[0]!.e;
    const before = stored();
    await expect(earnings.receive(MINT, 'task:1:aa', pay)).rejects.toSatisfy((e: unknown) => e instanceof WalletRefusedError && e.code === 'PROOF');
    expect(stored()).toEqual(before);
  });

  it('drops the outputs of a result that will not be paid', async () => {
    const { send, stored } = background();
    const earnings = remoteEarnings(send);
    await earnings.request(MINT, 3, 'task:2:aa');
    await earnings.request(MINT, 1, 'task:3:bb');
    await earnings.forfeit('task:2:aa');
    expect(stored()!.pending.map((p) => p.label)).toEqual(['task:3:bb']);
  });

  it('fails a call when no background answers, or the answer does not read', async () => {
    await expect(remoteEarnings(async () => undefined).request(MINT, 1, 'l')).rejects.toThrow(/did not answer earnings-request/);
    await expect(remoteEarnings(async () => ({ ok: true, value: { outputs: ['00'] } })).request(MINT, 1, 'l')).rejects.toThrow(WalletMessageError);
    await expect(remoteEarnings(async () => ({ ok: true, value: { credits: -1 } })).receive(MINT, 'l', payFor([nobleCurve.mulBase(new Uint8Array(32).fill(1))], [1]))).rejects.toThrow(/credits/);
  });

  it('redeems every credit to the account in the settings, and refuses without one', async () => {
    const { send, mint, setAccount, stored } = background();
    const earnings = remoteEarnings(send);
    const outputs = await earnings.request(MINT, 6, 'task:4:aa');
    await earnings.receive(MINT, 'task:4:aa', payFor(outputs, [4, 2]));
    await expect(askWallet(send, 'redeem')).rejects.toSatisfy((e: unknown) => e instanceof WalletRefusedError && e.code === 'NO_ACCOUNT');
    expect(mint.redeems).toEqual([]);
    // An account is an ed25519 key in hex.
    const alice = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    setAccount(alice);
    expect(await askWallet(send, 'redeem')).toEqual({ account: alice, mints: [{ mint: MINT_KEY, redeemed: 6, dropped: 0 }] });
    expect(mint.redeems.map((r) => [r.to, r.proofs.map((p) => p.amount)])).toEqual([[alice, [4, 2]]]);
    expect(stored()!.credits).toEqual([]);
    expect((await askWallet(send, 'summary')).total).toBe(0);
  });

  it('exports every credit as a token, which leaves the wallet and is kept for the popup', async () => {
    const { send, kept, stored } = background();
    const earnings = remoteEarnings(send);
    const outputs = await earnings.request(MINT, 3, 'task:5:aa');
    await earnings.receive(MINT, 'task:5:aa', payFor(outputs, [2, 1]));
    const outcome = await askWallet(send, 'export');
    expect(outcome.errors).toEqual([]);
    expect(outcome.tokens.map((t) => [t.mint, t.amount])).toEqual([[MINT_KEY, 3]]);
    const token = decodeToken(outcome.tokens[0]!.token);
    expect(token.mint).toBe(MINT_KEY);
    expect(token.credits.map((c) => c.amount)).toEqual([2, 1]);
    expect(kept).toEqual([outcome.tokens]);
    expect(stored()!.credits).toEqual([]);
    expect(await askWallet(send, 'export')).toEqual({ tokens: [], errors: [] });
  });

  it('keeps exports until cleared, adding to any not cleared yet', async () => {
    const area = memoryArea();
    const a: ExportedToken = { mint: MINT_KEY, amount: 3, token: 'sccredits1a' };
    const b: ExportedToken = { mint: 'https://mint.example.org', amount: 8, token: 'sccredits1b' };
    await keepExported(area, [a], 1);
    await keepExported(area, [b], 2);
    expect(readExported(area.data.get(EXPORTED_KEY))).toEqual({ version: 1, at: 2, tokens: [a, b] });
    expect(readExported({ version: 1, at: 1, tokens: [{ mint: MINT_KEY }] })).toBeUndefined();
    expect(readExported({ version: 2, at: 1, tokens: [] })).toBeUndefined();
  });
});

// ---- the popup's words ----------------------------------------------------------------------

describe('credits wording', () => {
  it('says the balance, how it is held, and per mint', () => {
    const one = { ...summarize([{ mint: MINT_KEY, amount: 4 }, { mint: MINT_KEY, amount: 1 }]) };
    expect(describeBalance(one)).toBe('5 credits');
    expect(describeHolding(one)).toBe('held as 2 notes at 127.0.0.1:9');
    const two = summarize([{ mint: MINT_KEY, amount: 1 }, { mint: 'https://mint.example.org', amount: 8 }]);
    expect(two.mints.map((m) => m.mint)).toEqual(['https://mint.example.org', MINT_KEY]);
    expect(describeHolding(two)).toBe('held as 2 notes at 2 mints');
    expect(describeMint(two.mints[1]!)).toBe('1 credit (1 note) at 127.0.0.1:9');
    expect(describeBalance(summarize([]))).toBe('0 credits');
    expect(describeHolding(summarize([]))).toMatch(/^No credits yet/);
    expect(describeHolding({ ...summarize([]), error: 'wallet: version 2' })).toMatch(/cannot be read: wallet: version 2/);
  });

  it('says what redeeming and exporting did', () => {
    expect(redeemLabel('')).toBe('Redeem to account: set one in Settings first');
    expect(redeemLabel('alice')).toBe('Redeem to account “alice”');
    expect(describeRedeem({ account: 'alice', mints: [{ mint: MINT_KEY, redeemed: 5, dropped: 0 }] })).toBe('Redeemed 5 credits to “alice”.');
    expect(describeRedeem({ account: 'alice', mints: [{ mint: MINT_KEY, redeemed: 0, dropped: 0, error: 'fetch failed' }] })).toBe(
      'Redeemed 0 credits to “alice”. 127.0.0.1:9: fetch failed',
    );
    expect(describeExport({ tokens: [{ mint: MINT_KEY, amount: 3, token: 't' }], errors: [] })).toMatch(/^Exported 3 credits as 1 token: they are no longer in this wallet/);
    expect(describeExport({ tokens: [], errors: [] })).toBe('Nothing to export.');
  });
});
