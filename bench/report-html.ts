// Benchmark, not a test: what `verify --html` costs on a run and how long the
// page takes to open. Audits a history (verify's own flags: pass the store,
// as for verify), then separately times the report's data reduction and page
// rendering (CPU, this process), writes the file, and opens it in the
// distribution's Chromium a few times: the render time is the page's own
// `window.flashsaleReport.renderMs` (navigation start to the second frame
// after the charts were built).
//
//   KEEP=1 npm run bench:verify              # keeps a 1,000,000-operation history and its SQLite ledger
//   npm run bench:report-html -- --history DIR/history.jsonl --db sqlite:DIR/bench.db --sku bench [--initial-stock 499990] [--runs 5]
//
// (--initial-stock 499990 makes five checks fail, so the page carries witnesses.)
import { existsSync } from 'node:fs';
import { stat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { reportData } from '../src/report/html/data.js';
import { writeHtmlReport } from '../src/report/html/report.js';
import { audit } from '../src/verify/verify.js';

const CHROMIUM = '/usr/bin/chromium';
const flag = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const history = flag('--history');
if (!history) throw new Error('give --history FILE (and --db URL --sku SKU for the database checks)');
const initialStock = flag('--initial-stock');
const runs = Number(flag('--runs') ?? 5);

const audited = await audit({ histories: [history], db: flag('--db'), sku: flag('--sku') ?? 'A', initialStock: initialStock === undefined ? undefined : Number(initialStock), maxErrors: 0 });
const dir = await mkdtemp(join(tmpdir(), 'flashsale-bench-report-'));
const file = join(dir, 'report.html');
const cpu = process.cpuUsage();
const started = performance.now();
const data = reportData({ title: history, ...audited });
await writeHtmlReport(file, history, [data]);
const used = process.cpuUsage(cpu);
const buildS = (performance.now() - started) / 1000;
const bytes = (await stat(file)).size;

const renderMs: number[] = [];
if (existsSync(CHROMIUM)) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => (window as any).flashsaleReport?.ready === true, null, { timeout: 120_000 });
    renderMs.push(await page.evaluate(() => (window as any).flashsaleReport.renderMs as number));
    await page.close();
  }
  await browser.close();
}
if (!process.env.KEEP) await rm(dir, { recursive: true, force: true });
else console.log(file);

const sorted = [...renderMs].sort((a, b) => a - b);
console.log(`report-html: ${audited.history.ops.length.toLocaleString('en')} operations, verdict ${audited.verdict.status}`);
console.log(`  ${data.timeline.shown.toLocaleString('en')} operations drawn on the timeline, ${data.stock.shown.toLocaleString('en')} stock points, ${data.overTime.t.length} time bins`);
console.log(`  file ${bytes.toLocaleString('en')} bytes; built in ${buildS.toFixed(2)} s (CPU ${((used.user + used.system) / 1e6).toFixed(2)} s)`);
console.log(renderMs.length ? `  render in Chromium: ${sorted.map((ms) => `${ms}`).join(', ')} ms (median ${sorted[Math.floor(sorted.length / 2)]} ms)` : `  render not measured: no Chromium at ${CHROMIUM}`);
console.log(JSON.stringify({ bench: 'report-html', operations: audited.history.ops.length, bytes, build_s: buildS, render_ms: renderMs }));
