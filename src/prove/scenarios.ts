// The runs `flashsale prove` makes on each database (DESIGN.md "Commands"):
// enough buyers for every unit, ten times too many all at once, ten times
// too many arriving while earlier ones are answered, the stampede spread over
// several server processes, and with --faults the same under a nemesis.
import type { FaultName } from './faults/index.js';
import { FAULT_SERVER_WORKERS } from './faults/index.js';

export interface Scenario {
  name: string;
  /** Buyers in this run. */
  buyers: number;
  /** Server processes. */
  workers: number;
  /** Most buyers in flight at once; undefined sends every buyer at once (attack's default). */
  concurrency?: number | undefined;
  /**
   * Units the run must sell: every buyer when there is enough, the whole
   * stock otherwise. With faults, the acknowledged sales plus the unknown
   * outcomes must reach it (the stock sold out despite the faults).
   */
  expectedSold: number;
  /** Faults injected mid-stampede, in this order (the faults scenario only). */
  faults?: FaultName[] | undefined;
}

export interface ScenarioSizes {
  stock: number;
  /** Buyers of the oversubscribed scenarios. */
  buyers: number;
  /** Server processes of the multi-process scenario. */
  workers: number;
  /** Faults for the faults scenario; none (or undefined) leaves it out. */
  faults?: FaultName[] | undefined;
}

/**
 * Buyers in flight in the scenarios where buyers keep arriving: a hundredth
 * of them (10 for 1000), so about a hundred waves of buyers arrive one after
 * another. An all-at-once stampede sends every request before the first
 * answer, so a false "sold out" can always be ordered after the last sale and
 * a stale remaining after the fresh one: only arrivals after an answer let
 * the real-time checks (H4, H5) see a liar.
 */
export function buyersInFlight(buyers: number): number {
  return Math.max(1, Math.ceil(buyers / 100));
}

export function scenarios({ stock, buyers, workers, faults }: ScenarioSizes): Scenario[] {
  const ratio = buyers % stock === 0 ? `${buyers / stock} × stock` : `${buyers} buyers`;
  const expectedSold = Math.min(stock, buyers);
  const inFlight = buyersInFlight(buyers);
  const list: Scenario[] = [
    { name: 'buyers = stock', buyers: stock, workers: 1, expectedSold: stock },
    { name: `buyers = ${ratio}`, buyers, workers: 1, expectedSold },
    { name: `${ratio}, ${inFlight} in flight`, buyers, workers: 1, concurrency: inFlight, expectedSold },
    { name: `${ratio}, ${workers} server workers`, buyers, workers, expectedSold },
  ];
  if (faults && faults.length > 0) {
    list.push({ name: `faults: ${faults.join(', ')}`, buyers, workers: FAULT_SERVER_WORKERS, concurrency: inFlight, expectedSold, faults });
  }
  return list;
}
