import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A reservation API written from docs/reservations.md over an in-memory map,
 * for driving `attack --flow` without a database: "a foreign reservation API"
 * as far as flashsale knows. POST /reserve, /confirm, /cancel answer as the
 * contract says (201/409, 200/404/403/410/409), holds expire lazily on any
 * request, and a repeated Idempotency-Key gets the first answer again.
 *
 * `routes` renames the three routes (to test --reserve-path …), `idField`
 * moves the reservation id in the answer (to test --reservation-id-field and
 * `{{reserve.FIELD}}`), and `fault` makes a route misbehave: `500` answers
 * HTTP 500, `reset` destroys the connection without an answer, `429` and
 * `503` answer "not now" with a Retry-After header.
 */
export interface ReservationShopOptions {
  stock: number;
  /** Hold time in ms (default 60 s). */
  ttlMs?: number;
  routes?: { reserve?: string; confirm?: string; cancel?: string };
  /** Where the reserve's answer puts the reservation id, as a dotted path (default `reservation_id`). */
  idField?: string;
  fault?: { route: 'reserve' | 'confirm' | 'cancel'; kind: '500' | 'reset' | '429' | '503' };
}

/** One request as the shop received it, with the monotonic time its body was complete. */
export interface ShopRequest {
  route: 'reserve' | 'confirm' | 'cancel' | 'other';
  headers: IncomingHttpHeaders;
  body: string;
  /** hrtime (ns) when the whole request had arrived. */
  at: bigint;
}

export interface Hold {
  reservationId: string;
  buyerId: string | null;
  quantity: number;
  state: 'held' | 'confirmed' | 'cancelled' | 'expired';
  expiresAt: number;
}

export interface ReservationShop {
  /** Origin, e.g. http://127.0.0.1:41234. */
  url: string;
  /** Every request received, in order. */
  seen: ShopRequest[];
  holds: Map<string, Hold>;
  /** Units available now (after expiring due holds). */
  available(): number;
  /** Stops listening and cuts every connection at once, like a killed server. */
  close(): Promise<void>;
}

export async function startReservationShop(options: ReservationShopOptions): Promise<ReservationShop> {
  const ttlMs = options.ttlMs ?? 60_000;
  const routes = { reserve: '/reserve', confirm: '/confirm', cancel: '/cancel', ...options.routes };
  const idPath = (options.idField ?? 'reservation_id').split('.');
  const holds = new Map<string, Hold>();
  const replies = new Map<string, { status: number; body: unknown }>();
  const seen: ShopRequest[] = [];
  let stock = options.stock;

  const expireDue = () => {
    const now = Date.now();
    for (const hold of holds.values()) {
      if (hold.state === 'held' && now >= hold.expiresAt) {
        hold.state = 'expired';
        stock += hold.quantity;
      }
    }
  };

  const reserve = (input: Record<string, unknown>, key: string) => {
    const quantity = typeof input.quantity === 'number' ? input.quantity : 1;
    if (stock < quantity) return { status: 409, body: { success: false, error: 'sold_out', remaining_stock: stock } };
    stock -= quantity;
    const reservationId = `r_${randomBytes(12).toString('hex')}`;
    const hold: Hold = { reservationId, buyerId: typeof input.buyer_id === 'string' ? input.buyer_id : null, quantity, state: 'held', expiresAt: Date.now() + ttlMs };
    holds.set(reservationId, hold);
    const body: Record<string, unknown> = { success: true, sku: 'A', quantity, expires_at: new Date(hold.expiresAt).toISOString(), ttl_seconds: ttlMs / 1000, remaining_stock: stock, request_id: key };
    let into = body;
    for (const key of idPath.slice(0, -1)) into = (into[key] ??= {}) as Record<string, unknown>;
    into[idPath.at(-1)!] = reservationId;
    return { status: 201, body };
  };

  const settle = (route: 'confirm' | 'cancel', input: Record<string, unknown>, key: string) => {
    const hold = holds.get(String(input.reservation_id));
    if (!hold) return { status: 404, body: { success: false, error: 'unknown_reservation' } };
    if (input.buyer_id !== undefined && input.buyer_id !== hold.buyerId) return { status: 403, body: { success: false, error: 'foreign_reservation' } };
    if (hold.state === 'expired') return { status: 410, body: { success: false, error: 'reservation_expired' } };
    if (hold.state === 'confirmed') return { status: 409, body: { success: false, error: 'already_confirmed' } };
    if (hold.state === 'cancelled') return { status: 409, body: { success: false, error: route === 'confirm' ? 'reservation_cancelled' : 'already_cancelled' } };
    if (route === 'confirm') {
      hold.state = 'confirmed';
      return { status: 200, body: { success: true, reservation_id: hold.reservationId, sku: 'A', quantity: hold.quantity, state: 'confirmed', request_id: key } };
    }
    hold.state = 'cancelled';
    stock += hold.quantity;
    return { status: 200, body: { success: true, reservation_id: hold.reservationId, state: 'cancelled', quantity: hold.quantity, remaining_stock: stock, request_id: key } };
  };

  const server: Server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      const route = request.url === routes.reserve ? 'reserve' : request.url === routes.confirm ? 'confirm' : request.url === routes.cancel ? 'cancel' : 'other';
      seen.push({ route, headers: request.headers, body: text, at: process.hrtime.bigint() });
      if (options.fault?.route === route) {
        if (options.fault.kind === 'reset') return void request.socket.destroy();
        if (options.fault.kind === '500') return reply(response, 500, { error: 'internal_error' });
        return reply(response, Number(options.fault.kind), { error: 'rate_limited' }, { 'retry-after': '1' });
      }
      if (route === 'other' || request.method !== 'POST') return reply(response, 404, { error: 'not_found' });
      let input: Record<string, unknown>;
      try {
        input = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        return reply(response, 400, { error: 'invalid_json' });
      }
      const key = String(request.headers['idempotency-key'] ?? randomBytes(8).toString('hex'));
      const replayed = replies.get(`${route} ${key}`);
      if (replayed) return reply(response, replayed.status, replayed.body);
      expireDue();
      const answer = route === 'reserve' ? reserve(input, key) : settle(route, input, key);
      replies.set(`${route} ${key}`, answer);
      reply(response, answer.status, answer.body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    holds,
    available() {
      expireDue();
      return stock;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
