// The mint: an escrow that holds taskers' deposits, signs workers' blinded
// outputs when a tasker pays, and redeems each credit once. This file is the
// mint's logic without HTTP: every request is decoded and checked in full
// (schema, signature, keyset, denominations, points, each credit's
// signature) before the ledger is touched, then applied in one ledger step.
//
// Order matters. After decoding, a request is first charged the work it asks
// for (mint/work.ts), then looked up by id: a request applied before gets its
// answer again whatever has changed since (the admin keys, the clock), and
// only a new one is checked.

import { toHex } from '../protocol/bytes.ts';
import { availableParallelism } from 'node:os';
import { proveDleq, signBlinded } from '../protocol/credits/bdhke.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { deriveKeyset, isDenomination, keysetToJson, type Keyset, type KeysetJson } from '../protocol/credits/keyset.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { KeyError, MintError, SchemaError, SpareCyclesError } from '../protocol/errors.ts';
import {
  decodeMessage,
  verifyMessage,
  type BlindedOutput,
  type BlindSignature,
  type Message,
  type MessageOf,
  type Proof,
} from '../protocol/messages/index.ts';
import type { MessageType } from '../protocol/constants.ts';
import { DEPOSIT_WINDOW_MS } from '../protocol/mint-api.ts';
import { obliviousKeyFromSeed, type ObliviousKey } from '../protocol/oblivious.ts';
import { Ledger, type AuditEntry, type Statements } from './ledger.ts';
import { loadSodiumCurve } from './sodium-curve.ts';
import { inlineChecker, threadChecker, type CreditChecker } from './verifier.ts';
import { WORK } from './work.ts';

export interface MintOptions {
  /** The SQLite ledger file; created with a fresh keyset when missing. */
  db: string;
  /** ed25519 keys whose signed deposits the mint accepts. */
  admins: readonly Uint8Array[];
  curve?: CreditCurve;
  /** Check credits in a thread of their own; by default when the machine has more than one core. */
  checkThread?: boolean;
  now?: () => number;
  /** How far a deposit's ts may be from now, either way; DEPOSIT_WINDOW_MS unless set. */
  depositWindowMs?: number;
}

/** Takes a request's work units from its client's budget, or throws RATE_LIMITED (mint/work.ts). */
export type Charge = (units: number) => void;

export interface DepositAnswer {
  account: string;
  amount: number;
}

interface Step<T> {
  /** The kind refusals inside the ledger step are counted under. */
  kind: string;
  /** Undefined when the request was applied before: only its answer is due. */
  apply?: (s: Statements) => void;
  answer: () => T;
}

function expect<T extends MessageType>(bytes: Uint8Array, type: T): MessageOf<T> {
  const msg: Message = decodeMessage(bytes);
  if (msg.t !== type) throw new SchemaError(`t: expected a ${type} message, got ${msg.t}`, { field: 't' });
  return msg as MessageOf<T>;
}

function sum(items: readonly { amount: number }[]): number {
  return items.reduce((a, i) => a + i.amount, 0);
}

export class Mint {
  readonly ledger: Ledger;
  readonly curve: CreditCurve;
  readonly #admins: Set<string>;
  readonly #keysets = new Map<string, Keyset>();
  readonly #checker: CreditChecker;
  readonly #now: () => number;
  readonly depositWindowMs: number;
  #active!: Keyset;
  #oblivious: ObliviousKey | undefined;

  private constructor(ledger: Ledger, curve: CreditCurve, checker: CreditChecker, options: MintOptions) {
    this.ledger = ledger;
    this.curve = curve;
    this.#admins = new Set(options.admins.map(toHex));
    this.#checker = checker;
    this.#now = options.now ?? Date.now;
    this.depositWindowMs = options.depositWindowMs ?? DEPOSIT_WINDOW_MS;
  }

  /** The key requests sealed to this mint open with (POST /v1/oblivious), from the ledger's seed. */
  get obliviousKey(): ObliviousKey {
    this.#oblivious ??= obliviousKeyFromSeed(nodeCrypto, this.ledger.obliviousSeed[0]!, this.ledger.obliviousSeed.subarray(1));
    return this.#oblivious;
  }

  /** This mint's id: every deposit for it names it (GET /v1/info). */
  get id(): Uint8Array {
    return this.ledger.mintId;
  }

  static async open(options: MintOptions): Promise<Mint> {
    const curve = options.curve ?? (await loadSodiumCurve());
    const ledger = new Ledger(options.db, { now: options.now });
    const checker = (options.checkThread ?? availableParallelism() > 1) ? threadChecker() : inlineChecker(curve);
    const mint = new Mint(ledger, curve, checker, options);
    let rows = ledger.keysetSeeds();
    if (rows.length === 0) {
      const seed = nodeCrypto.randomBytes(32);
      ledger.addKeyset(deriveKeyset(curve, seed).id, seed, true);
      rows = ledger.keysetSeeds();
    }
    for (const row of rows) {
      const keyset = deriveKeyset(curve, new Uint8Array(row.seed));
      if (toHex(keyset.id) !== toHex(row.id)) throw new SpareCyclesError('FORMAT', `ledger keyset ${toHex(row.id)}: expected its seed to derive it, got ${toHex(keyset.id)}`, { field: 'keysets' });
      mint.#keysets.set(toHex(keyset.id), keyset);
      if (row.active) mint.#active = keyset;
    }
    return mint;
  }

