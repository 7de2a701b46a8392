// protocol/ runs unchanged in the browser: the same vectors, codecs and unit
// runner, bundled for a page in Debian's Chromium and checked there. A
// missing Chromium fails this test; CI installs it.

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { requireTool } from '../../testnet/tools.ts';
import { chromiumArgs } from '../../testnet/chromium.ts';
import { runLocally } from '../support/local-run.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

let server: Server;
let browser: Browser;
let base: string;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [`${ROOT}test/browser/protocol-page.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]!.contents;
  server = createServer(async (req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
    } else if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    } else if (req.url === '/mandelbrot/unit.wasm' || req.url === '/mandelbrot/params.bin') {
      res.writeHead(200).end(await readFile(`${ROOT}examples${req.url}`));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await puppeteer.launch({
    executablePath: await requireTool('chromium'),
    headless: true,
    pipe: true,
    args: chromiumArgs(),
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('protocol/ in Chromium', () => {
  it('passes the vectors, the fuzz and a unit run with the browser backend', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`${base}/`);
    await page.waitForFunction('window.__results !== undefined', { timeout: 60_000 });
    const results = (await page.evaluate('window.__results')) as Array<{ name: string; ok: boolean; detail?: string }>;
    expect(errors).toEqual([]);
    expect(results.length).toBeGreaterThan(100);
    expect(results.filter((r) => !r.ok)).toEqual([]);

    // The unit's output in the browser is the very output Node computes.
    const browserHash = (await page.evaluate('window.__unitHash')) as string;
    const local = await runLocally(`${ROOT}examples/mandelbrot`, 0.5);
    expect(browserHash).toBe(toHex(nodeCrypto.sha256(local.outputs[10]!)));
  });
});
