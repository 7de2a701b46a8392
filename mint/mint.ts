// The mint: an escrow that holds taskers' deposits, signs workers' blinded
// outputs when a tasker pays, and redeems each credit once. This file is the
// mint's logic without HTTP: every request is decoded and checked in full
// (schema, signature, keyset, denominations, points, each credit's
// signature) before the ledger is touched, then applied in one ledger step.

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
import { Ledger, type AuditEntry, type Statements } from './ledger.ts';
import { loadSodiumCurve } from './sodium-curve.ts';
import { inlineChecker, threadChecker, type CreditChecker } from './verifier.ts';

export interface MintOptions {
  /** The SQLite ledger file; created with a fresh keyset when missing. */
  db: string;
  /** ed25519 keys whose signed deposits the mint accepts. */
  admins: readonly Uint8Array[];
  curve?: CreditCurve;
  /** Check credits in a thread of their own; by default when the machine has more than one core. */
  checkThread?: boolean;
  now?: () => number;
}

export interface DepositAnswer {
  account: string;
  amount: number;
}

interface Step<T> {
  audit: AuditEntry;
  apply: (s: Statements) => void;
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
  #active!: Keyset;

  private constructor(ledger: Ledger, curve: CreditCurve, admins: readonly Uint8Array[], checker: CreditChecker) {
    this.ledger = ledger;
    this.curve = curve;
    this.#admins = new Set(admins.map(toHex));
    this.#checker = checker;
  }

  static async open(options: MintOptions): Promise<Mint> {
    const curve = options.curve ?? (await loadSodiumCurve());
    const ledger = new Ledger(options.db, { now: options.now });
    const checker = (options.checkThread ?? availableParallelism() > 1) ? threadChecker() : inlineChecker(curve);
    const mint = new Mint(ledger, curve, options.admins, checker);
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
   * step; a refusal at any point gets an audit line (in the step's own
   * transaction when the ledger refused it).
   */
  async #run<T>(kind: string, check: () => Step<T> | Promise<Step<T>>): Promise<T> {
    let step: Step<T>;
    try {
      step = await check();
    } catch (error) {
      if (error instanceof SpareCyclesError) await this.ledger.audit({ kind, outcome: error.code });
      throw error;
    }
    await this.ledger.submit(step.apply, (e) => ({ ...step.audit, outcome: e.code }));
    return step.answer();
  }

  /** An admin credits an account (the escrow's deposit). */
  deposit(bytes: Uint8Array): Promise<DepositAnswer> {
    return this.#run('deposit', () => {
      const msg = expect(bytes, 'deposit');
      verifyMessage(nodeCrypto, msg);
      if (!this.#admins.has(toHex(msg.admin))) {
        throw new MintError('UNAUTHORIZED', 'admin: this key may not make deposits at this mint', { field: 'admin' });
      }
      const answer: DepositAnswer = { account: msg.account, amount: msg.amount };
      return this.#step('deposit', msg.id, bytes, { account: msg.account, amount: msg.amount }, (s) => {
        Ledger.credit(s, msg.account, msg.amount);
        Ledger.total(s, 'deposited', msg.amount);
      }, () => answer);
    });
  }

  /** A tasker pays: blind signatures on workers' outputs, debited from its account. */
  pay(bytes: Uint8Array): Promise<MessageOf<'payment-ok'>> {
    return this.#run('payment', () => {
      const msg = expect(bytes, 'payment');
      verifyMessage(nodeCrypto, msg);
      const keyset = this.#keyset(msg.keyset);
      this.#checkOutputs(msg.outputs, 'outputs');
      const amount = sum(msg.outputs);
      const account = toHex(msg.tasker);
      return this.#step('payment', msg.id, bytes, { account, amount }, (s) => {
        Ledger.debit(s, account, amount);
        Ledger.total(s, 'issued', amount);
      }, () => ({ t: 'payment-ok', v: 1, id: msg.id, keyset: keyset.id, signatures: this.#sign(keyset, msg.outputs) }));
    });
  }

  /** Whoever holds credits spends them: to an account, or for fresh credits (a swap). */
  redeem(bytes: Uint8Array): Promise<MessageOf<'redeem-ok'>> {
    return this.#run('redeem', async () => {
      const msg = expect(bytes, 'redeem');
      const keyset = this.#keyset(msg.keyset);
      const credits = await this.#verifyProofs(keyset, msg.proofs);
      const amount = sum(msg.proofs);
      const outputs = msg.outputs;
      if (outputs) {
        this.#checkOutputs(outputs, 'outputs');
        if (sum(outputs) !== amount) {
          throw new MintError('AMOUNT', `outputs: they sum to ${sum(outputs)}, the credits to ${amount}`, { field: 'outputs' });
        }
      }
      const to = msg.to;
      // Fresh credits come from the active keyset.
      const fresh = this.#active;
      return this.#step(outputs ? 'swap' : 'redeem', msg.id, bytes, { account: to, amount }, (s) => {
        Ledger.spend(s, keyset.id, credits);
        if (to !== undefined) Ledger.credit(s, to, amount);
        else Ledger.total(s, 'issued', amount);
      }, (): MessageOf<'redeem-ok'> => to !== undefined
        ? { t: 'redeem-ok', v: 1, id: msg.id, amount, to }
        : { t: 'redeem-ok', v: 1, id: msg.id, amount, keyset: fresh.id, signatures: this.#sign(fresh, outputs!) });
    });
  }

  /**
   * The ledger step of a request: nothing if this exact request was applied
   * already, else apply it and record its id. Every answer follows from the
   * request alone (blind signatures are deterministic), so a retry gets the
   * same bytes and the ledger never stores an answer or a blind signature.
   */
  #step<T>(
    kind: string,
    id: Uint8Array,
    bytes: Uint8Array,
    who: { account?: string; amount: number },
    change: (s: Statements) => void,
    answer: () => T,
  ): Step<T> {
    const digest = nodeCrypto.sha256(bytes);
    const audit: AuditEntry = { kind, outcome: 'ok', account: who.account, amount: who.amount, request: id };
    return {
      audit,
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