  /** Published keysets, the active one first. */
  keysets(): (KeysetJson & { active: boolean })[] {
    return [...this.#keysets.values()]
      .map((k) => ({ ...keysetToJson(k), active: k === this.#active }))
      .sort((a, b) => Number(b.active) - Number(a.active));
  }

  get activeKeyset(): Keyset {
    return this.#active;
  }

  #keyset(id: Uint8Array, field = 'keyset'): Keyset {
    const keyset = this.#keysets.get(toHex(id));
    if (!keyset) throw new MintError('UNKNOWN_KEYSET', `${field}: no keyset ${toHex(id)} at this mint`, { field });
    return keyset;
  }

  #checkOutputs(outputs: readonly BlindedOutput[], field: string): void {
    outputs.forEach((o, i) => {
      if (!isDenomination(o.amount)) {
        throw new MintError('AMOUNT', `${field}[${i}].amount: ${o.amount} is not a denomination of this mint`, { field: `${field}[${i}].amount` });
      }
      if (!this.curve.isPoint(o.B)) throw new KeyError(`${field}[${i}].B: expected a ristretto255 point`, { field: `${field}[${i}].B` });
    });
  }

  #sign(keyset: Keyset, outputs: readonly BlindedOutput[]): BlindSignature[] {
    return outputs.map((o) => {
      const k = keyset.secrets.get(o.amount)!;
      const C = signBlinded(this.curve, k, o.B);
      return { amount: o.amount, C, ...proveDleq(this.curve, k, o.B, C, keyset.keys.get(o.amount)) };
    });
  }

  /**
   * Runs one request: `check` validates everything and returns the ledger
   * step. A refusal is counted (mint/ledger.ts), never written on its own:
   * refusals cost their senders nothing, so they may not cost the ledger a
   * row or a commit each.
   */
  async #run<T>(kind: string, check: () => Step<T> | Promise<Step<T>>): Promise<T> {
    let step: Step<T>;
    try {
      step = await check();
    } catch (error) {
      if (error instanceof SpareCyclesError) this.ledger.refused(kind, error.code);
      throw error;
    }
    if (step.apply) await this.ledger.submit(step.apply, step.kind);
    return step.answer();
  }

