// Whose clock each time was read on. hrtime is monotonic per machine (and
// boot): times of one host compare exactly. Times of different hosts compare
// only through the wall-clock instant each history recorded at its release
// (meta `released_wall_ms`), and only as well as the hosts' wall clocks
// agree, which verify cannot measure: the user states a bound
// (`--clock-skew`), and an order across hosts counts only beyond it.

/** How the times of the operations compare. */
export type Realtime = { exact: true } | { exact: false; reason: string; hosts?: HostClocks };

/** Several hosts' times, on one time line as far as their clocks allow. */
export interface HostClocks {
  /** The host each history file was recorded on (0-based), by file name. */
  hostOf: ReadonlyMap<string, number>;
  /** How many hosts. */
  count: number;
  /**
   * How far apart two hosts' wall clocks may be, in ns, when every history
   * recorded its wall clock (times were lined up on it); undefined when not
   * given or not possible: then only times of one host are compared.
   */
  skewNs: number | undefined;
}

/** Anything with times and the file that recorded them. */
export interface Timed {
  invoke: number;
  complete: number;
  file: string;
}

/** The laters in invocation order, and for each the best earlier that surely completed before it. */
export interface Preceding<T> {
  byInvoke: T[];
  /** best[k] goes with byInvoke[k]; undefined when nothing surely came before it. */
  best: Array<T | undefined>;
}

/**
 * For each of `laters`, the best (by `better`) of `earliers` that surely
 * completed before it was invoked. One host: a.complete < b.invoke, one
 * sweep, as the checks always did. Several: exactly within each host, and
 * across hosts only when a.complete + skew < b.invoke. Sound either way: a
 * pair it reports is ordered however the clocks erred within the bound;
 * pairs closer than that are never reported.
 */
export function bestPreceding<T extends Timed>(earliers: readonly T[], laters: readonly T[], better: (a: T, b: T) => boolean, realtime: Realtime): Preceding<T> {
  const byInvoke = [...laters].sort((a, b) => a.invoke - b.invoke);
  const best = new Array<T | undefined>(byInvoke.length);
  // `at`: positions in byInvoke, ascending, so invocation order holds.
  const sweep = (from: readonly T[], at: readonly number[] | undefined, skew: number) => {
    const byComplete = [...from].sort((a, b) => a.complete - b.complete);
    let top: T | undefined;
    let next = 0;
    const count = at ? at.length : byInvoke.length;
    for (let j = 0; j < count; j++) {
      const k = at ? at[j]! : j;
      const later = byInvoke[k]!;
      while (next < byComplete.length && byComplete[next]!.complete + skew < later.invoke) {
        const done = byComplete[next++]!;
        if (!top || better(done, top)) top = done;
      }
      if (top && (!best[k] || better(top, best[k]!))) best[k] = top;
    }
  };
  if (realtime.exact) {
    sweep(earliers, undefined, 0);
    return { byInvoke, best };
  }
  const hosts = realtime.hosts;
  if (!hosts) return { byInvoke, best };
  const from = Array.from({ length: hosts.count }, () => [] as T[]);
  for (const item of earliers) from[hosts.hostOf.get(item.file) ?? 0]!.push(item);
  const at = Array.from({ length: hosts.count }, () => [] as number[]);
  byInvoke.forEach((item, k) => at[hosts.hostOf.get(item.file) ?? 0]!.push(k));
  for (let host = 0; host < hosts.count; host++) sweep(from[host]!, at[host], 0);
  if (hosts.skewNs !== undefined) sweep(earliers, undefined, hosts.skewNs);
  return { byInvoke, best };
}

/** Whether two times of these files may be compared at all, and with what margin: undefined when they may not. */
export function marginBetween(realtime: Realtime, fileA: string, fileB: string): number | undefined {
  if (realtime.exact) return 0;
  const hosts = realtime.hosts;
  if (!hosts) return undefined;
  if (fileA === fileB || hosts.hostOf.get(fileA) === hosts.hostOf.get(fileB)) return 0;
  return hosts.skewNs;
}

/** Whether every pair of times may be compared (exactly, or beyond the skew bound). */
export function comparesAcrossHosts(realtime: Realtime): boolean {
  return realtime.exact || realtime.hosts?.skewNs !== undefined;
}

/** A phrase for check rows: how times were compared across hosts. */
export function hostsNote(realtime: Realtime): string {
  if (realtime.exact || !realtime.hosts) return '';
  const { count, skewNs } = realtime.hosts;
  return skewNs === undefined
    ? `; ${count} hosts: only times of one host compared`
    : `; ${count} hosts: exact within each, across them only beyond the ${skewNs / 1e6} ms --clock-skew bound`;
}
