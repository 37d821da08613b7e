// Benchmark, not a test: how long `verify` takes on a 1,000,000-operation
// history (goal: under 5 seconds), with the database checks running against a
// SQLite ledger of the same run. Prints the figures and writes them as JSON
// to stdout's last line for `npm run bench` to gather.
//
//   npm run bench:verify [-- --operations 1000000]
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAdapter } from '../adapters/open.js';
import { prepareStore, resetStock } from '../adapters/store.js';
import { withTransaction } from '../adapters/transaction.js';
import { formatMetaLine, formatOpLine } from '../src/history/writer.js';
import { verify } from '../src/verify/verify.js';

const operations = Number(process.argv[process.argv.indexOf('--operations') + 1]) || 1_000_000;
const stock = Math.floor(operations / 2);
const sku = 'bench';

const dir = await mkdtemp(join(tmpdir(), 'flashsale-bench-verify-'));
const history = join(dir, 'history.jsonl');
const db = `sqlite:${join(dir, 'bench.db')}`;

// A correct run: buyers arrive 1 µs apart, each request takes 0.2–1.2 ms, so
// hundreds overlap; the first `stock` of them (in arrival order) buy, the
// rest are told sold out after the last sale completed.
const generateStarted = performance.now();
const out = createWriteStream(history);
const write = async (line: string) => {
  if (!out.write(line)) await once(out, 'drain');
};
const runId = 'benchrun0000';
const base = 1_000_000_000n;
await write(
  formatMetaLine({
    kind: 'meta', schema: 'flashsale-history/1', target: 'http://127.0.0.1:3000/buy', buyers: operations, started_at: new Date().toISOString(),
    method: 'POST', quantity: 1, processes: 2, concurrency: 1000, rate: null, seed: 1, run_id: runId, host_id: 'bench/boot', ready_at: base, released_at: base,
  }),
);
const lastSaleCompletes = base + BigInt(stock) * 1000n + 1_200_000n;
for (let i = 0; i < operations; i++) {
  const bought = i < stock;
  const invoke = bought ? base + BigInt(i) * 1000n : lastSaleCompletes + BigInt(i) * 1000n;
  const complete = invoke + 200_000n + BigInt((i * 7919) % 1_000_000);
  await write(
    formatOpLine({
      kind: 'op', process: i % 2, buyer: `b-${i}`, request_id: `${runId}-${i}`, type: bought ? 'ok' : 'fail', outcome: bought ? 'bought' : 'sold_out',
      t_inv: invoke, t_cmp: complete, status: bought ? 200 : 410, remaining: bought ? stock - 1 - i : 0, purchase_id: bought ? String(i + 1) : null, error: null,
    }),
  );
}
out.end();
await once(out, 'finish');

const adapter = await openAdapter({ url: db });
await prepareStore(adapter, { sku, itemName: 'bench', stock });
await resetStock(adapter, sku, stock);
await withTransaction(adapter, async (session) => {
  for (let i = 0; i < stock; i++) {
    await session.insertPurchase({ sku, buyerId: `b-${i}`, quantity: 1, requestId: `${runId}-${i}`, stockAfter: stock - 1 - i });
  }
  await session.writeStock(sku, 0);
});
await adapter.close();
const generateS = (performance.now() - generateStarted) / 1000;

const rssBefore = process.memoryUsage().rss;
const started = performance.now();
const verdict = await verify({ histories: [history], db, sku, maxErrors: 0 });
const seconds = (performance.now() - started) / 1000;
const peakRssMb = process.resourceUsage().maxRSS / 1024;

if (!process.env.KEEP) await rm(dir, { recursive: true, force: true }); else console.log(dir);
console.log(`verify: ${operations.toLocaleString('en')} operations, ${stock.toLocaleString('en')} ledger rows (generated in ${generateS.toFixed(1)} s)`);
console.log(`  verdict ${verdict.status} (${verdict.headline})`);
console.log(`  time ${seconds.toFixed(2)} s (goal < 5 s), peak RSS ${peakRssMb.toFixed(0)} MB (${(rssBefore / 1048576).toFixed(0)} MB before verify)`);
console.log(JSON.stringify({ bench: 'verify', operations, ledger_rows: stock, seconds, peak_rss_mb: peakRssMb, verdict: verdict.status }));
if (verdict.status !== 'PASS') process.exitCode = 1;
