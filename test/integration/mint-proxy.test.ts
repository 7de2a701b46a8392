// The mint behind a reverse proxy: its work budgets charge the client a
// trusted proxy forwards for, and nobody else's X-Forwarded-For is believed.
// Real HTTP on loopback, every 127.0.0.x address being this host; a budget
// of three requests, earned back at one a minute, so the tests count answers.

import http from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clientAddress, trustedProxies } from '../../mint/client-address.ts';
import { Mint } from '../../mint/mint.ts';
import { MintServer } from '../../mint/server.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { ROUTES } from '../../protocol/mint-api.ts';
import type { LogLine } from '../../serve/log.ts';
import { tempDir } from '../support/mint.ts';
import { UsageError } from '../../protocol/errors.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Three requests per client address, earned back at one a minute. */
const BUDGET = { perMinute: 1, burst: 3 };

async function serve(trustProxy?: string[]): Promise<{ url: string; lines: LogLine[] }> {
  const { dir, rm } = await tempDir();
  cleanups.push(rm);
  const mint = await Mint.open({ db: join(dir, 'ledger.db'), admins: [Identity.generate(nodeCrypto).publicKey] });
  const lines: LogLine[] = [];
  const server = new MintServer({ mint, budget: BUDGET, log: (l) => lines.push(l), ...(trustProxy ? { trustProxy } : {}) });
  cleanups.push(() => server.stop().then(() => mint.close()));
  await server.start();
  return { url: server.url, lines };
}

/** GET /v1/info from `localAddress`, with an X-Forwarded-For header if one is given; the status. */
function infoFrom(url: string, localAddress: string, forwarded?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + ROUTES.info, {
      localAddress,
      agent: false,
      headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The statuses of `n` requests in a row. */
async function statuses(n: number, send: (i: number) => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await send(i));
  return out;
}

const SPENT = [200, 200, 200, 429];

describe('the mint behind a trusted proxy', () => {
  it('charges each forwarded client its own budget', async () => {
    const { url, lines } = await serve(['127.0.0.2']);
    expect(await statuses(4, () => infoFrom(url, '127.0.0.2', '10.0.0.1'))).toEqual(SPENT);
    // Another client through the same proxy still has its whole budget, and so does the proxy itself.
    expect(await statuses(4, () => infoFrom(url, '127.0.0.2', '10.0.0.2'))).toEqual(SPENT);
    expect(await statuses(4, () => infoFrom(url, '127.0.0.2'))).toEqual(SPENT);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('reads only the rightmost entry that is not a trusted proxy: what a client put before it is never believed', async () => {
    const { url } = await serve(['127.0.0.2', '127.0.0.4']);
    // The client writes a fresh address in front each time; the proxy appends the one it heard from.
    expect(await statuses(4, (i) => infoFrom(url, '127.0.0.2', `192.0.2.${i + 1}, 10.0.0.5`))).toEqual(SPENT);
    // Through two trusted proxies, the entry before the inner one's is the client: 10.0.0.5 again, spent.
    expect(await infoFrom(url, '127.0.0.2', '10.0.0.5, 127.0.0.4')).toBe(429);
    expect(await infoFrom(url, '127.0.0.2', '10.0.0.6, 127.0.0.4')).toBe(200);
  });

  it('charges the proxy itself for a header it cannot read', async () => {
    const { url } = await serve(['127.0.0.2']);
    const malformed = ['not-an-address', '10.0.0.7:443', '10.0.0.7,', ''];
    expect(await statuses(4, (i) => infoFrom(url, '127.0.0.2', malformed[i]))).toEqual(SPENT);
    // Those four shared the proxy's own budget, so the proxy with no header is out of budget too.
    expect(await infoFrom(url, '127.0.0.2')).toBe(429);
    expect(await infoFrom(url, '127.0.0.2', '10.0.0.7')).toBe(200);
  });

  it('ignores a forged header from a peer it does not trust', async () => {
    const { url } = await serve(['127.0.0.2']);
    // A fresh forged client address on every request buys nothing: the TCP peer is charged.
    expect(await statuses(4, (i) => infoFrom(url, '127.0.0.3', `10.0.1.${i + 1}`))).toEqual(SPENT);
    expect(await infoFrom(url, '127.0.0.3', '127.0.0.2')).toBe(429);
    // The budget the forgery named is untouched.
    expect(await statuses(4, () => infoFrom(url, '127.0.0.2', '10.0.1.1'))).toEqual(SPENT);
  });

  it('never reads the header unless told to trust a proxy', async () => {
    const { url } = await serve();
    expect(await statuses(4, (i) => infoFrom(url, '127.0.0.1', `10.0.2.${i + 1}`))).toEqual(SPENT);
  });
});

describe('clientAddress', () => {
  const trusted = trustedProxies(['127.0.0.1', '::1', ' 10.9.9.9 ']);

  it('takes the client from a trusted peer, mapped and plain addresses alike', () => {
    expect(clientAddress('::ffff:127.0.0.1', '203.0.113.9', trusted)).toBe('203.0.113.9');
    expect(clientAddress('0:0:0:0:0:0:0:1', '2001:DB8::1', trusted)).toBe('2001:db8::1');
    expect(clientAddress('127.0.0.1', ['198.51.100.1', '203.0.113.9, 10.9.9.9'], trusted)).toBe('203.0.113.9');
    // Every entry a trusted proxy: the chain began at the leftmost.
    expect(clientAddress('127.0.0.1', '10.9.9.9, 127.0.0.1', trusted)).toBe('10.9.9.9');
  });

  it('falls back to the peer for anything else', () => {
    expect(clientAddress('127.0.0.2', '203.0.113.9', trusted)).toBe('127.0.0.2');
    expect(clientAddress('127.0.0.1', undefined, trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '203.0.113.9', new Set())).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', 'unknown', trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '203.0.113.9,,10.9.9.9', trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', Array(17).fill('10.9.9.9').join(','), trusted)).toBe('127.0.0.1');
  });

  it('refuses a trusted proxy that is not an IP address', () => {
    expect(() => trustedProxies(['proxy.example'])).toThrow(UsageError);
  });

  it('takes an IPv6 address with a zone id as it is, from the socket and from the list alike', () => {
    const zoned = trustedProxies(['fe80::1%eth0']);
    expect([...zoned]).toEqual(['fe80::1%eth0']);
    expect(clientAddress('fe80::1%eth0', '203.0.113.9', zoned)).toBe('203.0.113.9');
    expect(clientAddress('fe80::2%eth0', '203.0.113.9', zoned)).toBe('fe80::2%eth0');
  });
});
