// Which offers a volunteer's node works on, written down so that it can be
// read and tested (docs/offer-policy.md states the same rules in prose). It
// does no networking: the market loop hands in the offers it has seen, decoded
// and verified, and asks what to hold, whether to switch, and why an offer
// was passed over. Everything that depends on chance or time comes from an
// injected random source and clock, so a run can be replayed.
//
// An offer names a price per unit, not a cost: what matters to this node is
// what it pays per second of THIS machine's time, price / seconds per unit,
// with the seconds learnt from the units it has computed (offer-history.ts).

import { toHex } from '../protocol/bytes.ts';
import { UsageError } from '../protocol/errors.ts';
import type { Offer } from '../protocol/messages/offer.ts';
import { msPerPaidUnit, OfferHistory, type Experience } from './offer-history.ts';

export interface PolicyConstants {
  /** The guess for a task's unit time when this node has measured none at all. */
  defaultMsPerUnit: number;
  /** The share of choices that may go to an unmeasured offer whose guessed rate beats every measured one. */
  exploreShare: number;
  /** Immediate work's score is its rate times this: it wins while its rate is at least 1 / bonus of batch work's. */
  immediateBonus: number;
  /** A running task is left for another of the same standing only when the other scores this many times more. */
  switchGain: number;
  /** An offer must leave this many expected unit times before its deadline ... */
  deadlineSlack: number;
  /** ... plus this, to send the result. */
  resultMarginMs: number;
  /** Units that all failed, with none paid, after which a task is passed over. */
  failuresToSkip: number;
  /** Tasks held at once: each holds a torrent, its peers and a channel to its tasker. */
  tasksHeld: number;
}

export const POLICY: Readonly<PolicyConstants> = Object.freeze({
  defaultMsPerUnit: 30_000,
  exploreShare: 0.1,
  immediateBonus: 1.25,
  switchGain: 1.5,
  deadlineSlack: 1.5,
  resultMarginMs: 15_000,
  failuresToSkip: 3,
  tasksHeld: 4,
});

/** Why an offer is not worked on. */
export type SkipReason =
  /** A later offer (higher seq) for the same task from the same tasker replaces it. */
  | 'superseded'
  | 'empty'
  | 'expired'
  /** Its deadline leaves no time for even one unit at the expected time. */
  | 'deadline-near'
  /** A stealth node reaches taskers only through a rendezvous, and the offer names none. */
  | 'no-rendezvous'
  /** Its tasker kept refusing this node's results, and the node is leaving it for a while. */
  | 'tasker-left'
  /** Its recent units all failed on this machine. */
  | 'failing';

/** What an offer is worth to this node. */
export interface Estimate {
  readonly offer: Offer;
  /** Time one paid unit takes on one thread: measured, or the prior when `measured` is false. */
  readonly msPerUnit: number;
  readonly measured: boolean;
  /** Credits per second of one thread. */
  readonly rate: number;
  /** The rate, with immediate work's bonus: what offers are ranked by. */
  readonly score: number;
}

export interface Assessment {
  /** The offers the node may work on, best first (no exploration applied). */
  readonly ranked: Estimate[];
  readonly skipped: { offer: Offer; reason: SkipReason }[];
}

/** One task to hold, and the threads to give it. */
export interface Holding {
  readonly estimate: Estimate;
  readonly threads: number;
}

export interface PolicySettings extends PolicyConstants {
  /** A stealth node reaches a tasker only through its offer's rendezvous. */
  needsRendezvous: boolean;
}

/** Every offer sorted into what the node may work on (best first) and what it passes over, and why. */
export function assess(offers: readonly Offer[], experience: Experience, nowMs: number, settings: Readonly<PolicySettings>): Assessment {
  const prior = experience.typicalMsPerUnit() ?? settings.defaultMsPerUnit;
  const latest = new Map<string, Offer>();
  for (const offer of offers) {
    const key = offerKey(offer);
    const seen = latest.get(key);
    if (!seen || offer.seq > seen.seq) latest.set(key, offer);
  }
  const ranked: Estimate[] = [];
  const skipped: Assessment['skipped'] = [];
  for (const offer of offers) {
    const verdict = latest.get(offerKey(offer)) !== offer ? 'superseded' : judge(offer, experience, nowMs, prior, settings);
    if (typeof verdict === 'string') skipped.push({ offer, reason: verdict });
    else ranked.push(verdict);
  }
  return { ranked: ranked.sort(compareEstimates), skipped };
}

/** Why the node passes over `offer`, or what it is worth when it does not. */
function judge(offer: Offer, experience: Experience, nowMs: number, prior: number, settings: Readonly<PolicySettings>): SkipReason | Estimate {
  if (offer.left <= 0) return 'empty';
  if (offer.deadline * 1000 <= nowMs) return 'expired';
  if (settings.needsRendezvous && offer.rendezvous === undefined) return 'no-rendezvous';
  if (experience.leftUntil(offer.tasker) > nowMs) return 'tasker-left';
  const samples = experience.samples(offer.task);
  const measuredMs = msPerPaidUnit(samples);
  if (measuredMs === undefined && samples.length >= settings.failuresToSkip) return 'failing';
  const estimate = estimateOf(offer, measuredMs ?? prior, measuredMs !== undefined, settings);
  if (offer.deadline * 1000 - nowMs < estimate.msPerUnit * settings.deadlineSlack + settings.resultMarginMs) return 'deadline-near';
  return estimate;
}

