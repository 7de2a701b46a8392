// The volunteer's settings, kept in storage.local under one key with a
// version. Older versions are migrated forward step by step; anything that
// does not validate falls back to its default field by field, so a bad value
// never stops the extension from starting. The functions here are pure apart
// from loadSettings/saveSettings, which take the storage area as an argument.

import { fromHex } from '../../protocol/bytes.ts';
import { assertEd25519PublicKey } from '../../protocol/crypto/sign.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';
import { SHIPPED_TRACKERS } from './shipped-network.ts';

export const SETTINGS_KEY = 'settings';
export const SETTINGS_VERSION = 4;

export interface Settings {
  version: typeof SETTINGS_VERSION;
  /** The volunteer wants to share. */
  sharing: boolean;
  /** Share of this machine's CPU, 0.1–1: threads × duty cycle (units/cpu-budget.ts). */
  cpu: number;
  onlyOnAc: boolean;
  onlyWhenIdle: boolean;
  /**
   * Edge relay (WebSocket): where offers are found when no magnet is set, and
   * WebRTC signalling at its /announce. Empty: the shipped relays and those
   * they name (lib/shipped-network.ts, lib/offer-search.ts).
   */
  relayUrl: string;
  /** WebSocket trackers for WebRTC signalling. */
  trackerUrls: string[];
  /** A mint URL, stored but not used yet: each paying task names the mint that pays it. Empty: none. */
  mintUrl: string;
  /** "Compute this magnet": a task chosen by hand. Empty: wait for an offer. */
  magnet: string;
  /** The browser's budget of WebRTC PeerConnections (WebTorrent's maxConns). */
  maxPeerConnections: number;
  /**
   * The account at each mint that "Redeem to account" pays into: an ed25519
   * public key in lowercase hex, as the mint takes it. Empty: none chosen yet.
   */
  redeemAccount: string;
  /**
   * Stealth mode: reach taskers and mints only through onion routes of three
   * relays, found through the edge relay (`relayUrl`), with a fresh key for
   * every task. Takes only offers that name a rendezvous.
   */
  stealth: boolean;
  /** In stealth mode, the mean random wait (ms) before each request that redeems credits: timing must not tie them to their earner. */
  stealthDelayMs: number;
}

export const CPU_MIN = 0.1;
export const CPU_MAX = 1;
export const PEER_CONNECTIONS_MIN = 1;
export const PEER_CONNECTIONS_MAX = 100;
export const STEALTH_DELAY_MAX_MS = 600_000;

/** The trackers a fresh extension uses: the public ones, or a build's own (lib/shipped-network.ts). */
export const DEFAULT_TRACKERS: readonly string[] = SHIPPED_TRACKERS;

export function defaultSettings(): Settings {
  return {
    version: SETTINGS_VERSION,
    sharing: false,
    cpu: 0.5,
    onlyOnAc: false,
    onlyWhenIdle: false,
    relayUrl: '',
    trackerUrls: [...DEFAULT_TRACKERS],
    mintUrl: '',
    magnet: '',
    maxPeerConnections: 20,
    redeemAccount: '',
    stealth: false,
    stealthDelayMs: 30_000,
  };
}

/** A setting that does not fit, named by its field. */
export class SettingsError extends SpareCyclesError {
  declare readonly field: string;
  constructor(field: string, message: string) {
    super('USAGE', `${field}: ${message}`, { field });
  }
}

// ---- validation of single fields (also used by the options page) -----------

export function validCpu(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new SettingsError('cpu', `expected a number, got ${String(value)}`);
  if (value < CPU_MIN || value > CPU_MAX) throw new SettingsError('cpu', `expected ${CPU_MIN}–${CPU_MAX}, got ${value}`);
  return Math.round(value * 100) / 100;
}

function validUrl(field: string, value: unknown, schemes: string[], allowEmpty: boolean): string {
  if (typeof value !== 'string') throw new SettingsError(field, `expected a URL, got ${typeof value}`);
  const text = value.trim();
  if (text === '' && allowEmpty) return '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SettingsError(field, `expected a URL, got "${text}"`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new SettingsError(field, `expected a ${schemes.map((s) => s.replace(':', '')).join(' or ')} URL, got ${url.protocol.replace(':', '')}`);
  }
  return text;
}

export const validRelayUrl = (value: unknown) => validUrl('relayUrl', value, ['ws:', 'wss:'], true);
export const validMintUrl = (value: unknown) => validUrl('mintUrl', value, ['http:', 'https:'], true);

