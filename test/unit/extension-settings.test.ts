// The extension's stored settings: migrations from v1, validation at the
// boundary, and the load/save round trip over a Map-backed storage area.

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TRACKERS,
  SETTINGS_KEY,
  SETTINGS_VERSION,
  SettingsError,
  applyPatch,
  defaultSettings,
  droppedSettingsText,
  loadSettings,
  loadSettingsChecked,
  migrateSettings,
  migrateV1,
  migrateV2,
  migrateV3,
  saveSettings,
  validMagnet,
  validRedeemAccount,
} from '../../extension/lib/settings.ts';
import type { KeyValueArea } from '../../extension/lib/settings.ts';
import fc from 'fast-check';
import { toHex, utf8 } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { account } from '../../protocol/messages/payment.ts';

const MAGNET = `magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=mandelbrot`;
/** An account the mint takes: an ed25519 public key in lowercase hex. */
const ACCOUNT = toHex(nodeCrypto.ed25519PublicKey(new Uint8Array(32).fill(7)));
/** 64 hexadecimal digits that are no account: the identity point (small order), and y ≥ p (not canonical). */
const SMALL_ORDER = `01${'00'.repeat(31)}`;
const NOT_CANONICAL = `ed${'ff'.repeat(30)}7f`;

function memoryArea(initial: Record<string, unknown> = {}): KeyValueArea & { data: Map<string, unknown> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    get: async (key) => (data.has(key) ? { [key]: structuredClone(data.get(key)) } : {}),
    set: async (items) => {
      for (const [k, v] of Object.entries(items)) data.set(k, structuredClone(v));
    },
  };
}

describe('settings migrations', () => {
  it('gives the defaults when nothing is stored or the record is not an object', () => {
    for (const stored of [undefined, null, 42, 'x', []]) expect(migrateSettings(stored)).toEqual(defaultSettings());
  });

  it('migrates v1 (percent slider, one tracker) to the current version', () => {
    const v1 = { version: 1, sharing: true, cpuPercent: 25, onlyOnAc: true, trackerUrl: 'ws://127.0.0.1:8000' };
    expect(migrateV1(v1)).toMatchObject({ version: 2, cpu: 0.25, trackerUrls: ['ws://127.0.0.1:8000'] });
    expect(migrateSettings(v1)).toEqual({
      ...defaultSettings(),
      sharing: true,
      cpu: 0.25,
      onlyOnAc: true,
      trackerUrls: ['ws://127.0.0.1:8000'],
    });
  });

  it('reads a record without a version as v1, and clamps an out-of-range slider', () => {
    const s = migrateSettings({ sharing: false, cpuPercent: 400, trackerUrl: '' });
    expect(s.version).toBe(SETTINGS_VERSION);
    expect(s.cpu).toBe(1);
    expect(s.trackerUrls).toEqual(DEFAULT_TRACKERS);
  });

  it('keeps valid fields of a current record and defaults the bad ones', () => {
    const s = migrateSettings({ version: 2, cpu: 7, magnet: 'not a magnet', maxPeerConnections: 5, sharing: 'yes', extra: 1 });
    expect(s).toEqual({ ...defaultSettings(), maxPeerConnections: 5 });
    expect(s).not.toHaveProperty('extra');
  });

  it('migrates v2 to v3: no account to redeem to yet, everything else kept', () => {
    const v2 = { version: 2, sharing: true, cpu: 0.3, onlyOnAc: false, onlyWhenIdle: true, relayUrl: 'ws://127.0.0.1:9', trackerUrls: ['ws://127.0.0.1:8'], mintUrl: '', magnet: MAGNET, maxPeerConnections: 7 };
    expect(migrateV2(v2)).toEqual({ ...v2, version: 3, redeemAccount: '' });
    expect(migrateSettings(v2)).toEqual({ ...v2, version: SETTINGS_VERSION, redeemAccount: '', stealth: false, stealthDelayMs: 30_000 });
    // v1 goes through both steps.
    expect(migrateSettings({ version: 1, sharing: true, cpuPercent: 40, onlyOnAc: false, trackerUrl: '' }).redeemAccount).toBe('');
  });

  it('reads a stored account that is not a key (saved when any text was taken) as unset, and says so', () => {
    const v3 = { ...defaultSettings(), sharing: true, cpu: 0.3, magnet: MAGNET, redeemAccount: 'acct:alice' };
    const dropped: SettingsError[] = [];
    expect(migrateSettings(v3, dropped)).toEqual({ ...v3, redeemAccount: '' });
    expect(dropped.map((e) => e.field)).toEqual(['redeemAccount']);
    expect(droppedSettingsText(dropped)).toMatch(/not an account key, so no account is set/);
    // A key stored in upper case is the same key.
    const kept: SettingsError[] = [];
    expect(migrateSettings({ ...v3, redeemAccount: ACCOUNT.toUpperCase() }, kept).redeemAccount).toBe(ACCOUNT);
    expect(kept).toEqual([]);
    expect(droppedSettingsText([])).toBe('');
  });

  it('migrates v3 to v4: stealth mode off, with its default wait before redeeming', () => {
    const v3 = { version: 3, sharing: true, cpu: 0.4, onlyOnAc: false, onlyWhenIdle: false, relayUrl: 'ws://127.0.0.1:9', trackerUrls: [], mintUrl: '', magnet: '', maxPeerConnections: 9, redeemAccount: ACCOUNT };
    expect(migrateV3(v3)).toEqual({ ...v3, version: 4, stealth: false, stealthDelayMs: 30_000 });
    expect(migrateSettings(v3)).toEqual({ ...v3, version: SETTINGS_VERSION, stealth: false, stealthDelayMs: 30_000 });
  });

  it('takes a stealth wait of whole milliseconds up to ten minutes, and nothing else', () => {
    expect(applyPatch(defaultSettings(), { stealth: true, stealthDelayMs: 0 })).toMatchObject({ stealth: true, stealthDelayMs: 0 });
    for (const bad of [-1, 1.5, 600_001, '30'] as unknown[]) {
      expect(() => applyPatch(defaultSettings(), { stealthDelayMs: bad as number })).toThrow(/stealthDelayMs/);
    }
    expect(() => applyPatch(defaultSettings(), { stealth: 'yes' as unknown as boolean })).toThrow(/stealth/);
  });

  it('reads a record from a newer version as far as its fields match', () => {
    expect(migrateSettings({ version: 9, cpu: 0.3, future: true }).cpu).toBe(0.3);
  });
});

