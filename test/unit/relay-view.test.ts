// The relay view as pure logic: descriptors signed here, sources handed in as
// functions, a clock and a random source the test controls.

import { describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { MESSAGE_LIMITS, ONION } from '../../protocol/constants.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { encodeMessage, signMessage, type RelayDescriptor } from '../../protocol/messages/index.ts';
import { decodeDescriptorList, encodeDescriptorList, type ExitPolicy } from '../../protocol/messages/relay.ts';
import { addressGroup, memoryGuardStore, RelayView, type Destination, type RelayViewOptions } from '../../net/relay-view.ts';

const E = ONION.epochMs;
const EPOCH = 472_222;
const NOW = EPOCH * E + 1000;

interface Spec {
  ws: string;
  family?: string;
  exit?: ExitPolicy;
  ts?: number;
  epochs?: number[];
}

function relay(spec: Spec) {
  const seed = backend.randomBytes(32);
  const key = backend.ed25519PublicKey(seed);
  const sign = (over: Partial<Spec> = {}): RelayDescriptor => {
    const s = { ...spec, ...over };
    return signMessage(backend, seed, {
      t: 'relay-descriptor', v: 2, key, ws: s.ws,
      onion: (s.epochs ?? [EPOCH, EPOCH + 1]).map((epoch) => ({ epoch, key: backend.x25519PublicKey(backend.randomBytes(32)) })),
      exit: s.exit ?? { mints: [], mailboxes: false },
      ...(s.family ? { family: s.family } : {}),
      agent: 'sparecycles-relay/test', ts: s.ts ?? NOW - 1000,
    });
  };
  const bytes = (over?: Partial<Spec>) => encodeMessage(sign(over));
  return { seed, key, id: toHex(key), sign, bytes };
}
type Relay = ReturnType<typeof relay>;

const MINT = 'https://mint.example';
const exitTo = (...mints: string[]): ExitPolicy => ({ mints, mailboxes: true });

/** A view at NOW holding these relays, with a random source that walks the candidates in turn. */
function viewOf(relays: Relay[], options: Partial<RelayViewOptions> = {}) {
  const clock = { t: NOW };
  let n = 0;
  const view = new RelayView({ backend, now: () => clock.t, random: () => ((n++ * 0.381966) % 1), ...options });
  for (const r of relays) expect(view.add(r.bytes(), 'test')).toBe('added');
  return { view, clock };
}

/** Relays in distinct /16s, one exit for MINT among them. */
function network(count: number, exitAt = 0): Relay[] {
  return Array.from({ length: count }, (_, i) => relay({ ws: `wss://10.${i}.0.1:443`, exit: i === exitAt ? exitTo(MINT) : undefined }));
}

describe('merging and checking descriptors', () => {
  it('keeps the newest valid copy by key, from any source, and remembers who reported it', async () => {
    const r = relay({ ws: 'wss://10.0.0.1' });
    const older = r.bytes({ ts: NOW - 5000 });
    const newer = r.bytes({ ts: NOW - 10, ws: 'wss://10.0.0.2' });
    const view = new RelayView({
      backend,
      now: () => NOW,
      sources: [
        { name: 'a', fetch: async () => [newer] },
        { name: 'b', fetch: async () => [older] },
        { name: 'broken', fetch: async () => Promise.reject(new Error('down')) },
      ],
    });
    const report = await view.refresh();
    expect(report.added).toBe(1);
    expect(report.rejected).toEqual({ older: 1 });
    expect(report.failed).toEqual([{ source: 'broken', message: 'down' }]);
    const [entry] = view.relays();
    expect(entry!.descriptor.ws).toBe('wss://10.0.0.2');
    expect([...entry!.sources].sort()).toEqual(['a', 'b']);
    // The same copy again changes nothing.
    expect(view.add(newer, 'c')).toBe('same');
  });

  it('checks every signature under the key the descriptor names', () => {
    const r = relay({ ws: 'wss://10.0.0.1' });
    const other = relay({ ws: 'wss://10.0.0.1' });
    const { view } = viewOf([]);
    // Signed by another key than the one it names.
    expect(view.add(encodeMessage({ ...other.sign(), key: r.key }), 'evil')).toBe('signature');
    // Altered after signing: a wider exit policy.
    expect(view.add(encodeMessage({ ...r.sign(), exit: exitTo(MINT) }), 'evil')).toBe('signature');
    expect(view.add(new Uint8Array([1, 2, 3]), 'evil')).toBe('invalid');
    expect(view.add(encodeMessage({ t: 'relay-find', v: 1, id: new Uint8Array(8) }), 'evil')).toBe('invalid');
    expect(view.relays()).toEqual([]);
  });

  it('refuses stale descriptors, ones from the future, and ones whose onion keys have all expired', () => {
    const { view } = viewOf([]);
    const r = relay({ ws: 'wss://10.0.0.1' });
    expect(view.add(r.bytes({ ts: NOW - 3 * E - 1 }), 's')).toBe('stale');
    expect(view.add(r.bytes({ ts: NOW + 11 * 60_000 }), 's')).toBe('future');
    expect(view.add(r.bytes({ epochs: [EPOCH - 3, EPOCH - 2] }), 's')).toBe('no-onion-key');
    // The previous epoch's key is still good until this epoch ends.
    expect(view.add(r.bytes({ epochs: [EPOCH - 1] }), 's')).toBe('added');
  });

  it('drops relays as time passes: expired onion keys, stale descriptors', () => {
    const a = relay({ ws: 'wss://10.0.0.1' });
    const b = relay({ ws: 'wss://10.1.0.1', ts: NOW - 2 * E });
    const { view, clock } = viewOf([a, b]);
    expect(view.relays()).toHaveLength(2);
    clock.t = (EPOCH + 2) * E + 1;
    expect(view.relays().map((e) => e.id)).toEqual([a.id]);
    // a's keys are for EPOCH and EPOCH + 1: the latter is good until EPOCH + 2 ends.
    expect(view.onionKeyFor(view.get(a.key)!, EPOCH)).toBeUndefined();
    expect(view.onionKeyFor(view.get(a.key)!, EPOCH + 1)).toBeDefined();
    clock.t = (EPOCH + 3) * E;
    expect(view.relays()).toEqual([]);
  });

  it('serves what it knows as a capped descriptor list, each exactly as signed', () => {
    const relays = Array.from({ length: MESSAGE_LIMITS.relayDescriptors + 5 }, (_, i) => relay({ ws: `wss://10.${i}.0.1`, ts: NOW - 1000 - i }));
    const { view } = viewOf(relays);
    const list = view.signedDescriptors(MESSAGE_LIMITS.relayDescriptors);
    expect(list).toHaveLength(MESSAGE_LIMITS.relayDescriptors);
    expect(decodeDescriptorList(encodeDescriptorList(list)).map(toHex)).toEqual(list.map(toHex));
    // Newest first: the relays signed one millisecond apart.
    expect(toHex(list[0]!)).toBe(toHex(view.get(relays[0]!.key)!.bytes));
    expect(() => encodeDescriptorList([...list, list[0]!])).toThrow(/descriptors/);
  });

  it('keeps an edge relay that lists no onion keys, but never routes through it', async () => {
    const edge = relay({ ws: 'wss://10.9.0.1', epochs: [], exit: exitTo(MINT) });
    const { view } = viewOf([edge, ...network(2, 5)]);
    expect(view.relays()).toHaveLength(3);
    await expect(view.choosePath({ mint: MINT })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('address groups', () => {
  it('groups IPv4 by /16, IPv6 by /32 and names by name', () => {
    expect(addressGroup('wss://10.1.2.3:443')).toBe(addressGroup('ws://10.1.200.9'));
    expect(addressGroup('wss://10.1.2.3')).not.toBe(addressGroup('wss://10.2.2.3'));
    expect(addressGroup('wss://[2001:db8:1::1]')).toBe(addressGroup('wss://[2001:db8:ffff::2]'));
    expect(addressGroup('wss://[2001:db8::1]')).not.toBe(addressGroup('wss://[2001:db9::1]'));
    expect(addressGroup('wss://Relay.Example:8443/')).toBe(addressGroup('ws://relay.example.'));
    expect(addressGroup('wss://a.example')).not.toBe(addressGroup('wss://b.example'));
  });
});

describe('path selection', () => {
  const everyPath = async (view: RelayView, destination: Destination, times = 30) => {
    const paths = [];
    for (let i = 0; i < times; i++) paths.push(await view.choosePath(destination));
    return paths;
  };

  it('ends at an exit that delivers to the destination, with keys of the epoch, in three distinct groups', async () => {
    const relays = network(6, 4);
    const { view } = viewOf(relays);
    for (const path of await everyPath(view, { mint: 'https://MINT.example:443/v1/redeem' })) {
      expect(path).toHaveLength(3);
      expect(toHex(path[2]!.id)).toBe(relays[4]!.id);
      expect(new Set(path.map((h) => h.entry.group)).size).toBe(3);
      for (const hop of path) {
        expect(hop.epoch).toBe(EPOCH);
        expect(toHex(hop.onionKey)).toBe(toHex(hop.entry.descriptor.onion.find((k) => k.epoch === EPOCH)!.key));
      }
    }
    await expect(view.choosePath({ mint: 'https://other.example' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('never puts two hops in one /16, one host name, or under one operator label', async () => {
    const exit = relay({ ws: 'wss://10.0.0.1', exit: exitTo(MINT) });
    const sameSubnet = relay({ ws: 'wss://10.0.9.9' });
    const sameOperator = relay({ ws: 'wss://10.5.0.1', family: 'acme' });
    const operatorsOther = relay({ ws: 'wss://10.6.0.1', family: 'acme' });
    const byName = relay({ ws: 'wss://relay.example' });
    const byNameToo = relay({ ws: 'wss://RELAY.example:8443' });
    const { view } = viewOf([exit, sameSubnet, sameOperator, operatorsOther, byName, byNameToo]);
    for (const path of await everyPath(view, { mint: MINT }, 60)) {
      const ids = path.map((h) => toHex(h.id));
      expect(ids).not.toContain(sameSubnet.id);
      expect(ids.includes(sameOperator.id) && ids.includes(operatorsOther.id)).toBe(false);
      expect(ids.includes(byName.id) && ids.includes(byNameToo.id)).toBe(false);
    }
    // Only the exit and one /16 sharer: no route of three.
    const tight = viewOf([exit, sameSubnet, relay({ ws: 'wss://10.7.0.1', family: 'x' })]).view;
    await expect(tight.choosePath({ mint: MINT })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a rendezvous ends at the relay named, and a mailbox at any relay that keeps them', async () => {
    const relays = network(5);
    const host = relay({ ws: 'wss://10.20.0.1', exit: { mints: [], mailboxes: true } });
    const { view } = viewOf([...relays, host]);
    for (const path of await everyPath(view, { rendezvous: host.key }, 10)) expect(toHex(path[2]!.id)).toBe(host.id);
    for (const path of await everyPath(view, { mailbox: true }, 10)) expect(path[2]!.entry.descriptor.exit.mailboxes).toBe(true);
  });

  it('keeps one guard as the first hop, across a restart, and replaces it only after repeated failures', async () => {
    const relays = network(8);
    const store = memoryGuardStore();
    const { view } = viewOf(relays, { guardStore: store, guardFailures: 3 });
    const paths = await everyPath(view, { mint: MINT }, 20);
    const guard = toHex(paths[0]![0]!.id);
    expect(store.value).toBe(guard);
    expect(new Set(paths.map((p) => toHex(p[0]!.id)))).toEqual(new Set([guard]));

    // A new process with the same store starts from the same guard.
    const restarted = viewOf(relays, { guardStore: store }).view;
    expect(toHex((await restarted.choosePath({ mint: MINT }))[0]!.id)).toBe(guard);

    // Two failures keep it; the third replaces it, in the store too.
    restarted.reportFailure(guard);
    restarted.reportFailure(guard);
    expect(toHex((await restarted.choosePath({ mint: MINT }))[0]!.id)).toBe(guard);
    restarted.reportFailure(guard);
    const next = toHex((await restarted.choosePath({ mint: MINT }))[0]!.id);
    expect(next).not.toBe(guard);
    expect(store.value).toBe(next);
  });

  it('puts a failing relay aside for a while, then takes it back and prefers it less', async () => {
    const relays = network(4);
    const { view, clock } = viewOf(relays, { asideMs: 60_000 });
    const guard = toHex((await view.choosePath({ mint: MINT }))[0]!.id);
    const middles = relays.filter((r) => r.id !== guard && r.id !== relays[0]!.id);
    const [bad] = middles;
    view.reportFailure(bad!.key);
    expect(view.isAside(bad!.key)).toBe(true);
    for (const path of await everyPath(view, { mint: MINT }, 20)) expect(toHex(path[1]!.id)).not.toBe(bad!.id);
    // Twice in a row: aside twice as long.
    clock.t += 60_001;
    expect(view.isAside(bad!.key)).toBe(false);
    view.reportFailure(bad!.key);
    clock.t += 60_001;
    expect(view.isAside(bad!.key)).toBe(true);
    clock.t += 60_000;
    expect(view.isAside(bad!.key)).toBe(false);
    // Back in the pool, at a lower weight: chosen, but less than the relay that never failed.
    let badCount = 0;
    for (const path of await everyPath(view, { mint: MINT }, 60)) if (toHex(path[1]!.id) === bad!.id) badCount++;
    expect(badCount).toBeGreaterThan(0);
    expect(badCount).toBeLessThan(30);
    // An answer wipes the slate.
    view.reportSuccess(bad!.key);
    expect(view.isAside(bad!.key)).toBe(false);
  });

  it('uses relays put aside when nothing else is left', async () => {
    const relays = network(3);
    const { view } = viewOf(relays);
    for (const r of relays) view.reportFailure(r.key);
    expect(await view.choosePath({ mint: MINT })).toHaveLength(3);
  });

  it('ranks relays by how they answer', () => {
    const relays = network(4);
    const { view } = viewOf(relays);
    const [a, b, c, d] = relays;
    view.reportSuccess(a!.key, 50);
    view.reportSuccess(a!.key, 50);
    view.reportSuccess(b!.key, 10);
    view.reportSuccess(b!.key, 10);
    view.reportFailure(c!.key);
    expect(view.ranking().map((e) => e.id)).toEqual([b!.id, a!.id, d!.id, c!.id]);
  });

  it('refuses a route length outside 2..maxHops', async () => {
    const { view } = viewOf(network(6));
    await expect(view.choosePath({ mint: MINT }, { hops: 1 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(view.choosePath({ mint: MINT }, { hops: ONION.maxHops + 1 })).rejects.toMatchObject({ code: 'USAGE' });
    expect(await view.choosePath({ mint: MINT }, { hops: 5 })).toHaveLength(5);
  });
});
