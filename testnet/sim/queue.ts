// Simulated time: a clock that only moves when the next event fires, and the
// queue of events waiting for it. A binary heap keyed by (time, order of
// scheduling), so events at the same instant fire in the order they were
// scheduled and a run with the same seed is the same run.

export interface SimEvent {
  at: number;
  seq: number;
  fire: () => void;
  cancelled?: boolean;
}

export class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seq = 0;
  private clock: number;
  /** Events fired so far. */
  fired = 0;

  constructor(start = 0) {
    this.clock = start;
  }

  /** The simulated time, in ms. Pass as the coordinator's `now`. */
  readonly now = (): number => this.clock;

  get size(): number {
    return this.heap.length;
  }

  /** Runs `fire` at `at` (never earlier than now). The handle cancels it. */
  at(at: number, fire: () => void): SimEvent {
    const event: SimEvent = { at: Math.max(at, this.clock), seq: this.seq++, fire };
    this.push(event);
    return event;
  }

  after(ms: number, fire: () => void): SimEvent {
    return this.at(this.clock + ms, fire);
  }

  /** Fires the next live event; false when none is left. */
  step(): boolean {
    for (;;) {
      const event = this.pop();
      if (!event) return false;
      if (event.cancelled) continue;
      this.clock = event.at;
      this.fired++;
      event.fire();
      return true;
    }
  }

  private push(event: SimEvent): void {
    const h = this.heap;
    h.push(event);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
