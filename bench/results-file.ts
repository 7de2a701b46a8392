// bench/results.json: every benchmark's latest figures, merged by name, so
// one benchmark can run alone without erasing the others.

import { readFile, writeFile } from 'node:fs/promises';

const FILE = new URL('./results.json', import.meta.url);

export interface Figure {
  value: number;
  unit: string;
  target?: string;
  pass?: boolean;
  notes?: string;
  [extra: string]: unknown;
}

export async function recordFigures(figures: Record<string, Figure>): Promise<void> {
  let existing: Record<string, unknown> = {};
  try {
    existing = JSON.parse(await readFile(FILE, 'utf8'));
  } catch {
    // first run
  }
  const merged = { ...existing, ...figures, _meta: { updated: new Date().toISOString(), node: process.version } };
  await writeFile(FILE, `${JSON.stringify(merged, null, 2)}\n`);
}

export function show(name: string, figure: Figure): void {
  const verdict = figure.pass === undefined ? '' : figure.pass ? ' (meets target)' : ' (misses target)';
  process.stdout.write(`${name.padEnd(24)} ${String(figure.value).padStart(10)} ${figure.unit}${figure.target ? `  target ${figure.target}` : ''}${verdict}\n`);
}
