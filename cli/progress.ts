// Progress for long commands: a bar that redraws in place on a terminal, and
// plain lines (at most one per tenth) when the output is a file or a pipe.

import type { WriteStream } from 'node:tty';

export interface Progress {
  update(done: number, total: number, note?: string): void;
  finish(message?: string): void;
}

export function progress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = (stream as WriteStream).isTTY === true;
  let lastTenth = -1;
  let drawn = false;
  return {
    update(done, total, note = '') {
      if (tty) {
        const width = 30;
        const filled = total === 0 ? width : Math.round((done / total) * width);
        stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${note}\x1b[K`);
        drawn = true;
        return;
      }
      const tenth = total === 0 ? 10 : Math.floor((done / total) * 10);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        stream.write(`${label}: ${done}/${total}${note ? ` ${note}` : ''}\n`);
      }
    },
    finish(message) {
      if (tty && drawn) stream.write('\n');
      if (message) stream.write(`${message}\n`);
    },
  };
}
