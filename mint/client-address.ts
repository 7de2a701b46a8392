// Which client a request is charged to. Behind a TLS-terminating reverse
// proxy every connection comes from the proxy, so its work budgets (work.ts)
// would all be one. An operator names its proxies (`cycles mint
// --trust-proxy`); a request whose TCP peer is one of them is charged to the
// address the proxies wrote into X-Forwarded-For. Anyone else's header is
// ignored: a client writes whatever it likes there, and a header believed
// from anyone would give each request a fresh budget.
//
// Each proxy appends the address it heard from, so the entries a client
// cannot forge are the rightmost ones, up to and including the first that is
// not a trusted proxy: that one is the client. Entries to its left are the
// client's own claims, never read. A header that cannot be read that far
// (an entry that is not an IP address, or too many entries) charges the TCP
// peer: a broken proxy chain shares one budget rather than trusting garbage.

import { isIP } from 'node:net';
import { UsageError } from '../protocol/errors.ts';

/** Entries read at most, from the right: more proxies than this in a row is a misconfiguration, not a chain. */
const MAX_HOPS = 16;

/** The trusted proxies' addresses, normalised, from a `--trust-proxy` list. Throws UsageError on anything that is not an IP address. */
export function trustedProxies(addresses: readonly string[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const raw of addresses) {
    const address = normalise(raw.trim());
    if (address === undefined) throw new UsageError(`trusted proxy: expected an IP address, got ${JSON.stringify(raw.slice(0, 64))}`);
    out.add(address);
  }
  return out;
}

/**
 * The address a request is charged to: its TCP peer, unless that peer is a
 * trusted proxy and X-Forwarded-For names the client.
 */
export function clientAddress(peer: string | undefined, forwarded: string | string[] | undefined, trusted: ReadonlySet<string>): string | undefined {
  if (trusted.size === 0 || peer === undefined || forwarded === undefined) return peer;
  const from = normalise(peer);
  if (from === undefined || !trusted.has(from)) return peer;
  // Node joins repeated X-Forwarded-For headers with ", "; an array is the same list in parts.
  const entries = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
  let leftmost: string | undefined;
  for (let i = entries.length - 1, hops = 0; i >= 0 && hops < MAX_HOPS; i--, hops++) {
    const entry = normalise(entries[i]!.trim());
    if (entry === undefined) return peer;
    if (!trusted.has(entry)) return entry;
    leftmost = entry;
  }
  // Every entry read was a trusted proxy: the chain began at the leftmost of them, if the list ended there.
  return entries.length <= MAX_HOPS ? (leftmost ?? peer) : peer;
}

/** An IP address as the socket would give it, with an IPv4-mapped IPv6 address as plain IPv4; undefined if it is none. */
function normalise(address: string): string | undefined {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  const plain = mapped ? mapped[1]! : address;
  const kind = isIP(plain);
  if (kind === 4) return plain;
  // The URL parser writes an IPv6 address one way only (`0:0::1` and `::1`
  // alike). It refuses a zone id (`fe80::1%eth0`), which names the link, not
  // the host: such an address is kept as given, whole.
  if (kind === 6) return plain.includes('%') ? plain.toLowerCase() : new URL(`http://[${plain}]/`).hostname.slice(1, -1);
  return undefined;
}
