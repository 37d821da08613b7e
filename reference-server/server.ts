import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Adapter } from '../adapters/adapter.js';
import { maskUrlsIn } from '../adapters/url.js';
import { admitted, type AdmissionGate } from './admission.js';
import { purchase, type StrategyName } from '../adapters/strategies/index.js';
import { readInventory, resetStock } from '../adapters/store.js';
import {
  ClientGoneError,
  ConnectionLostError,
  DatabaseUnreachableError,
  FlashsaleError,
  LockTimeoutError,
  MethodNotAllowedError,
  OverloadedError,
  RouteNotFoundError,
} from '../src/errors.js';
import { authorizeAdmin, refuseCrossSite } from './admin-guard.js';
import { readJsonBody, requireJsonContentType } from './request-body.js';
import { idempotencyKeyHeader, parseIdempotencyKey, parsePurchaseBody, parseResetBody } from './validation.js';
import { reservationRoutes, type ReservationOptions } from './reservation-routes.js';
import { ServerMetrics } from './metrics.js';

/** What one server process needs to answer requests. */
export interface ReferenceServerOptions {
  adapter: Adapter;
  strategy: StrategyName;
  /** Item bought when a request names none. */
  defaultSku: string;
  /** Lets `POST /reset` through from other hosts than loopback when presented as a bearer token. */
  adminToken?: string | undefined;
  /** Bounds the connections lent and the requests waiting for one; without it, none are refused. */
  admission?: AdmissionGate | undefined;
  /** Hold time and rate limit of the reservation routes; default: 300 s, no limit. */
  reservations?: ReservationOptions | undefined;
  /** This process's `GET /metrics` figures; made here, counting this process alone, unless given (a cluster worker's join the primary's totals). */
  metrics?: ServerMetrics | undefined;
}

export type Handler = (request: IncomingMessage, response: ServerResponse, parameter: string | undefined) => Promise<void>;

export interface Route {
  /** Path, or path prefix when `takesParameter` (the rest is the parameter). */
  path: string;
  takesParameter?: boolean;
  /** The parameter's name in the `GET /` index; `sku` unless given. */
  parameter?: string;
  /** Counted in `flashsale_purchases_total` by outcome. */
  purchase?: boolean;
  methods: Record<string, Handler>;
  /** One line for the `GET /` index. */
  description?: string;
}

/** Seconds a client is told to wait after a 503, before retrying. */
const RETRY_AFTER_SECONDS = 1;

/**
 * The reference HTTP server: `POST /buy` (and `/buy_ticket`), inventory,
 * reset and health, as DESIGN.md specifies. It keeps no state of its own;
 * every answer comes from the database, so any number of these processes
 * can share one database.
 */
export function createReferenceServer(options: ReferenceServerOptions): Server {
  const { strategy, defaultSku, adminToken, admission } = options;
  // Every connection this server uses is lent through the admission gate.
  const adapter = admission ? admitted(options.adapter, admission) : options.adapter;
  const metrics = options.metrics ?? new ServerMetrics({ adapter: options.adapter, sku: defaultSku, admission });

  const buy: Handler = async (request, response) => {
    admission?.refuseIfFull();
    const requestId = parseIdempotencyKey(idempotencyKeyHeader(request)) ?? randomUUID();
    const fields = parsePurchaseBody(await readJsonBody(request), defaultSku);
    const outcome = await purchase(adapter, strategy, { ...fields, requestId });
    if (outcome.kind === 'bought') {
      const headers: Record<string, string> = outcome.replayed ? { 'idempotent-replayed': 'true' } : {};
      sendJson(response, 200, {
        success: true,
        purchase_id: outcome.purchaseId,
        remaining_stock: outcome.remaining,
        request_id: outcome.requestId,
      }, headers);
    } else {
      sendJson(response, 410, { success: false, error: 'sold_out', remaining_stock: outcome.remaining, request_id: requestId });
    }
  };

  const inventory: Handler = async (_request, response, sku) => {
    sendJson(response, 200, await readInventory(adapter, sku || defaultSku));
  };

  const reset: Handler = async (request, response) => {
    const viaToken = authorizeAdmin(request, adminToken);
    refuseCrossSite(request, viaToken);
    requireJsonContentType(request);
    const fields = parseResetBody(await readJsonBody(request), defaultSku);
    const { after } = await resetStock(adapter, fields.sku, fields.stock);
    sendJson(response, 200, { success: true, ...after });
  };

  const health: Handler = async (_request, response) => {
    sendJson(response, 200, { status: 'ok', database: adapter.dialect, strategy });
  };

  // The index is built from the route table itself, so it cannot drift.
  const index: Handler = async (_request, response) => {
    sendJson(response, 200, {
      name: 'flashsale reference server',
      database: adapter.dialect,
      strategy,
      default_sku: defaultSku,
      routes: routes.map((route) => ({
        path: route.takesParameter ? `${route.path}:${route.parameter ?? 'sku'}` : route.path,
        methods: Object.keys(route.methods),
        description: route.description ?? '',
      })),
    });
  };

  const routes: Route[] = [
    { path: '/', methods: { GET: index, HEAD: index }, description: 'this index of the API' },
    { path: '/buy', purchase: true, methods: { POST: buy }, description: 'buy: JSON {buyer_id, sku, quantity}, all optional; header Idempotency-Key' },
    { path: '/buy_ticket', purchase: true, methods: { POST: buy }, description: 'alias of POST /buy' },
    { path: '/inventory', methods: { GET: inventory, HEAD: inventory }, description: 'stock and sales of the default item' },
    { path: '/inventory/', takesParameter: true, methods: { GET: inventory, HEAD: inventory }, description: 'stock and sales of one item' },
    {
      path: '/reset',
      methods: { POST: reset },
      description: 'restore stock, empty the ledger: JSON {stock, sku}, optional; loopback or Bearer admin token; no cross-site',
    },
    { path: '/health', methods: { GET: health, HEAD: health }, description: 'liveness: database and strategy' },
    { path: '/metrics', methods: { GET: metrics.handler }, description: 'Prometheus text format: purchases, request durations, stock, pool; totals over all workers' },
  ];

  const sockets = openSocketBudget();
  const server = createServer((request, response) => {
    // Near the process's file-descriptor limit every answer closes its
    // connection, so idle kept-alive sockets of buyers already answered make
    // room for those still connecting instead of starving them (EMFILE).
    if (sockets.crowded()) response.shouldKeepAlive = false;
    void answer(routes, request, response, metrics);
  });
  server.on('connection', sockets.track);
  routes.push(...reservationRoutes(server, { ...options, adapter }));
  return server;
}

