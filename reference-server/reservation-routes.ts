// The reservation flow's HTTP routes (docs/reservations.md "HTTP API"):
// POST /reserve, /confirm, /cancel and GET /reservations/:id, registered in
// server.ts beside /buy, plus the sweeper that runs while the server listens.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Adapter } from '../adapters/adapter.js';
import type { ReservationRow } from '../adapters/reservations/contract.js';
import { UnknownReservationError, RateLimitedError } from '../adapters/reservations/errors.js';
import { reservationFlow, type Settled } from '../adapters/reservations/index.js';
import type { StrategyName } from '../adapters/strategies/index.js';
import { FlashsaleError } from '../src/errors.js';
import type { AdmissionGate } from './admission.js';
import { enforceRateLimit } from './rate-limit.js';
import { readJsonBody } from './request-body.js';
import { sendJson, type Route } from './server.js';
import { startSweeper, sweepIntervalMs } from './sweeper.js';
import { idempotencyKeyHeader, parseIdempotencyKey, parseReservationId, parseReserveBody, parseSettleBody } from './validation.js';

/** How holds behave on this server (`serve --reservation-ttl`, `--rate-limit`). */
export interface ReservationOptions {
  /** How long a hold lasts, in ms. */
  ttlMs: number;
  /** Reserve requests a buyer may make per minute; undefined = no limit. */
  rateLimitPerMinute?: number | undefined;
}

/** `--reservation-ttl`'s default: five minutes, as checkout holds usually last. */
export const DEFAULT_RESERVATION_TTL_MS = 300_000;

/** What the routes need from the server that registers them. */
export interface ReservationRouteContext {
  /** The (admission-gated) adapter every request uses. */
  adapter: Adapter;
  strategy: StrategyName;
  defaultSku: string;
  admission?: AdmissionGate | undefined;
  reservations?: ReservationOptions | undefined;
}

/**
 * The reservation routes, and a sweeper tied to `server`'s life: it starts
 * when the server listens and stops when it closes, so every server process
 * (each `--workers` process too) sweeps.
 */
export function reservationRoutes(server: Server, context: ReservationRouteContext): Route[] {
  const { adapter, strategy, defaultSku, admission } = context;
  const { ttlMs, rateLimitPerMinute } = context.reservations ?? { ttlMs: DEFAULT_RESERVATION_TTL_MS };
  const flow = reservationFlow(adapter, strategy);

  server.once('listening', () => {
    const sweeper = startSweeper(adapter, flow, sweepIntervalMs(ttlMs));
    server.once('close', () => void sweeper.stop());
  });

  const reserve = async (request: IncomingMessage, response: ServerResponse) => {
    admission?.refuseIfFull();
    const requestId = parseIdempotencyKey(idempotencyKeyHeader(request)) ?? randomUUID();
    const fields = parseReserveBody(await readJsonBody(request), defaultSku);
    await answering(response, requestId, async () => {
      if (rateLimitPerMinute !== undefined) await enforceRateLimit(adapter, flow.store, fields.buyerId, rateLimitPerMinute, Date.now());
      const outcome = await flow.reserve({ ...fields, requestId, ttlMs });
      if (outcome.kind === 'sold_out') {
        sendJson(response, 409, { success: false, error: 'sold_out', remaining_stock: outcome.remaining, request_id: requestId });
        return;
      }
      const held = outcome.reservation;
      sendJson(
        response,
        201,
        {
          success: true,
          reservation_id: held.reservationId,
          sku: held.sku,
          quantity: held.quantity,
          expires_at: new Date(held.expiresAtMs).toISOString(),
          ttl_seconds: (held.expiresAtMs - held.createdAtMs) / 1000,
          remaining_stock: held.stockAfter,
          request_id: held.requestId,
        },
        replayHeader(outcome.replayed),
      );
    });
  };

  const settle = (step: 'confirm' | 'cancel') => async (request: IncomingMessage, response: ServerResponse) => {
    admission?.refuseIfFull();
    const requestId = parseIdempotencyKey(idempotencyKeyHeader(request)) ?? randomUUID();
    const fields = parseSettleBody(await readJsonBody(request));
    await answering(response, requestId, async () => {
      const settled = await flow[step]({ ...fields, requestId });
      sendJson(response, 200, step === 'confirm' ? confirmed(settled, requestId) : cancelled(settled, requestId), replayHeader(settled.replayed));
    });
  };

  const show = async (_request: IncomingMessage, response: ServerResponse, parameter: string | undefined) => {
    const reservationId = parseReservationId(parameter);
    const found = await flow.find(reservationId);
    if (!found) throw new UnknownReservationError(`unknown reservation ${JSON.stringify(reservationId)}`);
    sendJson(response, 200, describe(found));
  };

  return [
    { path: '/reserve', methods: { POST: reserve }, description: `hold units: JSON {buyer_id, sku, quantity}, all optional; header Idempotency-Key; 201 until confirmed, cancelled or expired (ttl ${ttlMs / 1000} s)` },
    { path: '/confirm', methods: { POST: settle('confirm') }, description: 'confirm a hold: JSON {reservation_id, buyer_id?}; header Idempotency-Key' },
    { path: '/cancel', methods: { POST: settle('cancel') }, description: 'cancel a hold, its units back on sale: JSON {reservation_id, buyer_id?}; header Idempotency-Key' },
    { path: '/reservations/', takesParameter: true, parameter: 'id', methods: { GET: show, HEAD: show }, description: 'one reservation: state, quantity, times' },
  ];
}

/**
 * Runs one step and answers its refusals (unknown, foreign, expired, already
 * settled, rate limited…) with the request id, as every reservation answer
 * carries one; 429 also says when to retry. Anything else goes on to the
 * server's error answer.
 */
async function answering(response: ServerResponse, requestId: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    if (!(error instanceof FlashsaleError) || error.httpStatus >= 500) throw error;
    const headers: Record<string, string> = error instanceof RateLimitedError ? { 'retry-after': String(error.retryAfterSeconds) } : {};
    sendJson(response, error.httpStatus, { success: false, error: error.httpError, code: error.code, message: error.message, request_id: requestId }, headers);
  }
}

function replayHeader(replayed: boolean): Record<string, string> {
  return replayed ? { 'idempotent-replayed': 'true' } : {};
}

function confirmed({ reservation }: Settled, requestId: string) {
  return { success: true, reservation_id: reservation.reservationId, sku: reservation.sku, quantity: reservation.quantity, state: 'confirmed', request_id: requestId };
}

function cancelled({ reservation, event }: Settled, requestId: string) {
  return {
    success: true,
    reservation_id: reservation.reservationId,
    state: 'cancelled',
    quantity: reservation.quantity,
    remaining_stock: event.stockAfter,
    request_id: requestId,
  };
}

/** A reservation as `GET /reservations/:id` shows it. */
function describe(row: ReservationRow) {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    reservation_id: row.reservationId,
    sku: row.sku,
    buyer_id: row.buyerId,
    quantity: row.quantity,
    state: row.state,
    expires_at: iso(row.expiresAtMs),
    created_at: iso(row.createdAtMs),
    settled_at: iso(row.settledAtMs),
  };
}
