// A relay's replay tags on disk, so that a relay restarted within an epoch
// still refuses a packet it passed before the restart: its onion keys
// outlive a restart (relay/onion-keys.ts), so its tags must too, or a packet
// captured before the restart peels again and an observer watches where its
// twin comes out.
//
// One SQLite file per epoch, `onion-replay/<epoch>.sqlite`, dropped whole
// (closed and unlinked) once that epoch's key is gone: no packet of it can
// be peeled then, so its tags protect nothing. Lookups stay in memory
// (MemoryReplayStore, loaded from the files at start); the files are an
// append-only log of what memory holds, one row per commit group with the
// group's tags and a checksum. A B-tree keyed by tag would cost a page write
// per tag (tags are random); appending costs 32 bytes.
//
// No packet leaves before its tag is on disk. Tags added in one turn of the
// event loop commit together (setImmediate), then the WAL is fdatasync'd on
// libuv's thread pool (synchronous=NORMAL: COMMIT itself does not sync, the
// same scheme as mint/ledger.ts); durable() resolves once that sync has
// finished, and the router holds the group's packets until then. Tags added
// during a sync form the next group, so groups grow with the load. A crash
// at any moment therefore loses only tags whose packets never left. A failed
// commit or sync leaves the store refusing every later packet: after a
// failed fsync the kernel may have dropped the pages it could not write, so
// nothing written since could be trusted to be on disk.
//
// A file that does not read on start (not SQLite, a checksum that does not
// match, another epoch length) is a typed error naming it, and the relay
// does not start: starting with the tags that do read would accept, once,
// every packet whose tag was lost. docs/relay-onion.md says what to do.

import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ONION } from '../protocol/constants.ts';
import { SpareCyclesError, type ErrorDetails } from '../protocol/errors.ts';
import { MemoryReplayStore } from '../protocol/onion/index.ts';
import { syncDir } from '../store/atomic-file.ts';

/** The folder in a relay's state folder that holds the tag files. */
export const ONION_REPLAY_DIR = 'onion-replay';