describe('settings validation', () => {
  it('accepts good values and rejects bad ones with the field named', () => {
    const base = defaultSettings();
    expect(applyPatch(base, { cpu: 0.75, magnet: MAGNET, trackerUrls: ['ws://127.0.0.1:1', 'ws://127.0.0.1:1'] })).toMatchObject({
      cpu: 0.75,
      magnet: MAGNET,
      trackerUrls: ['ws://127.0.0.1:1'],
    });
    const bad: Array<[Parameters<typeof applyPatch>[1], string]> = [
      [{ cpu: 0.05 }, 'cpu'],
      [{ cpu: Number.NaN }, 'cpu'],
      [{ trackerUrls: ['http://127.0.0.1/announce'] }, 'trackerUrls'],
      [{ relayUrl: 'https://relay' }, 'relayUrl'],
      [{ mintUrl: 'ftp://mint' }, 'mintUrl'],
      [{ maxPeerConnections: 0 }, 'maxPeerConnections'],
      [{ maxPeerConnections: 2.5 }, 'maxPeerConnections'],
      [{ magnet: 'magnet:?dn=nothing' }, 'magnet'],
      [{ sharing: 'on' as unknown as boolean }, 'sharing'],
      [{ redeemAccount: 'x'.repeat(65) }, 'redeemAccount'],
      [{ redeemAccount: 'é'.repeat(33) }, 'redeemAccount'],
      [{ redeemAccount: 'a\nb' }, 'redeemAccount'],
      [{ redeemAccount: 7 as unknown as string }, 'redeemAccount'],
      [{ redeemAccount: 'alice' }, 'redeemAccount'],
      [{ redeemAccount: 'x'.repeat(64) }, 'redeemAccount'],
      [{ redeemAccount: ACCOUNT.slice(2) }, 'redeemAccount'],
      [{ redeemAccount: `${ACCOUNT}00` }, 'redeemAccount'],
      [{ redeemAccount: SMALL_ORDER }, 'redeemAccount'],
      [{ redeemAccount: NOT_CANONICAL }, 'redeemAccount'],
    ];
    for (const [patch, field] of bad) {
      let error: unknown;
      try {
        applyPatch(base, patch);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(patch)).toBeInstanceOf(SettingsError);
      expect((error as SettingsError).field).toBe(field);
      expect((error as SettingsError).code).toBe('USAGE');
    }
    expect(() => applyPatch(base, { bogus: 1 } as never)).toThrow(/not a setting/);
  });

  it('changes nothing when a patch fails', () => {
    const base = defaultSettings();
    expect(() => applyPatch(base, { cpu: 0.3, maxPeerConnections: -1 })).toThrow(SettingsError);
    expect(base).toEqual(defaultSettings());
  });

  it('takes a redeem account that is an ed25519 key in hex, trimmed and in lower case, and empty for none', () => {
    expect(validRedeemAccount(ACCOUNT)).toBe(ACCOUNT);
    expect(validRedeemAccount(`  ${ACCOUNT.toUpperCase()}\n`)).toBe(ACCOUNT);
    expect(validRedeemAccount('')).toBe('');
    expect(validRedeemAccount('   ')).toBe('');
    expect(applyPatch(defaultSettings(), { redeemAccount: ACCOUNT }).redeemAccount).toBe(ACCOUNT);
  });

  it('takes exactly the accounts the mint takes', () => {
    const minted = (hex: string) => {
      try {
        account.read(utf8(hex), 'to');
        return true;
      } catch {
        return false;
      }
    };
    const taken = (hex: string) => {
      try {
        return validRedeemAccount(hex) === hex;
      } catch {
        return false;
      }
    };
    for (const hex of [ACCOUNT, SMALL_ORDER, NOT_CANONICAL, 'x'.repeat(64), ACCOUNT.slice(2)]) expect(taken(hex), hex).toBe(minted(hex));
    // Random 32 bytes are a point about half the time: both sides of the rule come up.
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => taken(toHex(bytes)) === minted(toHex(bytes))), { numRuns: 300 });
  });

  it('says what an account must be, in words the options page shows as they are', () => {
    const message = (value: string) => {
      try {
        validRedeemAccount(value);
      } catch (error) {
        expect(error).toBeInstanceOf(SettingsError);
        return (error as SettingsError).message;
      }
      throw new Error(`${value} was taken`);
    };
    expect(message('alice')).toBe(
      'redeemAccount: expected an account key: an ed25519 public key as 64 hexadecimal digits (0-9, a-f), got other characters',
    );
    expect(message(ACCOUNT.slice(1))).toBe('redeemAccount: expected an account key: an ed25519 public key as 64 hexadecimal digits, got 63 digits');
    expect(message(SMALL_ORDER)).toMatch(/^redeemAccount: expected an account key, got 64 hexadecimal digits that are not a usable ed25519 public key \(.*small order.*\)$/);
    expect(message(NOT_CANONICAL)).toMatch(/not a usable ed25519 public key \(.+\)$/);
  });

  it('takes magnets with hex or base32 info-hashes, and empty for none', () => {
    expect(validMagnet(`  ${MAGNET} `)).toBe(MAGNET);
    expect(validMagnet(`magnet:?xt=urn:btih:${'a'.repeat(32)}`)).toMatch(/^magnet:/);
    expect(validMagnet('')).toBe('');
    expect(() => validMagnet(`magnet:?xt=urn:btih:${'a'.repeat(39)}`)).toThrow(SettingsError);
  });
});

