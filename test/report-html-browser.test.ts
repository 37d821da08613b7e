// The HTML report in a real browser: the distribution's Chromium, driven by
// playwright-core (no browser is downloaded). Runs through bin/ as a user
// does: prove --html of a correct server and of the deliberately racy one,
// then verify --html of one of the racy runs' histories. Checks that the
// charts drew (pixels of the series' colour on every canvas), that the failing
// checks are marked, and that a witness link scrolls to its operation, zooms
// onto it and marks it. Keeps the pages and a screenshot in a temporary folder
// it names.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runCli } from './helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium (as .ci/run does) to run the browser test of the HTML report`;
const VIEWPORT = { width: 1300, height: 900 };

interface Opened {
  page: Page;
  /** Every URL the page asked for, the file itself included. */
  requests: string[];
  errors: string[];
}

describe('the HTML report in Chromium', { skip: SKIP }, () => {
  let browser: Browser;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flashsale-report-html-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // A fresh temporary profile (launch's default), nothing phoned home.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
  });

  async function open(file: string): Promise<Opened> {
    const page = await browser.newPage({ viewport: VIEWPORT });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => (window as any).flashsaleReport?.ready === true, null, { timeout: 60_000 });
    return { page, requests, errors };
  }

  /** Per chart: its name and how many pixels of its canvas are in the bought colour (green, #2e9d4a) and the witness colour (red, #e0003c). */
  function chartPixels(page: Page): Promise<Array<{ name: string; series: number; bought: number; witness: number }>> {
    return page.evaluate(
      () =>
        (window as any).flashsaleReport.charts.map((chart: any) => {
          const canvas = chart.canvas as HTMLCanvasElement;
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          // By dominant channel, so anti-aliased edges of thin lines count too: the axes and grid are grey.
          let inBought = 0;
          let inWitness = 0;
          for (let i = 0; i < pixels.length; i += 4) {
            const [r, g, b, a] = [pixels[i]!, pixels[i + 1]!, pixels[i + 2]!, pixels[i + 3]!];
            if (a < 128) continue;
            if (g - Math.max(r, b) > 30) inBought += 1;
            else if (r - Math.max(g, b) > 100) inWitness += 1;
          }
          return { name: chart.name, series: chart.series, bought: inBought, witness: inWitness };
        }),
    );
  }

  function assertChartsDrew(charts: Array<{ name: string; series: number; bought: number }>, sections: number): void {
    const names = ['timeline', 'throughput', 'latency', 'percentiles', 'stock'];
    assert.equal(charts.length, names.length * sections, JSON.stringify(charts));
    for (const chart of charts) {
      assert.ok(names.includes(chart.name));
      assert.ok(chart.series >= 1, `${chart.name} has no series`);
      // Every run here sold something: each chart has a bought series (the timeline, bars) to show.
      assert.ok(chart.bought > 20, `${chart.name}: only ${chart.bought} pixels of the bought colour: the chart did not draw`);
    }
  }

  function assertOffline({ requests, errors }: Opened, file: string): void {
    assert.deepEqual(requests, [pathToFileURL(file).href], 'the page fetched nothing but itself');
    assert.deepEqual(errors, []);
  }

  test('a passing prove: every chart drew, no check is marked failed, nothing was fetched', async (t) => {
    const file = join(dir, 'prove-pass.html');
    const run = await runCli(['prove', '--stock', '20', '--buyers', '100', '--processes', '2', '--html', file], { timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const opened = await open(file);
    assertOffline(opened, file);
    const { page } = opened;
    assertChartsDrew(await chartPixels(page), 4);
    assert.equal(await page.locator('tr.check.fail').count(), 0);
    assert.deepEqual(await page.locator('h2 .badge').allTextContents(), ['PASS', 'PASS', 'PASS', 'PASS']);
    t.diagnostic(`rendered in ${await page.evaluate(() => (window as any).flashsaleReport.renderMs)} ms: ${file}`);
    await page.close();
  });

  test('a failing run: the failing checks are marked and a witness link scrolls to its operation and marks it', async (t) => {
    const proveFile = join(dir, 'prove-unsafe.html');
    const proved = await runCli(['prove', '--strategy', 'unsafe', '--stock', '20', '--buyers', '100', '--processes', '2', '--html', proveFile], { timeoutMs: 120_000 });
    assert.equal(proved.code, 1, proved.stdout + proved.stderr);
    const workDir = /histories kept in (\S+);/.exec(proved.stdout)?.[1];
    assert.ok(workDir, proved.stdout);
    t.after(() => rm(workDir, { recursive: true, force: true }));

    // prove's page: a section per scenario, the failing ones first.
    const proving = await open(proveFile);
    assertOffline(proving, proveFile);
    assert.equal(await proving.page.locator('h2 .badge').first().textContent(), 'FAIL');
    assertChartsDrew(await chartPixels(proving.page), 4);
    await proving.page.close();

    // verify --html of the oversubscribed scenario: 100 buyers for 20 units oversell without a lock.
    const file = join(dir, 'verify-unsafe.html');
    const verified = await runCli(['verify', '--history', join(workDir, 'sqlite-2.jsonl'), '--db', `sqlite:${join(workDir, 'flashsale.db')}`, '--sku', 'flashsale-prove-2', '--html', file]);
    assert.equal(verified.code, 1, verified.stdout + verified.stderr);
    const opened = await open(file);
    assertOffline(opened, file);
    const { page } = opened;
    const charts = await chartPixels(page);
    assertChartsDrew(charts, 1);
    assert.ok(charts.find((chart) => chart.name === 'timeline')!.witness > 20, 'the witnesses are outlined on the timeline');
    assert.equal(await page.locator('h2 .badge').textContent(), 'FAIL');
    // Every check the terminal called FAIL is marked on the page, and only those.
    const failedInTerminal = [...verified.stdout.matchAll(/^│ (\w\d) [\w-]+ +│ FAIL/gm)].map((match) => match[1]);
    assert.ok(failedInTerminal.length > 0, verified.stdout);
    const marked = await page.locator('tr.check.fail').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-check')));
    assert.deepEqual(marked, failedInTerminal);
    const background = await page.locator('tr.check.fail').first().evaluate((row) => getComputedStyle(row).backgroundColor);
    assert.notEqual(background, 'rgba(0, 0, 0, 0)', 'a failed check stands out');

    const link = page.locator('tr.witness-row a.witness-link').first();
    const op = Number(await link.getAttribute('data-op'));
    const text = (await link.textContent())!;
    const requestId = /request (\S+):/.exec(text)![1]!;
    await page.evaluate(() => window.scrollTo(0, 0));
    const before = await page.locator('#s0-timeline').boundingBox();
    assert.ok(before!.y > VIEWPORT.height, 'the timeline starts below the first screen');
    await link.click();
    const selected = await page.evaluate(() => (window as any).flashsaleReport.selected);
    assert.equal(selected.op, op);
    assert.ok(selected.text.includes(text), `the selected box shows the witness: ${selected.text}`);
    assert.match(await page.locator('#s0-selected').textContent() ?? '', new RegExp(requestId));
    // The scale as drawn, a frame later (uPlot commits a new scale asynchronously).
    const shown = await page.evaluate(() => new Promise<{ min: number; max: number }>((resolve) => requestAnimationFrame(() => resolve((window as any).flashsaleReport.timelineX(0)))));
    assert.ok(shown.min <= selected.invoke && selected.complete <= shown.max, `the operation is in view: ${JSON.stringify({ shown, selected })}`);
    // The padding stops at the run's ends (it used to show negative "ms since the first request").
    assert.ok(shown.min >= Math.min(0, selected.invoke) - 1e-9, `the view starts no earlier than the run: ${JSON.stringify({ shown, selected })}`);
    assert.ok(shown.max <= Math.max(selected.durationMs, selected.complete) + 1e-9, `the view ends no later than the run: ${JSON.stringify({ shown, selected })}`);
    // Zoomed so that the operation fills half the view (a very short one, a sliver of the run).
    const span = selected.complete - selected.invoke;
    assert.ok(shown.max - shown.min <= 2 * span + 0.004 * selected.durationMs + 0.02 + 1e-9, `the timeline zoomed onto it: ${JSON.stringify({ shown, selected })}`);
    await page.waitForFunction(() => {
      const box = document.getElementById('s0-timeline')!.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= window.innerHeight;
    });
    assert.equal(await page.locator('a.witness-link.active').first().textContent(), text);
    const screenshot = join(dir, 'failing-run.png');
    await page.screenshot({ path: screenshot });
    t.diagnostic(`rendered in ${await page.evaluate(() => (window as any).flashsaleReport.renderMs)} ms; screenshot ${screenshot}`);
    await page.close();
  });
});
