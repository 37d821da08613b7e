// The HTTP floor: what the server/limit ratio can reach at best on this
// machine. A node:http server in its own process reads each request's body
// and answers with a reference-shaped 200, touching no database, under the
// same load the throughput rows use (flashsale's attack, one buyer process,
// the same concurrency). Its rate is node:http's own cost per request; a
// purchase through the reference server pays that plus the database's, so
// when the two are alike the ratio cannot pass about 0.5.

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAttack } from '../src/attack/coordinator.js';
import { purchaseLoad } from './throughput.js';

export interface FloorFigures {
  concurrency: number;
  requests_per_second: number;
  latency_ms: { p50: number; p99: number } | null;
  /** Answers that were not the canned 200. */
  errors: number;
}

if (process.argv[2] === 'serve') serve();

/** The floor server: reads the body to its end, as the reference server does, then answers. */
function serve(): void {
  let sold = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      sold += 1;
      const body = `{"success":true,"purchase_id":${sold},"remaining_stock":1,"request_id":"r-${sold}"}`;
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send!((server.address() as AddressInfo).port));
  process.on('disconnect', () => {
    server.closeAllConnections();
    server.close();
  });
}

/** One floor measurement per concurrency, `requests` each, the server in its own process. */
export async function measureHttpFloor(concurrencies: number[], requests: number, scratchDir: string, attackProcesses: number): Promise<FloorFigures[]> {
  const server = fork(fileURLToPath(import.meta.url), ['serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const [port] = (await once(server, 'message')) as [number];
    const figures: FloorFigures[] = [];
    // The first pass only warms the server's JIT, as the throughput rows' warm-up does.
    for (const [k, concurrency] of [concurrencies[0] ?? 64, ...concurrencies].entries()) {
      const buyers = k === 0 ? Math.min(requests, 2000) : requests;
      const attack = startAttack(purchaseLoad(`http://127.0.0.1:${port}`, 'floor', buyers, concurrency, attackProcesses, join(scratchDir, `floor-${k}-${concurrency}.jsonl`)));
      // Bounded like every load loop: a stop after a minute, a kill after the grace.
      const soft = setTimeout(() => attack.stop(), 60_000);
      const hard = setTimeout(() => attack.stop(), 75_000);
      try {
        const summary = await attack.done;
        if (k === 0) continue;
        figures.push({
          concurrency,
          requests_per_second: summary.duration_s > 0 ? summary.outcomes.bought / summary.duration_s : 0,
          latency_ms: summary.latency_ms && { p50: summary.latency_ms.p50, p99: summary.latency_ms.p99 },
          errors: summary.completed - summary.outcomes.bought,
        });
      } finally {
        clearTimeout(soft);
        clearTimeout(hard);
      }
    }
    return figures;
  } finally {
    server.disconnect();
    await once(server, 'exit').catch(() => undefined);
  }
}