function estimateOf(offer: Offer, msPerUnit: number, measured: boolean, settings: Readonly<PolicyConstants>): Estimate {
  const rate = offer.price / (msPerUnit / 1000);
  const score = offer.mode === 'immediate' ? rate * settings.immediateBonus : rate;
  return { offer, msPerUnit, measured, rate, score };
}

/**
 * Best first: the higher score; at an equal score immediate work, then a
 * measured rate over a guessed one, then more units left (more work before
 * the next switch), then the nearer deadline; last the task and tasker keys,
 * so that the order never depends on the order offers arrived in.
 */
export function compareEstimates(a: Estimate, b: Estimate): number {
  return (
    b.score - a.score ||
    Number(b.offer.mode === 'immediate') - Number(a.offer.mode === 'immediate') ||
    Number(b.measured) - Number(a.measured) ||
    b.offer.left - a.offer.left ||
    a.offer.deadline - b.offer.deadline ||
    byKey(offerKey(a.offer), offerKey(b.offer))
  );
}

/**
 * The offer to work on from a ranked list. The best one, unless it is
 * unmeasured and some measured offer is on the list: then its rate is only a
 * guess that beats everything known, and it is tried on a draw of
 * `exploreShare` only, so that no offer, however high its price, captures the
 * node before its units show their real time. With nothing measured, the
 * guess is all there is.
 */
export function pick(ranked: readonly Estimate[], random: () => number, settings: Readonly<PolicyConstants>): Estimate | undefined {
  const best = ranked[0];
  if (!best || best.measured) return best;
  const known = ranked.find((e) => e.measured);
  if (!known) return best;
  return random() < settings.exploreShare ? best : known;
}

/**
 * Up to `tasksHeld` offers to hold at once, each with its share of `threads`:
 * the pick gets as many threads as it has units left, and the pick among the
 * rest gets what remains, and so on. Threads stay idle only when the offers
 * run out of units.
 */
export function planHoldings(ranked: readonly Estimate[], threads: number, random: () => number, settings: Readonly<PolicyConstants>): Holding[] {
  if (!Number.isSafeInteger(threads) || threads < 1) throw new UsageError(`threads: expected an integer ≥ 1, got ${threads}`, { field: 'threads' });
  const rest = [...ranked];
  const out: Holding[] = [];
  let free = threads;
  while (free > 0 && out.length < settings.tasksHeld) {
    const chosen = pick(rest, random, settings);
    if (!chosen) break;
    rest.splice(rest.indexOf(chosen), 1);
    const share = Math.min(free, chosen.offer.left);
    out.push({ estimate: chosen, threads: share });
    free -= share;
  }
  return out;
}

/**
 * Whether to leave `current` for `candidate` at the next unit boundary; an
 * undefined estimate is an offer the node may not work on (see assess).
 * - A candidate it may not work on never wins; a current one it may no
 *   longer work on always loses.
 * - Immediate work preempts batch work when it scores at least as well, that
 *   is when its rate is at least 1 / immediateBonus of the batch one's.
 * - Otherwise the candidate must score switchGain times more, since a switch
 *   costs fetching another task; and an unmeasured candidate, whose score is
 *   a guess, wins only on an exploration draw.
 */
export function preempts(
  current: Estimate | undefined,
  candidate: Estimate | undefined,
  random: () => number,
  settings: Readonly<PolicyConstants>,
): boolean {
  if (!candidate) return false;
  if (!current) return true;
  if (offerKey(current.offer) === offerKey(candidate.offer)) return false;
  if (candidate.offer.mode === 'immediate' && current.offer.mode === 'batch') return candidate.score >= current.score;
  if (candidate.score < current.score * settings.switchGain) return false;
  return candidate.measured || random() < settings.exploreShare;
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One task of one tasker: offers agreeing on both are versions of one offer. */
function offerKey(offer: Offer): string {
  return `${toHex(offer.task)} ${toHex(offer.tasker)}`;
}

export interface OfferPolicyOptions {
  /** What the node has learnt; the loop feeds it from the engine's events. */
  history?: OfferHistory;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  /** Uniform in [0, 1). */
  random?: () => number;
  /** Set for a stealth node: it works only on offers with a rendezvous. */
  needsRendezvous?: boolean;
  constants?: Partial<PolicyConstants>;
}

/** The policy with its history, clock and random source: what a market loop holds. */
export class OfferPolicy {
  readonly history: OfferHistory;
  readonly settings: Readonly<PolicySettings>;
  private readonly clock: () => number;
  private readonly random: () => number;

  constructor(options: OfferPolicyOptions = {}) {
    this.history = options.history ?? new OfferHistory();
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.settings = Object.freeze({ ...POLICY, ...options.constants, needsRendezvous: options.needsRendezvous ?? false });
  }

  /** The offers the node may work on, best first, and those it passes over with the reason: for showing why. */
  assess(offers: readonly Offer[]): Assessment {
    return assess(offers, this.history, this.clock(), this.settings);
  }

  /** The one offer to work on next, or undefined when none will do. */
  choose(offers: readonly Offer[]): Offer | undefined {
    return pick(this.assess(offers).ranked, this.random, this.settings)?.offer;
  }

  /** The offers to hold at once, with a share of `threads` each. */
  plan(offers: readonly Offer[], threads: number): Holding[] {
    return planHoldings(this.assess(offers).ranked, threads, this.random, this.settings);
  }

  /** Whether the task in hand should give way to `candidate` at the next unit boundary. */
  shouldPreempt(current: Offer, candidate: Offer): boolean {
    const now = this.clock();
    const one = (offer: Offer) => assess([offer], this.history, now, this.settings).ranked[0];
    return preempts(one(current), one(candidate), this.random, this.settings);
  }
}