/**
 * Counts this server's open sockets against the process's open-files limit
 * (Linux /proc/self/limits), keeping a reserve for database connections,
 * files and the pipes of the runtime itself.
 */
function openSocketBudget(): { track(socket: Socket): void; crowded(): boolean } {
  let open = 0;
  let limit = Infinity;
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (soft) limit = Math.max(64, Number(soft) - 1024);
  } catch {
    // Not Linux: no budget, kept-alive as usual.
  }
  return {
    track(socket) {
      open++;
      socket.once('close', () => open--);
    },
    crowded: () => open >= limit,
  };
}

/** Answers one request, an error included, then counts it in the metrics (one histogram observe). */
async function answer(routes: Route[], request: IncomingMessage, response: ServerResponse, metrics: ServerMetrics): Promise<void> {
  const startedAt = performance.now();
  const path = (request.url ?? '/').split('?')[0]!;
  const route = matchRoute(routes, path);
  try {
    await dispatch(route, path, request, response);
  } catch (error) {
    sendError(request, response, error);
  }
  metrics.answered(route, response, startedAt);
}

/** The route a path names (a plain loop: nothing allocated per request). */
function matchRoute(routes: Route[], path: string): Route | undefined {
  for (const route of routes) {
    if (route.takesParameter ? path.startsWith(route.path) && path.length > route.path.length : path === route.path) return route;
  }
  return undefined;
}

async function dispatch(route: Route | undefined, path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (!route) throw new RouteNotFoundError(`no route for ${request.method} ${path}`);
  const handler = route.methods[request.method ?? 'GET'];
  if (!handler) {
    const allow = Object.keys(route.methods);
    throw new MethodNotAllowedError(`${request.method} ${path} is not supported; use ${allow.join(' or ')}`, allow);
  }
  const parameter = route.takesParameter ? decodeParameter(path.slice(route.path.length)) : undefined;
  return handler(request, response, parameter);
}

function decodeParameter(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new RouteNotFoundError(`malformed path segment ${JSON.stringify(raw)}`);
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  // A server that has stopped listening (SIGTERM) only finishes what is in
  // flight: tell the client not to reuse this connection. Otherwise its next
  // request lands on a socket we are about to close and is cut unanswered (an
  // unknown outcome) instead of being refused at connect (surely not sent).
  const socket = response.socket as (Socket & { server?: { listening: boolean } }) | null;
  if (socket?.server && !socket.server.listening) response.shouldKeepAlive = false;
  // Set, not merged into writeHead's object: /metrics reads them back after
  // the answer (Retry-After makes a 503 a refusal, Idempotent-Replayed a replay).
  for (const name in headers) response.setHeader(name, headers[name]!);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload);
}

function sendError(request: IncomingMessage, response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  // The buyer hung up mid-body: there is nobody to answer. One line, since
  // under load this can happen thousands of times.
  if (error instanceof ClientGoneError) {
    process.stderr.write(`flashsale serve: ${request.method} ${request.url}: ${error.message}\n`);
    request.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  if (error instanceof MethodNotAllowedError) headers.allow = error.allow.join(', ');
  // "Not now, nothing was sold, try again." CommitUnknownError is a 503 too,
  // but deliberately without Retry-After: its sale may have happened.
  if (
    error instanceof LockTimeoutError ||
    error instanceof DatabaseUnreachableError ||
    error instanceof ConnectionLostError ||
    error instanceof OverloadedError
  ) {
    headers['retry-after'] = String(RETRY_AFTER_SECONDS);
  }
  // Shedding load sheds the connection too: under a stampede each idle
  // kept-alive socket of a refused buyer would hold a file descriptor and
  // buffers while others still queue in the kernel's accept backlog.
  if (error instanceof OverloadedError) headers.connection = 'close';
  // An unread body (too large, or refused before reading) must not be parsed
  // as the next request on a kept-alive connection.
  if (!request.complete) {
    headers.connection = 'close';
    response.on('finish', () => request.destroy());
  }
  if (error instanceof FlashsaleError) {
    sendJson(response, error.httpStatus, { success: false, error: error.httpError, code: error.code, message: error.message }, headers);
    return;
  }
  // A bug or an unforeseen driver error: the buyer learns only that the
  // outcome is unknown; the operator gets one line on stderr.
  process.stderr.write(`flashsale serve: ${request.method} ${request.url}: ${maskUrlsIn((error as Error)?.stack ?? String(error))}\n`);
  sendJson(response, 500, { success: false, error: 'internal_error', code: 'FS_INTERNAL', message: 'internal error' }, headers);
}