/** The files' own version: local, never on the wire. */
const FILE_VERSION = 1;
const TAG_BYTES = 32;
const SUM_BYTES = 16;
const FILE_NAME = /^(\d{1,10})\.sqlite$/;
/** A database and the files SQLite keeps beside it. */
const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE groups (seq INTEGER PRIMARY KEY, tags BLOB NOT NULL, sum BLOB NOT NULL);
`;

/** Replay state that does not read (FORMAT), or a write that failed (INTERNAL); `file` names the file. */
export class ReplayStoreError extends SpareCyclesError {
  readonly file: string;
  constructor(code: 'FORMAT' | 'INTERNAL', file: string, message: string, details?: ErrorDetails) {
    super(code, `${file}: ${message}`, { field: file, ...details });
    this.file = file;
  }
}

export interface DiskReplayStoreOptions {
  /** The folder of tag files (`<state dir>/onion-replay`); made owner-only if missing. */
  dir: string;
  /** The oldest epoch whose key may still be held: files of older ones are deleted unread. */
  from: number;
}

interface Group {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class DiskReplayStore {
  readonly #dir: string;
  readonly #seen = new MemoryReplayStore();
  readonly #files = new Map<number, EpochFile>();
  /** Files of forgotten epochs, closed and deleted once no sync uses them. */
  readonly #retired: EpochFile[] = [];
  #floor: number;
  /** The group that tags added now join, and the one being synced. */
  #open: Group | undefined;
  #syncing: Group | undefined;
  #scheduled = false;
  #failed: ReplayStoreError | undefined;
  #closed = false;

  private constructor(options: DiskReplayStoreOptions) {
    this.#dir = options.dir;
    this.#floor = options.from;
  }

  /** Reads every tag file of an epoch from `from` on; a file that does not read is a ReplayStoreError naming it. */
  static async open(options: DiskReplayStoreOptions): Promise<DiskReplayStore> {
    const store = new DiskReplayStore(options);
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const epochs = (await readdir(options.dir)).flatMap((name) => {
      const match = FILE_NAME.exec(name);
      return match ? [Number(match[1])] : [];
    });
    try {
      for (const epoch of epochs.sort((a, b) => a - b)) {
        const path = join(options.dir, `${epoch}.sqlite`);
        if (epoch < options.from) {
          await removeDb(path);
          continue;
        }
        const file = EpochFile.load(path, epoch, (tag) => store.#seen.add(epoch, tag));
        if (file) store.#files.set(epoch, file);
        else await removeDb(path);
      }
    } catch (error) {
      for (const file of store.#files.values()) file.close();
      throw error;
    }
    return store;
  }

  /** Records `tag` under `epoch`; false when it was recorded before, or its epoch is forgotten. Throws once the store has failed. */
  add(epoch: number, tag: Uint8Array): boolean {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new ReplayStoreError('INTERNAL', this.#dir, 'the replay store is closed');
    // A forgotten epoch has no file any more; refusing keeps a late packet of it from making one.
    if (epoch < this.#floor) return false;
    if (!this.#seen.add(epoch, tag)) return false;
    let file = this.#files.get(epoch);
    if (file === undefined) {
      try {
        file = EpochFile.create(join(this.#dir, `${epoch}.sqlite`), epoch);
      } catch (error) {
        throw this.#fail(error, join(this.#dir, `${epoch}.sqlite`));
      }
      this.#files.set(epoch, file);
    }
    file.pending.push(tag.slice());
    this.#open ??= group();
    if (!this.#syncing && !this.#scheduled) {
      this.#scheduled = true;
      // Every packet already read this turn joins the group.
      setImmediate(() => this.#flush());
    }
    return true;
  }

  /** Resolves once every tag added so far is on disk; undefined when none waits. Rejects if the write failed. */
  durable(): Promise<void> | undefined {
    return (this.#open ?? this.#syncing)?.promise;
  }

  /** Forgets the tags of every epoch before `epoch` and deletes their files: call it when their onion keys are gone. */
  forgetBefore(epoch: number): void {
    if (epoch <= this.#floor) return;
    this.#floor = epoch;
    this.#seen.forgetBefore(epoch);
    for (const [e, file] of this.#files) {
      if (e >= epoch) continue;
      this.#files.delete(e);
      // Packets still waiting on these tags may go: no copy of them can be peeled any more.
      file.pending.length = 0;
      this.#retired.push(file);
    }
    if (!this.#syncing) this.#reap();
  }

  /** Tags held, across epochs. */
  get size(): number {
    return this.#seen.size;
  }

  /** Epochs with a file, ascending. */
  get epochs(): number[] {
    return [...this.#files.keys()].sort((a, b) => a - b);
  }

  /** Writes what is pending, waits for its sync, and closes every file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#open && !this.#syncing && !this.#failed) this.#flush();
    await (this.#open ?? this.#syncing)?.promise.catch(() => {});
    await this.#syncing?.promise.catch(() => {});
    this.#closed = true;
    for (const file of this.#files.values()) await file.closeAsync();
    this.#files.clear();
    this.#reap();
  }

  #flush(): void {
    this.#scheduled = false;
    const current = this.#open;
    if (this.#syncing || !current || this.#failed) return;
    this.#open = undefined;
    const touched: EpochFile[] = [];
    for (const file of this.#files.values()) {
      if (file.pending.length === 0) continue;
      try {
        file.commit();
      } catch (error) {
        return current.reject(this.#fail(error, file.path));
      }
      touched.push(file);
    }
    this.#syncing = current;
    void Promise.all(touched.map((file) => file.sync().catch((error: unknown) => Promise.reject(this.#fail(error, file.path))))).then(
      () => this.#synced(current),
      (error: unknown) => this.#synced(current, error),
    );
  }

  #synced(done: Group, error?: unknown): void {
    this.#syncing = undefined;
    if (error === undefined) done.resolve();
    else done.reject(error);
    this.#reap();
    if (this.#failed) this.#open?.reject(this.#failed);
    else if (this.#open) this.#flush();
  }

  #fail(error: unknown, path: string): ReplayStoreError {
    this.#failed ??=
      error instanceof ReplayStoreError
        ? error
        : new ReplayStoreError('INTERNAL', path, `writing replay tags failed (${(error as Error).message}); restart the relay`, { cause: error });
    this.#open?.reject(this.#failed);
    this.#open = undefined;
    return this.#failed;
  }

  #reap(): void {
    for (const file of this.#retired.splice(0)) {
      file.close();
      removeDbSync(file.path);
    }
  }
}

function group(): Group {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  // A group nobody waits on must not become an unhandled rejection; those who wait still see it.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** One epoch's file: its connection, the tags not yet committed, and the WAL handle its syncs use. */
class EpochFile {
  readonly pending: Uint8Array[] = [];
  readonly #db: Database.Database;
  readonly #insert: Database.Statement<[Uint8Array, Uint8Array]>;
  #wal: Promise<FileHandle> | undefined;
  /** A file made by this process: its folder entry and header are synced with its first group. */
  #fresh: boolean;

  private constructor(
    readonly path: string,
    db: Database.Database,
    fresh: boolean,
  ) {
    this.#db = db;
    this.#fresh = fresh;
    this.#insert = db.prepare('INSERT INTO groups (tags, sum) VALUES (?, ?)');
  }

  static create(path: string, epoch: number): EpochFile {
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
    // Loading deleted any file of this epoch that held nothing; one here now is another writer's, and SCHEMA refuses it.
    const db = new Database(path);
    try {
      // The schema is committed and synced before any tag, in one transaction: a file without it (which load() drops)
      // was cut short while being made, before any packet waited on it.
      db.pragma('synchronous = FULL');
      db.transaction(() => {
        db.exec(SCHEMA);
        const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        meta.run('v', String(FILE_VERSION));
        meta.run('epoch', String(epoch));
        meta.run('epochMs', String(ONION.epochMs));
      })();
      toWal(db);
      return new EpochFile(path, db, true);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /**
   * Opens an existing file and hands each tag it holds to `add`. Undefined
   * for a file with no tables (cut short while being made); a
   * ReplayStoreError for one that does not read.
   */
  static load(path: string, epoch: number, add: (tag: Uint8Array) => void): EpochFile | undefined {
    const bad = (why: string, cause?: unknown) =>
      new ReplayStoreError('FORMAT', path, `${why}; the relay cannot tell which packets it passed this epoch (see docs/relay-onion.md)`, { cause });
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { fileMustExist: true });
      toWal(db);
      const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      if (tables.length === 0) {
        db.close();
        return undefined;
      }
      if (tables.join(',') !== 'groups,meta') throw bad(`expected the tables groups and meta, got ${tables.join(', ')}`);
      const check = db.prepare<[], string>('PRAGMA quick_check').pluck().all();
      if (check.join() !== 'ok') throw bad(`SQLite finds it damaged: ${check.slice(0, 3).join('; ')}`);
      const meta = new Map(db.prepare<[], [string, string]>('SELECT key, value FROM meta').raw().all());
      if (meta.get('v') !== String(FILE_VERSION)) throw bad(`expected version ${FILE_VERSION}, got ${meta.get('v')}`);
      if (meta.get('epoch') !== String(epoch)) throw bad(`expected the tags of epoch ${epoch}, got epoch ${meta.get('epoch')}`);
      // Tags filed under epochs of another length would be kept for the wrong time.
      if (meta.get('epochMs') !== String(ONION.epochMs)) throw bad(`expected epochs of ${ONION.epochMs} ms, got ${meta.get('epochMs')}`);
      for (const [seq, tags, sum] of db.prepare<[], [number, Buffer, Buffer]>('SELECT seq, tags, sum FROM groups ORDER BY seq').raw().iterate()) {
        if (!(tags instanceof Uint8Array) || tags.length % TAG_BYTES !== 0) throw bad(`group ${seq}: expected a multiple of ${TAG_BYTES} bytes of tags`);
        if (!(sum instanceof Uint8Array) || !checksum(tags).equals(sum)) throw bad(`group ${seq}: its checksum does not match its tags`);
        for (let at = 0; at < tags.length; at += TAG_BYTES) add(tags.subarray(at, at + TAG_BYTES));
      }
      return new EpochFile(path, db, false);
    } catch (error) {
      db?.close();
      if (error instanceof ReplayStoreError) throw error;
      throw bad(`expected a replay tag file, got one SQLite cannot read (${(error as Error).message})`, error);
    }
  }

  /** Appends the pending tags as one group. The group is in the WAL, not yet known to be on disk. */
  commit(): void {
    const tags = Buffer.concat(this.pending);
    this.#insert.run(tags, checksum(tags));
    this.pending.length = 0;
  }

  /** Syncs the WAL, and for a new file its header and folder entry too. */
  async sync(): Promise<void> {
    if (this.#fresh) {
      // The header names WAL mode and the folder names the files: without them the synced WAL would not be read back.
      const handle = await open(this.path, 'r+');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.#wal = open(`${this.path}-wal`, 'r+');
      await (await this.#wal).datasync();
      await syncDir(join(this.path, '..'));
      this.#fresh = false;
      return;
    }
    this.#wal ??= open(`${this.path}-wal`, 'r+');
    await (await this.#wal).datasync();
  }

  close(): void {
    // The WAL handle is a second descriptor of the file: closing it can wait for libuv, the connection cannot.
    const wal = this.#wal;
    this.#wal = undefined;
    void wal?.then((h) => h.close()).catch(() => {});
    this.#db.close();
  }

  async closeAsync(): Promise<void> {
    const wal = this.#wal;
    this.#wal = undefined;
    await (await wal?.catch(() => undefined))?.close();
    this.#db.close();
  }
}

/** WAL mode, switched to with a synced header; after it COMMIT does not sync, sync() does. */
function toWal(db: Database.Database): void {
  db.pragma('synchronous = FULL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
}

function checksum(tags: Uint8Array): Buffer {
  return createHash('sha256').update(tags).digest().subarray(0, SUM_BYTES);
}

async function removeDb(path: string): Promise<void> {
  for (const suffix of SIDE_FILES) await rm(`${path}${suffix}`, { force: true });
}

function removeDbSync(path: string): void {
  for (const suffix of SIDE_FILES) rmSync(`${path}${suffix}`, { force: true });
}