  /**
   * Whether this exact request (its id, kind and bytes) was applied before:
   * then its answer is due again and nothing else is checked, so a retry is
   * answered even if what admitted it has changed since (an admin key, the
   * clock). REQUEST_REUSED if the id was used for another request.
   */
  #applied(id: Uint8Array, kind: string, digest: Uint8Array): Promise<boolean> {
    return this.ledger.read(() => this.ledger.applied(id, kind, digest));
  }

  /** An admin credits an account (the escrow's deposit). */
  deposit(bytes: Uint8Array, charge?: Charge): Promise<DepositAnswer> {
    return this.#run('deposit', async () => {
      const msg = expect(bytes, 'deposit');
      charge?.(WORK.signature);
      const answer = (): DepositAnswer => ({ account: msg.account, amount: msg.amount });
      const digest = nodeCrypto.sha256(bytes);
      if (await this.#applied(msg.id, 'deposit', digest)) return { kind: 'deposit', answer };
      if (toHex(msg.mint) !== toHex(this.id)) {
        throw new MintError('WRONG_MINT', `mint: this deposit is for mint ${toHex(msg.mint)}, this is ${toHex(this.id)}`, { field: 'mint' });
      }
      const skew = msg.ts - this.#now();
      if (Math.abs(skew) > this.depositWindowMs) {
        const off = `${Math.round(Math.abs(skew) / 1000)} s ${skew < 0 ? 'old' : 'ahead of this mint\'s clock'}`;
        throw new MintError('STALE', `ts: a deposit is good within ${this.depositWindowMs / 1000} s of its ts, this one is ${off}`, { field: 'ts' });
      }
      verifyMessage(nodeCrypto, msg);
      if (!this.#admins.has(toHex(msg.admin))) {
        throw new MintError('UNAUTHORIZED', 'admin: this key may not make deposits at this mint', { field: 'admin' });
      }
      return this.#step('deposit', msg.id, digest, { account: msg.account, amount: msg.amount }, (s) => {
        Ledger.credit(s, msg.account, msg.amount);
        Ledger.total(s, 'deposited', msg.amount);
      }, answer);
    });
  }

  /** A tasker pays: blind signatures on workers' outputs, debited from its account. */
  pay(bytes: Uint8Array, charge?: Charge): Promise<MessageOf<'payment-ok'>> {
    return this.#run('payment', async () => {
      const msg = expect(bytes, 'payment');
      charge?.(WORK.signature + msg.outputs.length * WORK.output);
      const answer = (): MessageOf<'payment-ok'> => {
        const keyset = this.#keyset(msg.keyset);
        return { t: 'payment-ok', v: 1, id: msg.id, keyset: keyset.id, signatures: this.#sign(keyset, msg.outputs) };
      };
      const digest = nodeCrypto.sha256(bytes);
      if (await this.#applied(msg.id, 'payment', digest)) return { kind: 'payment', answer };
      verifyMessage(nodeCrypto, msg);
      this.#keyset(msg.keyset);
      this.#checkOutputs(msg.outputs, 'outputs');
      const amount = sum(msg.outputs);
      const account = toHex(msg.tasker);
      const signed = msg.outputs.map((o) => nodeCrypto.sha256(o.B));
      return this.#step('payment', msg.id, digest, { account, amount }, (s) => {
        Ledger.signOnce(s, signed, 'outputs');
        Ledger.debit(s, account, amount);
        Ledger.total(s, 'issued', amount);
      }, answer);
    });
  }

  /** Whoever holds credits spends them: to an account, or for fresh credits (a swap). */
  redeem(bytes: Uint8Array, charge?: Charge): Promise<MessageOf<'redeem-ok'>> {
    return this.#run('redeem', async () => {
      const msg = expect(bytes, 'redeem');
      const outputs = msg.outputs;
      charge?.(msg.proofs.length * WORK.proof + (outputs?.length ?? 0) * WORK.output);
      const amount = sum(msg.proofs);
      const to = msg.to;
      const kind = outputs ? 'swap' : 'redeem';
      const answer = (): MessageOf<'redeem-ok'> => to !== undefined
        ? { t: 'redeem-ok', v: 1, id: msg.id, amount, to }
        // Fresh credits come from the active keyset.
        : { t: 'redeem-ok', v: 1, id: msg.id, amount, keyset: this.#active.id, signatures: this.#sign(this.#active, outputs!) };
      const digest = nodeCrypto.sha256(bytes);
      if (await this.#applied(msg.id, kind, digest)) return { kind, answer };
      const keyset = this.#keyset(msg.keyset);
      const credits = await this.#verifyProofs(keyset, msg.proofs);
      if (outputs) {
        this.#checkOutputs(outputs, 'outputs');
        if (sum(outputs) !== amount) {
          throw new MintError('AMOUNT', `outputs: they sum to ${sum(outputs)}, the credits to ${amount}`, { field: 'outputs' });
        }
      }
      const signed = outputs?.map((o) => nodeCrypto.sha256(o.B));
      return this.#step(kind, msg.id, digest, { account: to, amount }, (s) => {
        Ledger.spend(s, keyset.id, credits);
        if (signed) Ledger.signOnce(s, signed, 'outputs');
        if (to !== undefined) Ledger.credit(s, to, amount);
        else Ledger.total(s, 'issued', amount);
      }, answer);
    });
  }

  /**
   * The ledger step of a request: nothing if this exact request was applied
   * already (a copy that raced this one), else apply it and record its id.
   * Every answer follows from the request alone (blind signatures are
   * deterministic), so a retry gets the same bytes and the ledger never
   * stores an answer or a blind signature.
   */
  #step<T>(
    kind: string,
    id: Uint8Array,
    digest: Uint8Array,
    who: { account?: string; amount: number },
    change: (s: Statements) => void,
    answer: () => T,
  ): Step<T> {
    const audit: AuditEntry = { kind, outcome: 'ok', account: who.account, amount: who.amount, request: id };
    return {
      kind,
      apply: (s) => {
        if (Ledger.answered(s, id, kind, digest)) return;
        change(s);
        this.ledger.record(s, id, kind, digest, audit);
      },
      answer,
    };
  }

  /** Checks each credit's signature and returns its Y. Throws before the ledger is touched. */
  async #verifyProofs(keyset: Keyset, proofs: readonly Proof[]): Promise<{ Y: Uint8Array; amount: number }[]> {
    const jobs = proofs.map((p, i) => {
      const k = keyset.secrets.get(p.amount);
      if (!k) throw new MintError('AMOUNT', `proofs[${i}].amount: ${p.amount} is not a denomination of this mint`, { field: `proofs[${i}].amount` });
      return { k, x: p.x, C: p.C };
    });
    const ys = await this.#checker.check(jobs);
    return proofs.map((p, i) => {
      const Y = ys[i];
      if (!Y) throw new MintError('INVALID_CREDIT', `proofs[${i}]: the signature does not match the secret`, { field: `proofs[${i}]` });
      return { Y, amount: p.amount };
    });
  }

  /** NUT-07: whether each Y is spent. Anyone may ask. */
  state(Ys: readonly Uint8Array[]): Promise<('spent' | 'unspent')[]> {
    return this.ledger.read(() => Ys.map((Y) => (this.ledger.isSpent(Y) ? 'spent' : 'unspent')));
  }

  balance(account: string): Promise<number | undefined> {
    return this.ledger.read(() => this.ledger.balance(account));
  }

  async close(): Promise<void> {
    await this.ledger.close();
    await this.#checker.close();
  }
}