export function validTrackerUrls(value: unknown): string[] {
  if (!Array.isArray(value)) throw new SettingsError('trackerUrls', `expected a list of URLs, got ${typeof value}`);
  if (value.length > 16) throw new SettingsError('trackerUrls', `expected at most 16 trackers, got ${value.length}`);
  const urls = value.map((v) => validUrl('trackerUrls', v, ['ws:', 'wss:'], false));
  return [...new Set(urls)];
}

export function validMagnet(value: unknown): string {
  if (typeof value !== 'string') throw new SettingsError('magnet', `expected a magnet link, got ${typeof value}`);
  const text = value.trim();
  if (text === '') return '';
  if (text.length > 4096) throw new SettingsError('magnet', `expected at most 4096 characters, got ${text.length}`);
  if (!/^magnet:\?/i.test(text) || !/[?&]xt=urn:btih:([0-9a-f]{40}|[a-z2-7]{32})(&|$)/i.test(text)) {
    throw new SettingsError('magnet', 'expected a magnet link with xt=urn:btih:<info-hash>');
  }
  return text;
}

export function validPeerConnections(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new SettingsError('maxPeerConnections', `expected a whole number, got ${String(value)}`);
  }
  if (value < PEER_CONNECTIONS_MIN || value > PEER_CONNECTIONS_MAX) {
    throw new SettingsError('maxPeerConnections', `expected ${PEER_CONNECTIONS_MIN}–${PEER_CONNECTIONS_MAX}, got ${value}`);
  }
  return value;
}

export function validStealthDelay(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new SettingsError('stealthDelayMs', `expected a whole number of milliseconds, got ${String(value)}`);
  if (value < 0 || value > STEALTH_DELAY_MAX_MS) throw new SettingsError('stealthDelayMs', `expected 0–${STEALTH_DELAY_MAX_MS}, got ${value}`);
  return value;
}

/**
 * An account is what the mint takes (`account` in protocol/messages/payment.ts):
 * the lowercase hex of a canonical ed25519 public key not of small order, so
 * that credits are never redeemed to a name nobody can spend from. Upper-case
 * digits are taken and written in lower case.
 */
export function validRedeemAccount(value: unknown): string {
  if (typeof value !== 'string') throw new SettingsError('redeemAccount', `expected an account key, got ${typeof value}`);
  const text = value.trim().toLowerCase();
  if (text === '') return '';
  if (!/^[0-9a-f]*$/.test(text)) {
    throw new SettingsError('redeemAccount', 'expected an account key: an ed25519 public key as 64 hexadecimal digits (0-9, a-f), got other characters');
  }
  if (text.length !== 64) {
    throw new SettingsError('redeemAccount', `expected an account key: an ed25519 public key as 64 hexadecimal digits, got ${text.length} digits`);
  }
  try {
    assertEd25519PublicKey(fromHex(text));
  } catch (cause) {
    throw new SettingsError('redeemAccount', `expected an account key, got 64 hexadecimal digits that are not a usable ed25519 public key (${(cause as Error).message})`);
  }
  return text;
}

/** What a page says of stored fields that did not validate (see loadSettingsChecked); empty if none. */
export function droppedSettingsText(dropped: readonly SettingsError[]): string {
  return dropped
    .map((error) =>
      error.field === 'redeemAccount'
        ? 'The saved account to redeem credits to is not an account key, so no account is set: ' +
          "enter the account's ed25519 public key (64 hexadecimal digits) and save it again."
        : `A saved setting did not fit and is back to its default. ${error.message}`,
    )
    .join(' ');
}

function validBool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new SettingsError(field, `expected true or false, got ${String(value)}`);
  return value;
}

const FIELDS: { [K in Exclude<keyof Settings, 'version'>]: (value: unknown) => Settings[K] } = {
  sharing: (v) => validBool('sharing', v),
  cpu: validCpu,
  onlyOnAc: (v) => validBool('onlyOnAc', v),
  onlyWhenIdle: (v) => validBool('onlyWhenIdle', v),
  relayUrl: validRelayUrl,
  trackerUrls: validTrackerUrls,
  mintUrl: validMintUrl,
  magnet: validMagnet,
  maxPeerConnections: validPeerConnections,
  redeemAccount: validRedeemAccount,
  stealth: (v) => validBool('stealth', v),
  stealthDelayMs: validStealthDelay,
};

export type SettingsPatch = Partial<Omit<Settings, 'version'>>;

/** Applies a change from a page; throws SettingsError on the first bad field and changes nothing. */
export function applyPatch(settings: Settings, patch: SettingsPatch): Settings {
  const next: Settings = { ...settings, trackerUrls: [...settings.trackerUrls] };
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in FIELDS)) throw new SettingsError(key, 'not a setting');
    if (value === undefined) continue;
    (next as unknown as Record<string, unknown>)[key] = FIELDS[key as keyof typeof FIELDS](value);
  }
  return next;
}

