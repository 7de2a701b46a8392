// Structured logs: one JSON object per line, with a level and an event name,
// so operators can grep and machines can parse.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogLine = { level: LogLevel; event: string } & Record<string, unknown>;
export type Logger = (line: LogLine) => void;

export const silentLogger: Logger = () => {};

export function jsonLogger(stream: NodeJS.WritableStream = process.stderr, minimum: LogLevel = 'info'): Logger {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const floor = order.indexOf(minimum);
  return (line) => {
    if (order.indexOf(line.level) < floor) return;
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
  };
}
