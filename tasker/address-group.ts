// Which address group a worker reaches the tasker from. Keys in one group
// never verify a unit only among themselves (verify/coordinator.ts), because
// one operator's many keys tend to share a network: after Tor's path rule of
// no two relays from one /16, an IPv4 /16, or an IPv6 /32.

/**
 * The one group of every worker on an onion route (MessageChannel.route):
 * their addresses are hidden, and one operator can bring any number of them,
 * so they count as a single class. Two stealth workers never verify a unit
 * alone; a direct worker or the tasker's own recomputation must join them.
 */
export const STEALTH_GROUP = 'stealth';

/** The group of a transport's peer string (`address:port`, `[v6]:port`, or `unknown`). */
export function addressGroup(peer: string): string {
  const v6 = /^\[([0-9a-f:.]+)\]:\d+$/i.exec(peer);
  if (v6) return ipv6Group(v6[1]!);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}:\d+$/.exec(peer);
  if (v4) return `${v4[1]}.${v4[2]}/16`;
  // A bare IPv6 address with a port glued on (`::1:6881`): the last field is the port.
  if (peer.includes(':') && peer.split(':').length > 2) return ipv6Group(peer.slice(0, peer.lastIndexOf(':')));
  return 'unknown';
}

function ipv6Group(address: string): string {
  const mapped = /^::ffff:(\d{1,3})\.(\d{1,3})\./i.exec(address);
  if (mapped) return `${mapped[1]}.${mapped[2]}/16`;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fields = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${fields.slice(0, 2).map((f) => parseInt(f || '0', 16).toString(16)).join(':')}::/32`;
}
