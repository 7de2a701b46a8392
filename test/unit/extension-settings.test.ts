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
  loadSettings,
  migrateSettings,
  migrateV1,
  migrateV2,
  saveSettings,
  validMagnet,
  validRedeemAccount,
} from '../../extension/lib/settings.ts';
import type { KeyValueArea } from '../../extension/lib/settings.ts';

const MAGNET = `magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=mandelbrot`;

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
    expect(migrateSettings(v2)).toEqual({ ...v2, version: SETTINGS_VERSION, redeemAccount: '' });
    // v1 goes through both steps.
    expect(migrateSettings({ version: 1, sharing: true, cpuPercent: 40, onlyOnAc: false, trackerUrl: '' }).redeemAccount).toBe('');
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

  it('takes a redeem account of at most 64 bytes, trimmed, and empty for none', () => {
    expect(validRedeemAccount('  alice ')).toBe('alice');
    expect(validRedeemAccount('x'.repeat(64))).toBe('x'.repeat(64));
    expect(validRedeemAccount('')).toBe('');
    expect(applyPatch(defaultSettings(), { redeemAccount: 'bob' }).redeemAccount).toBe('bob');
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
});
