// The task torrent must download in a BitTorrent client nobody here wrote:
// Debian's aria2c, over the HTTP tracker and TCP. Under CI a missing aria2c
// fails the run; elsewhere the test says why it cannot run.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeManifest } from '../../protocol/manifest.ts';
import { MANIFEST_FILE, taskFilePaths } from '../../protocol/task-files.ts';
import { loadTaskDir } from '../../tasker/task-dir.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { requireTool } from '../../testnet/tools.ts';

const run = promisify(execFile);
const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;

let mesh: Mesh | undefined;
afterAll(() => mesh?.stop());

describe('a real BitTorrent client', () => {
  it('aria2c downloads the task magnet from the tasker over TCP', async () => {
    const aria2c = await requireTool('aria2c');
    mesh = await Mesh.start();
    const session = await mesh.publish(EXAMPLE);
    const dir = await mkdtemp(join(mesh.dir, 'aria2c-'));
    // Only the HTTP tracker: aria2c speaks no WebRTC, so whatever it gets came over TCP.
    const magnet = `magnet:?xt=urn:btih:${session.infoHash}&tr=${encodeURIComponent(mesh.trackers[0]!)}`;
    await run(
      aria2c,
      [
        `--dir=${dir}`,
        '--seed-time=0',
        '--enable-dht=false',
        '--enable-dht6=false',
        '--bt-enable-lpd=false',
        '--enable-peer-exchange=false',
        '--disable-ipv6=true',
        '--listen-port=49152-65000',
        '--bt-stop-timeout=60',
        '--summary-interval=0',
        '--console-log-level=warn',
        magnet,
      ],
      { timeout: 90_000 },
    );
    const root = join(dir, session.torrent.name);
    expect(Buffer.compare(await readFile(join(root, MANIFEST_FILE)), encodeManifest(session.manifest))).toBe(0);
    const task = await loadTaskDir(nodeCrypto, EXAMPLE);
    for (const path of taskFilePaths(session.manifest)) {
      expect(Buffer.compare(await readFile(join(root, path)), task.files.get(path)!), path).toBe(0);
    }
    expect(session.torrent.uploaded).toBeGreaterThan(0);
  });
});