/**
 * Reads a current-version record, keeping each valid field and defaulting
 * the rest. Each stored field that did not validate is pushed to `dropped`,
 * if given, so a page can say it is treated as unset.
 */
export function sanitizeSettings(raw: Record<string, unknown>, dropped?: SettingsError[]): Settings {
  const out = defaultSettings();
  for (const key of Object.keys(FIELDS) as Array<keyof typeof FIELDS>) {
    if (!(key in raw)) continue;
    try {
      (out as unknown as Record<string, unknown>)[key] = FIELDS[key](raw[key]);
    } catch (error) {
      // A bad stored value falls back to its default; the rest survive.
      dropped?.push(error instanceof SettingsError ? error : new SettingsError(key, String(error)));
    }
  }
  return out;
}

// ---- migrations ---------------------------------------------------------------

/**
 * v1 → v2: the slider became a fraction, one tracker became a list, new
 * fields got defaults. Version 1 stored `sharing`, `cpuPercent` (10–100),
 * `onlyOnAc` and one `trackerUrl`; it is read as untrusted fields, since a
 * stored record may hold anything.
 */
export function migrateV1(v1: Record<string, unknown>): Record<string, unknown> {
  const percent = typeof v1.cpuPercent === 'number' ? v1.cpuPercent : 50;
  const tracker = typeof v1.trackerUrl === 'string' ? v1.trackerUrl.trim() : '';
  return {
    version: 2,
    sharing: v1.sharing,
    cpu: Math.min(CPU_MAX, Math.max(CPU_MIN, percent / 100)),
    onlyOnAc: v1.onlyOnAc,
    trackerUrls: tracker ? [tracker] : [...DEFAULT_TRACKERS],
  };
}

/** v2 → v3: an account to redeem credits to, none chosen yet. */
export function migrateV2(v2: Record<string, unknown>): Record<string, unknown> {
  return { ...v2, version: 3, redeemAccount: '' };
}

/** v3 → v4: stealth mode, off, with its default wait before redeeming. */
export function migrateV3(v3: Record<string, unknown>): Record<string, unknown> {
  return { ...v3, version: 4, stealth: false, stealthDelayMs: 30_000 };
}

const MIGRATIONS: Record<number, (raw: Record<string, unknown>) => Record<string, unknown>> = {
  1: migrateV1,
  2: migrateV2,
  3: migrateV3,
};

/**
 * Any stored value → current settings. Nothing stored gives the defaults; a
 * version from the future (a downgrade) is read as far as its fields match.
 * Stored fields that do not validate (an account saved before accounts had
 * to be keys) read as their defaults and are pushed to `dropped`, if given.
 */
export function migrateSettings(stored: unknown, dropped?: SettingsError[]): Settings {
  if (stored === undefined || stored === null || typeof stored !== 'object' || Array.isArray(stored)) return defaultSettings();
  let raw = stored as Record<string, unknown>;
  let version = typeof raw.version === 'number' && Number.isInteger(raw.version) ? raw.version : 1;
  while (version < SETTINGS_VERSION) {
    const step = MIGRATIONS[version];
    if (!step) return defaultSettings();
    raw = step(raw);
    version = raw.version as number;
  }
  return sanitizeSettings(raw, dropped);
}

// ---- storage ------------------------------------------------------------------

/** The part of browser.storage.local used here; tests hand in a Map-backed one. */
export interface KeyValueArea {
  get(key: string): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
}

export async function loadSettings(area: KeyValueArea): Promise<Settings> {
  return (await loadSettingsChecked(area)).settings;
}

/**
 * Settings as loadSettings reads them, with the stored fields that did not
 * validate and now read as their defaults: what a page warns about. They
 * stay as stored until the next save, which writes the settings as read.
 */
export async function loadSettingsChecked(area: KeyValueArea): Promise<{ settings: Settings; dropped: SettingsError[] }> {
  const stored = (await area.get(SETTINGS_KEY))[SETTINGS_KEY];
  const dropped: SettingsError[] = [];
  const settings = migrateSettings(stored, dropped);
  // Write a migrated record back, so the next reader sees the current version.
  // Nothing stored means defaults, and nothing to write: a write here could
  // overwrite settings another page saves at the same moment.
  if (stored !== undefined && (stored as { version?: unknown } | null)?.version !== SETTINGS_VERSION) {
    await area.set({ [SETTINGS_KEY]: settings });
  }
  return { settings, dropped };
}

export async function saveSettings(area: KeyValueArea, patch: SettingsPatch): Promise<Settings> {
  const next = applyPatch(await loadSettings(area), patch);
  await area.set({ [SETTINGS_KEY]: next });
  return next;
}
