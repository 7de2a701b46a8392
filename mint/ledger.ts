// The mint's ledger: SQLite in WAL mode, and no answer leaves before the
// commit it rests on is on disk. Every change a request makes (the spend
// marks, the account move, the totals, the request's answer, its audit line)
// is one transaction: a crash at any point leaves either all of it or none.
//
// The primary key on spent.y is the double-spend lock. A spend is one
// `INSERT … ON CONFLICT DO NOTHING`: the check and the mark are one statement,
// so no interleaving of requests, threads or processes can spend a Y twice.
//
// Commits are grouped: requests that arrive together share one transaction,
// each inside its own savepoint, so a refused request rolls back alone and
// its neighbours still commit. The fsync is ours, not SQLite's: with
// synchronous=FULL SQLite syncs the WAL inside COMMIT, which blocks the one
// thread that parses requests for the length of a disk flush. Instead SQLite
// runs at synchronous=NORMAL (it syncs the WAL at checkpoints only) and the
// ledger fdatasyncs the WAL file on libuv's thread pool after each commit:
// the same bytes are on disk before any answer leaves, as with FULL, while
// the next requests are parsed and checked. Requests that arrive during a
// sync commit together when it ends, so groups grow with the load.
//
// What is deliberately not stored: blinded points B, blind signatures C',
// secrets or unblinded signatures. Issuance records an amount against an
// account, and SHA-256(B) of each output signed, alone in a table of its own
// (the mint signs each B once); redemption records Y. A retried payment's
// signatures are computed again (they are deterministic), so nothing on disk
// ties a B to a Y.
//
// Refusals cost an attacker nothing, so they must cost the ledger next to
// nothing too: no row and no commit of their own. They are counted in memory
// by (hour, kind, code) and the counts ride along with the next commit (or a
// commit of their own a few seconds later), into a table of hourly counts
// kept for REFUSAL_DAYS: its size is bounded by hours × kinds × codes, however
// many refusals there are. The audit table keeps one line per applied
// request, which only value that really moved can grow.

