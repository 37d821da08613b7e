// The three runs `flashsale prove` makes on each database (DESIGN.md
// "Commands"): enough buyers for every unit, ten times too many, and the
// same stampede spread over several server processes.

export interface Scenario {
  name: string;
  /** Buyers in this run. */
  buyers: number;
  /** Server processes. */
  workers: number;
  /** Units the run must sell: every buyer when there is enough, the whole stock otherwise. */
  expectedSold: number;
}

export interface ScenarioSizes {
  stock: number;
  /** Buyers of the oversubscribed scenarios. */
  buyers: number;
  /** Server processes of the multi-process scenario. */
  workers: number;
}

export function scenarios({ stock, buyers, workers }: ScenarioSizes): Scenario[] {
  const ratio = buyers % stock === 0 ? `${buyers / stock} × stock` : `${buyers} buyers`;
  return [
    { name: 'buyers = stock', buyers: stock, workers: 1, expectedSold: stock },
    { name: `buyers = ${ratio}`, buyers, workers: 1, expectedSold: Math.min(stock, buyers) },
    { name: `${ratio}, ${workers} server workers`, buyers, workers, expectedSold: Math.min(stock, buyers) },
  ];
}
