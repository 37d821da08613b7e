// The open model's arrival schedule. Independent shoppers hitting "buy" make
// a Poisson process, so gaps between arrivals are exponential with mean 1/R.
// The schedule is one global sequence drawn from a seeded generator; child c
// takes arrivals c, c + P, c + 2P, …, so together the children arrive at
// exactly the sequence the seed names, and a rerun with --seed repeats it.

/** A small, fast, seeded generator (mulberry32): uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One child's arrivals, generated lazily: constant memory whatever the number of buyers. */
export class ArrivalSchedule {
  private readonly random: () => number;
  /** Global index of the next arrival in the whole sequence. */
  private global = 0;
  /** Seconds from t0 of the next arrival in the whole sequence. */
  private at = 0;

  constructor(
    /** Arrivals per second, all children together. */
    private readonly rate: number,
    seed: number,
    private readonly child: number,
    private readonly processes: number,
    private readonly buyers: number,
  ) {
    this.random = seededRandom(seed);
  }

  /** The child's next arrival: its global buyer index and offset from t0 in ns; null when none is left. */
  next(): { index: number; offsetNs: number } | null {
    while (this.global < this.buyers) {
      // 1 - u is in (0, 1], so the logarithm is finite.
      this.at += -Math.log(1 - this.random()) / this.rate;
      const index = this.global++;
      if (index % this.processes === this.child) return { index, offsetNs: Math.round(this.at * 1e9) };
    }
    return null;
  }
}