import { open, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { MintError, type MintErrorCode, SpareCyclesError, VersionError } from '../protocol/errors.ts';

export type Statements = ReturnType<typeof prepare>;

const SCHEMA_VERSION = 2;

/** How long hourly refusal counts are kept: enough to see an attack's shape and compare it with the weeks before. */
export const REFUSAL_DAYS = 30;
const HOUR_MS = 60 * 60 * 1000;
/** Refusal counts with no other commit to ride along with are written this soon after the first of them. */
const REFUSAL_FLUSH_MS = 5_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keysets (
  id BLOB PRIMARY KEY, seed BLOB NOT NULL, active INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spent (
  y BLOB PRIMARY KEY, keyset BLOB NOT NULL, amount INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
  id BLOB PRIMARY KEY, kind TEXT NOT NULL, digest BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ms INTEGER NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL,
  account TEXT, amount INTEGER, request BLOB);
CREATE TABLE IF NOT EXISTS signed (h BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refusals (
  hour INTEGER NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (hour, kind, outcome)) WITHOUT ROWID;
INSERT OR IGNORE INTO totals (name, value) VALUES ('deposited', 0), ('issued', 0), ('spent', 0);
`;

function prepare(db: Database.Database) {
  return {
    request: db.prepare<[Uint8Array], { kind: string; digest: Buffer }>('SELECT kind, digest FROM requests WHERE id = ?'),
    recordRequest: db.prepare<[Uint8Array, string, Uint8Array]>('INSERT INTO requests (id, kind, digest) VALUES (?, ?, ?)'),
    spend: db.prepare<[Uint8Array, Uint8Array, number]>(
      'INSERT INTO spent (y, keyset, amount) VALUES (?, ?, ?) ON CONFLICT (y) DO NOTHING',
    ),
    isSpent: db.prepare<[Uint8Array], { one: number }>('SELECT 1 AS one FROM spent WHERE y = ?'),
    balance: db.prepare<[string], { balance: number }>('SELECT balance FROM accounts WHERE name = ?'),
    credit: db.prepare<[string, number]>(
      'INSERT INTO accounts (name, balance) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET balance = balance + excluded.balance',
    ),
    debit: db.prepare<[number, string, number]>('UPDATE accounts SET balance = balance - ? WHERE name = ? AND balance >= ?'),
    addTotal: db.prepare<[number, string]>('UPDATE totals SET value = value + ? WHERE name = ?'),
    getTotal: db.prepare<[string], { value: number }>('SELECT value FROM totals WHERE name = ?'),
    audit: db.prepare<[number, string, string, string | null, number | null, Uint8Array | null]>(
      'INSERT INTO audit (ms, kind, outcome, account, amount, request) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    sign: db.prepare<[Uint8Array]>('INSERT INTO signed (h) VALUES (?) ON CONFLICT (h) DO NOTHING'),
    refused: db.prepare<[number, string, string, number]>(
      'INSERT INTO refusals (hour, kind, outcome, n) VALUES (?, ?, ?, ?) ON CONFLICT (hour, kind, outcome) DO UPDATE SET n = n + excluded.n',
    ),
    pruneRefusals: db.prepare<[number]>('DELETE FROM refusals WHERE hour < ?'),
  };
}

/**
 * v1 → v2: signed outputs and refusal counts get tables of their own, and the
 * refusal lines v1 wrote into the audit table become counts.
 */
function migrateV1(db: Database.Database): void {
  db.transaction(() => {
    db.exec(`INSERT INTO refusals (hour, kind, outcome, n)
      SELECT ms / ${HOUR_MS}, kind, outcome, COUNT(*) FROM audit WHERE outcome <> 'ok' GROUP BY 1, 2, 3 ORDER BY 1
      ON CONFLICT (hour, kind, outcome) DO UPDATE SET n = n + excluded.n`);
    db.exec("DELETE FROM audit WHERE outcome <> 'ok'");
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(SCHEMA_VERSION));
  })();
}

export interface AuditEntry {
  kind: string;
  /** 'ok' or the refusal's code. */
  outcome: 'ok' | MintErrorCode | string;
  account?: string;
  amount?: number;
  request?: Uint8Array;
}

export interface Totals {
  deposited: number;
  issued: number;
  spent: number;
  balances: number;
  spentRows: number;
  accounts: number;
}

interface Pending<T> {
  apply: (s: Statements) => T;
  /** The request kind a refusal by apply is counted under. */
  kind?: string;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** Refusals of one kind and code in one hour. */
export interface RefusalCount {
  /** Hours since the epoch (ms / 3,600,000). */
  hour: number;
  kind: string;
  outcome: string;
  n: number;
}

export interface LedgerOptions {
  /** Most requests in one commit group. */
  maxGroup?: number;
  now?: () => number;
}

export class Ledger {
  readonly db: Database.Database;
  readonly #s: Statements;
  readonly #now: () => number;
  readonly #maxGroup: number;
  #queue: Pending<unknown>[] = [];
  /** One request inside the group's transaction: a nested transaction is a savepoint, so a refusal rolls back this request only. */
  readonly #inSavepoint: (p: Pending<unknown>) => unknown;
  /** A whole group in one transaction. Both made once: better-sqlite3 builds a wrapper per transaction() call. */
  readonly #inTransaction: (run: () => void) => void;
  #scheduled = false;
  #closed = false;
  readonly #walPath: string;
  #wal: Promise<FileHandle> | undefined;
  /** Callbacks waiting for a sync that starts after their commit. */
  #unsynced: ((error?: unknown) => void)[] = [];
  #syncing = false;
  /** Commits made, and how many of them a finished sync covers. */
  #commits = 0;
  #durable = 0;
  /** Commit groups, the requests in them and the WAL syncs, for /metrics. */
  readonly stats = { groups: 0, grouped: 0, commitMs: 0, syncs: 0, syncMs: 0 };
  /** Refusals counted but not yet written, by `hour kind outcome`. */
  #tallies = new Map<string, RefusalCount>();
  #tallyTimer: NodeJS.Timeout | undefined;
  /** The oldest hour kept, as of the last prune. */
  #prunedTo = 0;
  /** This mint's id (meta 'mint'), which deposits for it name. */
  readonly mintId: Uint8Array;
  /** Key id (1 byte) ‖ seed (32 bytes) of this mint's oblivious key (meta 'oblivious'): a secret, like the keyset seeds. */
  readonly obliviousSeed: Uint8Array;

  constructor(path: string, options: LedgerOptions = {}) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: COMMIT does not sync the WAL; #sync does, before any answer leaves (see the top of this file).
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const version = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get();
    if (!version) this.db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
    else if (Number(version.value) === 1) migrateV1(this.db);
    else if (Number(version.value) !== SCHEMA_VERSION) {
      throw new VersionError(`ledger ${path}: expected schema version ${SCHEMA_VERSION}, got ${version.value}`, version.value);
    }
    // Made once with the ledger: a copy of the file is the same mint, a new file a new one.
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('mint', ?)").run(toHex(randomBytes(16)));
    this.mintId = fromHex(this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'mint'").get()!.value);
    // The seed of the mint's oblivious key (protocol/oblivious.ts), behind its one-byte key id: made once, like the id.
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('oblivious', ?)").run(toHex(randomBytes(33)));
    this.obliviousSeed = fromHex(this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'oblivious'").get()!.value);
    if (this.obliviousSeed.length !== 33) throw new SpareCyclesError('FORMAT', `ledger ${path}: expected 33 bytes of oblivious key seed, got ${this.obliviousSeed.length}`, { field: 'meta.oblivious' });
    this.#s = prepare(this.db);
    this.#inSavepoint = this.db.transaction((p: Pending<unknown>) => p.apply(this.#s));
    this.#inTransaction = this.db.transaction((run: () => void) => run());
    this.#walPath = `${path}-wal`;
    this.#now = options.now ?? Date.now;
    this.#maxGroup = options.maxGroup ?? 256;
  }

  /**
   * Runs `apply` inside the next commit group, in a savepoint of its own.
   * Resolves after the group's commit is durable; rejects with the MintError
   * that `apply` threw (its savepoint rolled back, nothing of it remains) or
   * with the commit's failure.
   */
  submit<T>(apply: (s: Statements) => T, kind?: string): Promise<T> {
    if (this.#closed) return Promise.reject(new SpareCyclesError('INTERNAL', 'ledger is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ apply, kind, resolve, reject } as Pending<unknown>);
      // While a sync runs, requests wait and join the commit after it (see #sync).
      if (!this.#syncing) this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate lets every request already parsed this turn join the group.
    setImmediate(() => this.#flush());
  }

  /**
   * Counts a refusal of a request of `kind` with `code`. No commit of its own:
   * the count is written with the next commit, or within REFUSAL_FLUSH_MS.
   */
  refused(kind: string, code: string): void {
    this.#tally({ hour: Math.floor(this.#now() / HOUR_MS), kind, outcome: code, n: 1 });
    if (!this.#tallyTimer && !this.#closed) {
      this.#tallyTimer = setTimeout(() => {
        this.#tallyTimer = undefined;
        if (this.#tallies.size > 0 && !this.#closed) this.submit(() => {}).catch(() => {});
      }, REFUSAL_FLUSH_MS);
      this.#tallyTimer.unref();
    }
  }

  #tally(t: RefusalCount): void {
    const key = `${t.hour} ${t.kind} ${t.outcome}`;
    const held = this.#tallies.get(key);
    if (held) held.n += t.n;
    else this.#tallies.set(key, { ...t });
  }

  /** Writes the refusal counts held in memory, and forgets the hours past REFUSAL_DAYS. Inside a transaction. */
  #writeTallies(): Map<string, RefusalCount> {
    const written = this.#tallies;
    this.#tallies = new Map();
    for (const t of written.values()) this.#s.refused.run(t.hour, t.kind, t.outcome, t.n);
    const oldest = Math.floor(this.#now() / HOUR_MS) - REFUSAL_DAYS * 24;
    if (written.size > 0 && oldest > this.#prunedTo) {
      this.#s.pruneRefusals.run(oldest);
      this.#prunedTo = oldest;
    }
    return written;
  }

  /** Refusal counts by kind and code over the hours kept, those not yet written included. */
  refusals(): { kind: string; outcome: string; n: number }[] {
    const sums = new Map<string, { kind: string; outcome: string; n: number }>();
    const add = (r: { kind: string; outcome: string; n: number }) => {
      const key = `${r.kind} ${r.outcome}`;
      const sum = sums.get(key);
      if (sum) sum.n += r.n;
      else sums.set(key, { kind: r.kind, outcome: r.outcome, n: r.n });
    };
    for (const r of this.db.prepare<[], RefusalCount>('SELECT hour, kind, outcome, n FROM refusals').all()) add(r);
    for (const t of this.#tallies.values()) add(t);
    return [...sums.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.outcome.localeCompare(b.outcome));
  }

  #writeAudit(s: Statements, e: AuditEntry): void {
    s.audit.run(this.#now(), e.kind, e.outcome, e.account ?? null, e.amount ?? null, e.request ?? null);
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) this.#commit(this.#queue.splice(0, this.#maxGroup));
  }

  #commit(group: Pending<unknown>[]): void {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const started = performance.now();
    let tallies: Map<string, RefusalCount> | undefined;
    try {
      this.#inTransaction(() => {
        for (const p of group) {
          try {
            outcomes.push({ ok: true, value: this.#inSavepoint(p) });
          } catch (error) {
            if (error instanceof MintError && p.kind !== undefined) this.refused(p.kind, error.code);
            outcomes.push({ ok: false, error });
          }
        }
        tallies = this.#writeTallies();
      });
    } catch (error) {
      // The commit itself failed: nothing of the group is on disk, and its counts wait for the next one.
      for (const t of tallies?.values() ?? []) this.#tally(t);
      for (const p of group) p.reject(error);
      return;
    }
    this.#commits++;
    this.stats.groups++;
    this.stats.grouped += group.length;
    this.stats.commitMs += performance.now() - started;
    this.#afterSync((syncError) => {
      group.forEach((p, i) => {
        const o = outcomes[i]!;
        // Committed but not known to be on disk: the caller retries, and the retry finds the commit.
        if (syncError !== undefined) p.reject(syncError);
        else if (o.ok) p.resolve(o.value);
        else p.reject(o.error);
      });
    });
  }

  /** Calls `then` once a sync that started after this call has finished. */
  #afterSync(then: (error?: unknown) => void): void {
    this.#unsynced.push(then);
    if (!this.#syncing) void this.#sync();
  }

  /**
   * Syncs until nothing waits. Requests that arrive during a sync are
   * committed together when it ends, and the next sync covers them: a sync
   * costs the disk (and this machine's kernel) about as much for one request
   * as for a hundred, so fewer, larger groups leave more CPU for requests.
   */
  async #sync(): Promise<void> {
    this.#syncing = true;
    while (this.#unsynced.length > 0) {
      const waiting = this.#unsynced;
      this.#unsynced = [];
      const covers = this.#commits;
      const started = performance.now();
      let failure: unknown;
      try {
        this.#wal ??= open(this.#walPath, 'r+');
        await (await this.#wal).datasync();
        this.#durable = covers;
      } catch (error) {
        failure = error;
        this.#wal = undefined;
      }
      this.stats.syncs++;
      this.stats.syncMs += performance.now() - started;
      for (const then of waiting) then(failure);
      // What queued meanwhile commits now, so the next round syncs it too.
      this.#flush();
    }
    this.#syncing = false;
  }

  /**
   * Runs a read now and resolves with it once every commit it could have seen
   * is on disk, so no reader is told of a spend that a power cut could undo.
   */
  read<T>(query: () => T): Promise<T> {
    const value = query();
    // Nothing committed since the last finished sync: what it read is on disk already.
    if (this.#durable === this.#commits) return Promise.resolve(value);
    return new Promise((resolve, reject) => this.#afterSync((error) => (error === undefined ? resolve(value) : reject(error))));
  }

  // Operations used inside `apply`. Each throws a MintError to refuse.

  /** Whether this exact request (id, kind and SHA-256 of its bytes) was applied; REQUEST_REUSED if its id was used for another. */
  static answered(s: Statements, id: Uint8Array, kind: string, digest: Uint8Array): boolean {
    const row = s.request.get(id);
    if (!row) return false;
    if (row.kind !== kind || !Buffer.from(digest).equals(row.digest)) {
      throw new MintError('REQUEST_REUSED', 'id: this request id was already used for a different request', { field: 'id' });
    }
    return true;
  }

  /** Marks each Y spent, or refuses the whole request if any already is. */
  static spend(s: Statements, keyset: Uint8Array, credits: readonly { Y: Uint8Array; amount: number }[]): number {
    let total = 0;
    credits.forEach((c, i) => {
      if (s.spend.run(c.Y, keyset, c.amount).changes === 0) {
        throw new MintError('ALREADY_SPENT', `proofs[${i}]: this credit is already spent`, { field: `proofs[${i}]` });
      }
      total += c.amount;
    });
    s.addTotal.run(total, 'spent');
    return total;
  }

  /**
   * Records each blinded output as signed (by its SHA-256, `hashes[i]` for
   * `outputs[i]`), or refuses the whole request if any was signed before:
   * the same B signed twice gives the same credit twice, so the second payer
   * gets nothing it could not have had already.
   */
  static signOnce(s: Statements, hashes: readonly Uint8Array[], field: string): void {
    hashes.forEach((h, i) => {
      if (s.sign.run(h).changes === 0) {
        throw new MintError('ALREADY_SIGNED', `${field}[${i}].B: this mint has signed this blinded output before; blind a fresh one`, {
          field: `${field}[${i}].B`,
        });
      }
    });
  }

  static debit(s: Statements, account: string, amount: number): void {
    if (s.debit.run(amount, account, amount).changes === 1) return;
    const row = s.balance.get(account);
    if (!row) throw new MintError('UNKNOWN_ACCOUNT', `no account ${account} at this mint`, { field: 'tasker' });
    throw new MintError('INSUFFICIENT_FUNDS', `account holds ${row.balance}, the request needs ${amount}`, { field: 'outputs' });
  }

  static credit(s: Statements, account: string, amount: number): void {
    s.credit.run(account, amount);
  }

  static total(s: Statements, name: 'deposited' | 'issued', amount: number): void {
    // Every balance and total is bounded by what was deposited; keeping that
    // within 2^53 keeps every sum exact in JavaScript numbers.
    if (name === 'deposited' && s.getTotal.get('deposited')!.value + amount > Number.MAX_SAFE_INTEGER) {
      throw new MintError('AMOUNT', `amount: deposits may not exceed ${Number.MAX_SAFE_INTEGER} in all`, { field: 'amount' });
    }
    s.addTotal.run(amount, name);
  }

  record(s: Statements, id: Uint8Array, kind: string, digest: Uint8Array, audit: AuditEntry): void {
    s.recordRequest.run(id, kind, digest);
    this.#writeAudit(s, audit);
  }

  // Reads, outside the commit queue: WAL readers see the last commit.

  /** Whether this exact request was applied (see answered); REQUEST_REUSED if its id was used for another. */
  applied(id: Uint8Array, kind: string, digest: Uint8Array): boolean {
    return Ledger.answered(this.#s, id, kind, digest);
  }

  isSpent(Y: Uint8Array): boolean {
    return this.#s.isSpent.get(Y) !== undefined;
  }

  balance(account: string): number | undefined {
    return this.#s.balance.get(account)?.balance;
  }

  totals(): Totals {
    const t = Object.fromEntries(
      this.db.prepare<[], { name: string; value: number }>('SELECT name, value FROM totals').all().map((r) => [r.name, r.value]),
    );
    const sums = this.db
      .prepare<[], { balances: number; accounts: number }>('SELECT COALESCE(SUM(balance), 0) AS balances, COUNT(*) AS accounts FROM accounts')
      .get()!;
    const spentRows = this.db.prepare<[], { n: number }>('SELECT COALESCE(SUM(amount), 0) AS n FROM spent').get()!.n;
    return { deposited: t.deposited ?? 0, issued: t.issued ?? 0, spent: t.spent ?? 0, balances: sums.balances, accounts: sums.accounts, spentRows };
  }

  /**
   * The ledger's invariants; returns the broken ones (empty when sound):
   * deposited = balances + outstanding (issued − spent), the spent rows sum to
   * the spent total, and no more was spent than issued.
   */
  checkInvariants(): string[] {
    const t = this.totals();
    const broken: string[] = [];
    if (t.deposited !== t.balances + (t.issued - t.spent)) {
      broken.push(`deposited ${t.deposited} ≠ balances ${t.balances} + outstanding ${t.issued - t.spent}`);
    }
    if (t.spentRows !== t.spent) broken.push(`spent rows sum to ${t.spentRows}, the spent total is ${t.spent}`);
    if (t.spent > t.issued) broken.push(`spent ${t.spent} > issued ${t.issued}`);
    return broken;
  }

  auditLog(): { seq: number; ms: number; kind: string; outcome: string; account: string | null; amount: number | null }[] {
    return this.db.prepare('SELECT seq, ms, kind, outcome, account, amount FROM audit ORDER BY seq').all() as never;
  }

  /** Keyset seeds, oldest first. */
  keysetSeeds(): { id: Buffer; seed: Buffer; active: number }[] {
    return this.db.prepare('SELECT id, seed, active FROM keysets ORDER BY created_ms').all() as never;
  }

  addKeyset(id: Uint8Array, seed: Uint8Array, active: boolean): void {
    this.db.transaction(() => {
      if (active) this.db.prepare('UPDATE keysets SET active = 0').run();
      this.db.prepare('INSERT INTO keysets (id, seed, active, created_ms) VALUES (?, ?, ?, ?)').run(id, seed, active ? 1 : 0, this.#now());
    })();
  }

  /** Waits for queued requests to commit, then closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#tallyTimer);
    this.#tallyTimer = undefined;
    // Counts still in memory get a last commit.
    if (this.#tallies.size > 0) await this.submit(() => {}).catch(() => {});
    while (this.#queue.length > 0 || this.#scheduled || this.#syncing) await new Promise((r) => setImmediate(r));
    this.#closed = true;
    await (await this.#wal?.catch(() => undefined))?.close();
    this.db.close();
  }
}
