// Descriptors from relays themselves, over plain HTTP GETs that a browser
// can make as well as Node: one relay's /descriptors, and those of the
// relays a view already holds, so that relays tell of each other. Each
// source returns encoded descriptors unchecked; what they are worth is the
// view's business (net/relay-view.ts).

import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { decodeDescriptorList, DESCRIPTOR_LIST_MAX_BYTES } from '../protocol/messages/relay.ts';
import type { DescriptorSource, RelayView } from './relay-view.ts';

/** The http(s) base of a relay's ws(s) URL, where its /descriptor and /descriptors are. */
export function httpBaseOf(ws: string): string {
  let u: URL;
  try {
    u = new URL(ws);
  } catch {
    throw new SpareCyclesError('USAGE', `expected a ws:// or wss:// URL, got ${ws}`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new SpareCyclesError('USAGE', `expected a ws:// or wss:// URL, got ${ws}`);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

/** GET of at most `maxBytes`, within `timeoutMs`: NetworkError or TimeoutError otherwise. */
export async function getBytes(url: string, maxBytes: number, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, deadline]) : deadline, redirect: 'error' }).catch((cause: unknown) => {
    throw new NetworkError(`GET ${url}: ${(cause as Error).message}`, { cause });
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new NetworkError(`GET ${url}: expected 200, got ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new NetworkError(`GET ${url}: expected at most ${maxBytes} bytes, got ${declared}`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > maxBytes) throw new NetworkError(`GET ${url}: expected at most ${maxBytes} bytes, got ${body.length}`);
  return body;
}

/** One relay's GET /descriptors: the descriptors it knows, its own among them. */
export function relayDescriptorsSource(ws: string, options: { timeoutMs?: number } = {}): DescriptorSource {
  const url = `${httpBaseOf(ws)}/descriptors`;
  return {
    name: `relay:${ws}`,
    fetch: async (signal) => decodeDescriptorList(await getBytes(url, DESCRIPTOR_LIST_MAX_BYTES, options.timeoutMs ?? 5_000, signal)),
  };
}

/** The /descriptors of up to `max` relays the view already holds, best answering first: relays tell of each other. */
export function knownRelaysSource(view: RelayView, options: { max?: number; timeoutMs?: number } = {}): DescriptorSource {
  return {
    name: 'known-relays',
    fetch: async (signal) => {
      const relays = view.ranking().slice(0, options.max ?? 3);
      const lists = await Promise.all(
        relays.map((e) =>
          relayDescriptorsSource(e.descriptor.ws, options)
            .fetch(signal)
            .then(
              (list) => (view.reportSuccess(e.id), list),
              () => (view.reportFailure(e.id), []),
            ),
        ),
      );
      return lists.flat();
    },
  };
}