describe('settings storage', () => {
  it('writes a migrated record back, and saves patches', async () => {
    const area = memoryArea({ [SETTINGS_KEY]: { version: 1, sharing: false, cpuPercent: 50, onlyOnAc: false, trackerUrl: '' } });
    const loaded = await loadSettings(area);
    expect((area.data.get(SETTINGS_KEY) as { version: number }).version).toBe(SETTINGS_VERSION);
    const saved = await saveSettings(area, { sharing: true, magnet: MAGNET });
    expect(saved).toEqual({ ...loaded, sharing: true, magnet: MAGNET });
    expect(await loadSettings(area)).toEqual(saved);
    await expect(saveSettings(area, { cpu: 2 })).rejects.toThrow(SettingsError);
    expect(await loadSettings(area)).toEqual(saved);
  });

  it('loads settings whose stored account is not a key, with the account unset and a warning, until a save', async () => {
    const stored = { ...defaultSettings(), sharing: true, magnet: MAGNET, redeemAccount: 'alice' };
    const area = memoryArea({ [SETTINGS_KEY]: stored });
    const { settings, dropped } = await loadSettingsChecked(area);
    expect(settings).toEqual({ ...stored, redeemAccount: '' });
    expect(dropped.map((e) => [e.field, e.code])).toEqual([['redeemAccount', 'USAGE']]);
    expect(await loadSettings(area)).toEqual(settings);
    // Loading changes nothing stored; the next save writes the settings as read, and the warning is gone.
    expect(area.data.get(SETTINGS_KEY)).toEqual(stored);
    await saveSettings(area, { cpu: 0.4 });
    expect(await loadSettingsChecked(area)).toEqual({ settings: { ...settings, cpu: 0.4 }, dropped: [] });
    // A bad account in a patch is refused, and the stored one stays.
    await saveSettings(area, { redeemAccount: ACCOUNT });
    await expect(saveSettings(area, { redeemAccount: 'bob' })).rejects.toThrow(/64 hexadecimal digits/);
    expect((await loadSettings(area)).redeemAccount).toBe(ACCOUNT);
  });
});
