// 1000 concurrent buyers for 100 units through the real server, on every
// database and strategy. The safe strategies must sell exactly the stock and
// leave a ledger whose stock_after values are exactly 0..99; unsafe must be
// caught losing updates or overselling.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { STRATEGY_NAMES } from '../adapters/strategies/index.js';
import { startServe } from './helpers/cli.js';
import { DATABASES, uniqueSku } from './helpers/databases.js';
import { Client, countStatuses, type Answer } from './helpers/http.js';
import { readState } from './helpers/store.js';

const STOCK = 100;
const BUYERS = 1000;

interface Stampede {
  answers: Answer[];
  state: Awaited<ReturnType<typeof readState>>;
}

async function stampede(url: string, args: string[]): Promise<Stampede> {
  const sku = uniqueSku('stampede');
  const server = await startServe(['--db', url, '--sku', sku, '--stock', String(STOCK), ...args]);
  const client = new Client(server.url, 256);
  try {
    const answers = await Promise.all(
      Array.from({ length: BUYERS }, (_, i) =>
        client.buy({ buyer_id: `b-${i}`, sku, quantity: 1 }, { 'idempotency-key': randomUUID() }),
      ),
    );
    return { answers, state: await readState(url, sku) };
  } finally {
    await client.close();
    await server.stop();
  }
}

function assertSoldExactlyTheStock({ answers, state }: Stampede): void {
  assert.deepEqual(countStatuses(answers), { 200: STOCK, 410: BUYERS - STOCK });
  assert.equal(state.inventory.current_stock, 0);
  assert.equal(state.ledger.length, STOCK);
  const stockAfter = state.ledger.map((row) => row.stockAfter).sort((a, b) => a - b);
  assert.deepEqual(stockAfter, Array.from({ length: STOCK }, (_, i) => i));
  // What each buyer was told is what the ledger recorded for their request.
  const ledgerByRequest = new Map(state.ledger.map((row) => [row.requestId, row]));
  for (const answer of answers.filter((a) => a.status === 200)) {
    assert.equal(ledgerByRequest.get(answer.body.request_id)?.stockAfter, answer.body.remaining_stock);
  }
}

/** The anomaly unsafe produced, or undefined if this run happened to be clean. */
function anomalyOf({ answers, state }: Stampede): string | undefined {
  const sold = answers.filter((a) => a.status === 200).length;
  const stockAfter = state.ledger.map((row) => row.stockAfter);
  const unitsInLedger = state.ledger.reduce((sum, row) => sum + row.quantity, 0);
  if (sold > STOCK) return `oversell: ${sold} sold of ${STOCK}`;
  if (new Set(stockAfter).size < stockAfter.length) return 'lost update: repeated stock_after';
  if (state.inventory.current_stock + unitsInLedger !== STOCK) return 'conservation broken';
  return undefined;
}

for (const db of DATABASES) {
  describe(`stampede on ${db.name}`, { skip: db.skip }, () => {
    for (const strategy of STRATEGY_NAMES.filter((name) => name !== 'unsafe')) {
      test(`${strategy}: 1000 buyers for 100 units sell exactly 100`, async () => {
        assertSoldExactlyTheStock(await stampede(db.url(), ['--strategy', strategy]));
      });
    }

    test('lock with --workers 4: safety holds across processes', async () => {
      assertSoldExactlyTheStock(await stampede(db.url(), ['--strategy', 'lock', '--workers', '4']));
    });

    test('unsafe: an anomaly is observed within 3 tries', async () => {
      const seen: string[] = [];
      for (let attempt = 0; attempt < 3 && seen.length === 0; attempt++) {
        const anomaly = anomalyOf(await stampede(db.url(), ['--strategy', 'unsafe']));
        if (anomaly) seen.push(anomaly);
      }
      assert.ok(seen.length > 0, 'unsafe sold 1000 buyers without one anomaly in 3 tries');
    });
  });
}
