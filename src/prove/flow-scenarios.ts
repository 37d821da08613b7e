// The runs `flashsale prove --flow reserve` makes on each database (issue 12):
// holds with a short time limit, where abandoned carts must expire and their
// units must be held again by later buyers, and confirms sent after the limit
// must be refused.

/** Hold time of the expiry scenarios: short, so a run sees many holds expire. */
export const FLOW_RESERVATION_TTL_MS = 1000;
/**
 * Hold time where every confirm must arrive in time: long enough that a slow
 * or busy machine still confirms all at once, so the count is exact.
 */
const IN_TIME_TTL_MS = 60_000;

export interface FlowScenario {
  name: string;
  /** Flows (buyers) in this run. */
  buyers: number;
  /** Server processes (each with its own expiry sweeper). */
  workers: number;
  /** The server's `--reservation-ttl`, ms. */
  ttlMs: number;
  /** Flows in flight at once; undefined sends every flow at once. */
  concurrency?: number | undefined;
  /** Shares of held flows that confirm and cancel; the rest abandon their hold. */
  confirm: number;
  cancel: number;
  /** Think time between a hold and its confirm or cancel, ms. */
  think: { min: number; max: number };
  /**
   * Units that must end confirmed: the whole stock when every buyer confirms
   * in time; undefined where abandons and expiries make it vary.
   */
  expectedConfirmed?: number | undefined;
  /**
   * The run must show expiry at work: holds that expired, units of an
   * expired hold held again by a later buyer, and confirms refused as late.
   */
  mustExpire: boolean;
}

export interface FlowScenarioSizes {
  stock: number;
  /** Server processes of the multi-process scenario. */
  workers: number;
}

/**
 * Think times up to 1.5 × the TTL: about a third of the confirms arrive after
 * their hold's time is up and must be refused, and abandoned holds come back
 * while flows are still arriving, so later buyers can hold their units.
 */
const LATE_THINK = { min: 50, max: Math.round(FLOW_RESERVATION_TTL_MS * 1.5) };

export function flowScenarios({ stock, workers }: FlowScenarioSizes): FlowScenario[] {
  // Three holders per unit, half the stock in flight: the confirmed units use
  // the stock up partway, so later holds get units only back from cancels and expiries.
  const buyers = stock * 3;
  const inFlight = Math.max(2, Math.ceil(stock / 2));
  return [
    { name: 'holds = stock, all confirm in time', buyers: stock, workers: 1, ttlMs: IN_TIME_TTL_MS, confirm: 1, cancel: 0, think: { min: 0, max: 50 }, expectedConfirmed: stock, mustExpire: false },
    { name: `3 × stock, carts abandoned, ${FLOW_RESERVATION_TTL_MS / 1000} s TTL`, buyers, workers: 1, ttlMs: FLOW_RESERVATION_TTL_MS, concurrency: inFlight, confirm: 0.6, cancel: 0.1, think: LATE_THINK, mustExpire: true },
    { name: `3 × stock, abandoned, ${workers} server workers`, buyers, workers, ttlMs: FLOW_RESERVATION_TTL_MS, concurrency: inFlight, confirm: 0.6, cancel: 0.1, think: LATE_THINK, mustExpire: true },
  ];
}
