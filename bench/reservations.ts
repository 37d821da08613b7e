// The reservation row of the bench (issue 12): reserve + confirm flows per
// second, and their p95, through HTTP against the reference server on
// SQLite in its own process. Each flow is one buyer: POST /reserve, then
// POST /confirm of the hold it got; `concurrency` flows in flight, one unit
// of stock per flow, bounded in count (`flows`) and in time (`deadlineMs`).
//
//   node dist/bench/reservations.js            5,000 flows at 64 in flight
//   node dist/bench/reservations.js --reduced  1,000 flows (a quick look)
//
// A benchmark, not a test: it prints figures and a JSON line, and exits 1
// only when it could not measure (server down, a flow neither confirmed nor
// refused).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { openAdapter } from '../adapters/open.js';
import { readInventory } from '../adapters/store.js';
import { startServer } from '../reference-server/launcher.js';

export interface ReservationBenchOptions {
  /** Flows (buyers) to run; the item has exactly this many units. */
  flows: number;
  /** Flows in flight at once. */
  concurrency: number;
  /** Stops starting new flows after this long. */
  deadlineMs: number;
  scratchDir: string;
}

export interface ReservationFigures {
  database: 'sqlite';
  flows: number;
  concurrency: number;
  /** Reserve + confirm pairs confirmed per second. */
  flows_per_second: number;
  /** Latency of one whole flow (reserve sent → confirm answered), ms. */
  flow_latency_ms: { p50: number; p95: number; max: number };
  confirmed: number;
  /** Flows whose reserve or confirm was not the expected 201 / 200. */
  errors: number;
  duration_s: number;
  /** Units confirmed as the database counts them: must equal `confirmed`. */
  database_confirmed: number;
  partial: boolean;
}

export const DEFAULT_RESERVATION_FLOWS = 5000;
export const REDUCED_RESERVATION_FLOWS = 1000;

/** Runs the flows against a fresh `serve` on a temporary SQLite file and measures them. */
export async function measureReservations(options: ReservationBenchOptions): Promise<ReservationFigures> {
  const url = `sqlite:${join(options.scratchDir, 'reservations.db')}`;
  const sku = 'R';
  const server = await startServer({
    url,
    host: '127.0.0.1',
    port: 0,
    sku,
    itemName: 'reservation bench',
    stock: options.flows,
    workers: 1,
    // Its own process, so the load's event loop is not the server's.
    separateProcess: true,
    strategy: 'lock',
    reservationTtlMs: 300_000,
  });
  const pool = new Pool(server.url, { connections: options.concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  let partial = false;
  const started = performance.now();
  const deadline = started + options.deadlineMs;
  const call = async (path: string, body: unknown) => {
    const response = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await response.body.text();
    return { status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> };
  };
  const flow = async (i: number) => {
    const begun = performance.now();
    const held = await call('/reserve', { sku, buyer_id: `b-${i}` });
    if (held.status !== 201) return void errors++;
    const confirmed = await call('/confirm', { reservation_id: held.body.reservation_id, buyer_id: `b-${i}` });
    if (confirmed.status !== 200) return void errors++;
    latencies.push(performance.now() - begun);
  };
  const worker = async () => {
    while (next < options.flows) {
      if (performance.now() > deadline) {
        partial = true;
        return;
      }
      await flow(next++).catch(() => errors++);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    await pool.close();
    await server.stop();
  }
  const durationS = (performance.now() - started) / 1000;
  const adapter = await openAdapter({ url });
  const databaseConfirmed = await readInventory(adapter, sku).then((inventory) => inventory.confirmed).finally(() => adapter.close());
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    database: 'sqlite',
    flows: options.flows,
    concurrency: options.concurrency,
    flows_per_second: round(latencies.length / durationS),
    flow_latency_ms: { p50: at(0.5), p95: at(0.95), max: round(latencies.at(-1) ?? 0) },
    confirmed: latencies.length,
    errors,
    duration_s: round(durationS),
    database_confirmed: databaseConfirmed,
    partial,
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** One line for people. */
export function describeReservations(figures: ReservationFigures): string {
  const { p50, p95 } = figures.flow_latency_ms;
  return `${figures.flows_per_second.toLocaleString('en-US')} reserve+confirm/s at ${figures.concurrency} in flight (p50 ${p50} ms, p95 ${p95} ms per flow), ${figures.confirmed} of ${figures.flows} confirmed, ${figures.errors} errors${figures.partial ? ', stopped at the deadline' : ''}`;
}

async function main(): Promise<void> {
  const reduced = process.argv.includes('--reduced');
  const scratchDir = await mkdtemp(join(tmpdir(), 'flashsale-bench-reservations-'));
  try {
    const figures = await measureReservations({
      flows: reduced ? REDUCED_RESERVATION_FLOWS : DEFAULT_RESERVATION_FLOWS,
      concurrency: 64,
      deadlineMs: 60_000,
      scratchDir,
    });
    process.stdout.write(`reservations, SQLite: ${describeReservations(figures)}\n`);
    process.stdout.write(`${JSON.stringify({ bench: 'reservations', ...figures })}\n`);
    if (figures.errors > 0 || figures.database_confirmed !== figures.confirmed) process.exitCode = 1;
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
