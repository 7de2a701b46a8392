// The seams adversarial workers are built on (testnet/adversaries.ts): each
// kind of cheater changes only what it claims to, over a runner and a port
// that stand in for the real ones. The integration tests run them against a
// real tasker (task-run, credits-loop).

import { describe, expect, it } from 'vitest';
import type { FrameChannel, FrameListener } from '../../protocol/channel.ts';
import type { UnitRequest } from '../../protocol/unit.ts';
import { Board, colluding, copying, corrupting, idle, tappedPort } from '../../testnet/adversaries.ts';
import type { TorrentPort, UnitRunner } from '../../worker/ports.ts';

const MODULE = {} as WebAssembly.Module;
const request = (unit: number): UnitRequest => ({ unit, input: Uint8Array.of(unit), memory: { minPages: 1, maxPages: 1 }, maxOutputBytes: 64 });

/** An honest runner that answers unit u with [u, u] and counts its runs. */
function honest(): UnitRunner & { runs: number[] } {
  const runs: number[] = [];
  return {
    runs,
    size: 2,
    run: async (_module, req) => {
      runs.push(req.unit);
      return { output: Uint8Array.of(req.unit, req.unit), busyMs: 5 };
    },
  };
}

const flip = (_unit: number, out: Uint8Array) => out.map((b) => b ^ 0xff);

describe('adversarial runners', () => {
  it('wrong: computes every unit and changes what it sends', async () => {
    const inner = honest();
    const liar = corrupting(inner, flip);
    expect(liar.size).toBe(2);
    expect((await liar.run(MODULE, request(3), 1000)).output).toEqual(Uint8Array.of(0xfc, 0xfc));
    expect(inner.runs).toEqual([3]);
  });

  it('lazy: answers without computing', async () => {
    const lazy = idle(4, (unit) => Uint8Array.of(unit));
    expect(await lazy.run(MODULE, request(9), 1000)).toEqual({ output: Uint8Array.of(9), busyMs: 1 });
    expect(lazy.size).toBe(4);
  });

  it('copying: sends what another computed, and computes only what nobody has', async () => {
    const board = new Board();
    const [a, b] = [honest(), honest()];
    const first = copying(a, board);
    const second = copying(b, board);
    expect((await first.run(MODULE, request(1), 1000)).output).toEqual(Uint8Array.of(1, 1));
    expect((await second.run(MODULE, request(1), 1000)).output).toEqual(Uint8Array.of(1, 1));
    expect((await second.run(MODULE, request(2), 1000)).output).toEqual(Uint8Array.of(2, 2));
    expect(a.runs).toEqual([1]);
    expect(b.runs).toEqual([2]);
  });

  it('colluding: lies only when a partner holds the same unit, and both tell the same lie', async () => {
    const board = new Board();
    const x = colluding(honest(), board, 'x', flip, 200);
    const y = colluding(honest(), board, 'y', flip, 200);
    const [fromX, fromY] = await Promise.all([x.run(MODULE, request(5), 1000), y.run(MODULE, request(5), 1000)]);
    expect(fromX.output).toEqual(Uint8Array.of(0xfa, 0xfa));
    expect(fromY.output).toEqual(fromX.output);
    // Alone on a unit, it keeps its record clean.
    expect((await x.run(MODULE, request(6), 1000)).output).toEqual(Uint8Array.of(6, 6));
    expect(board.partnered(5, 'x')).toBe(false);
  });
});

describe('a tapped port', () => {
  it('sees every wire and frame before the engine, can drop one, and can replay it elsewhere', () => {
    let engineSide: FrameListener | undefined;
    const port: TorrentPort = {
      openTask(_magnet, listener) {
        engineSide = listener;
        return { infoHash: '00'.repeat(20), complete: async () => {}, read: async () => undefined, close: () => {} };
      },
      seedResults: async () => new Uint8Array(20),
    };
    const heard: string[] = [];
    const engine: FrameListener = {
      open: () => heard.push('open'),
      frame: (_c, frame) => heard.push(`frame:${frame[1]}`),
      closed: () => heard.push('closed'),
    };
    const captured: Uint8Array[] = [];
    const tapped = tappedPort(port, ({ channel, frame }) => {
      if (!frame) return;
      captured.push(frame);
      // The tap keeps an initiation from the engine and sends it back where it came from.
      if (frame[1] === 1) {
        channel.channel.send(frame);
        return false;
      }
    });
    tapped.openTask('magnet:?xt=urn:btih:00', engine);
    const sent: Uint8Array[] = [];
    const channel: FrameChannel = { open: true, peer: 'p', send: (f) => sent.push(f), close: () => {} };
    engineSide!.open(channel);
    const initiation = Uint8Array.of(1, 1, 7);
    const transport = Uint8Array.of(1, 3, 8);
    engineSide!.frame(channel, initiation);
    engineSide!.frame(channel, transport);
    engineSide!.closed(channel);
    expect(heard).toEqual(['open', 'frame:3', 'closed']);
    expect(captured).toEqual([initiation, transport]);
    expect(sent).toEqual([initiation]);
    expect(sent[0]).toBe(initiation);
  });
});
