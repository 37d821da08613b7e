import type { DialectName, Session } from '../adapter.js';
import {
  rawQuery,
  type ReservationEventKind,
  type ReservationEventRow,
  type ReservationRow,
  type ReservationState,
  type ReservationStore,
} from './contract.js';
import { MYSQL_STATEMENTS } from './mysql.js';
import { POSTGRES_STATEMENTS } from './postgres.js';
import { SQLITE_STATEMENTS } from './sqlite.js';
import type { ReservationStatements } from './statements.js';

const STATEMENTS: Record<DialectName, ReservationStatements> = {
  sqlite: SQLITE_STATEMENTS,
  postgres: POSTGRES_STATEMENTS,
  mysql: MYSQL_STATEMENTS,
};

/** The reservation store of one database, written once over its statement texts. */
export function reservationStore(dialect: DialectName): ReservationStore {
  return sqlReservationStore(STATEMENTS[dialect]);
}

// BIGINT columns and SUMs arrive as strings from pg (and SUMs as DECIMAL
// strings from MySQL); every number is normalised here, once.
const number = (value: unknown): number => Number(value);

function toReservation(row: Record<string, unknown>): ReservationRow {
  return {
    reservationId: String(row.reservation_id),
    sku: String(row.sku),
    buyerId: String(row.buyer_id),
    quantity: number(row.quantity),
    requestId: String(row.request_id),
    state: String(row.state) as ReservationState,
    stockAfter: number(row.stock_after),
    createdAtMs: number(row.created_at_ms),
    expiresAtMs: number(row.expires_at_ms),
    settledAtMs: row.settled_at_ms === null || row.settled_at_ms === undefined ? undefined : number(row.settled_at_ms),
  };
}

function toEvent(row: Record<string, unknown>): ReservationEventRow {
  return {
    id: number(row.id),
    reservationId: String(row.reservation_id),
    sku: String(row.sku),
    kind: String(row.kind) as ReservationEventKind,
    quantity: number(row.quantity),
    stockAfter: number(row.stock_after),
    requestId: row.request_id === null || row.request_id === undefined ? undefined : String(row.request_id),
    atMs: number(row.at_ms),
  };
}

function sqlReservationStore(sql: ReservationStatements): ReservationStore {
  const rows = async (session: Session, text: string, params: unknown[]) => (await rawQuery(session)(text, params)).rows;
  const changes = async (session: Session, text: string, params: unknown[]) => (await rawQuery(session)(text, params)).changes;
  return {
    async insertReservation(session, r) {
      await changes(session, sql.insertReservation, [r.reservationId, r.sku, r.buyerId, r.quantity, r.requestId, r.stockAfter, r.createdAtMs, r.expiresAtMs]);
    },
    async insertEvent(session, e) {
      await changes(session, sql.insertEvent, [e.reservationId, e.sku, e.kind, e.quantity, e.stockAfter, e.requestId ?? null, e.atMs]);
    },
    async findReservation(session, reservationId) {
      const [row] = await rows(session, sql.findReservation, [reservationId]);
      return row && toReservation(row);
    },
    async findReservationByRequest(session, requestId) {
      const [row] = await rows(session, sql.findReservationByRequest, [requestId]);
      return row && toReservation(row);
    },
    async findEventByRequest(session, requestId) {
      const [row] = await rows(session, sql.findEventByRequest, [requestId]);
      return row && toEvent(row);
    },
    async dueHolds(session, sku, nowMs) {
      return (await rows(session, sql.dueHolds, [sku, nowMs])).map(toReservation);
    },
    async skusWithDueHolds(session, nowMs) {
      return (await rows(session, sql.skusWithDueHolds, [nowMs])).map((row) => String(row.sku));
    },
    async settle(session, reservationId, state, atMs) {
      return (await changes(session, sql.settle, [state, atMs, reservationId])) === 1;
    },
    async forceState(session, reservationId, state, atMs) {
      await changes(session, sql.forceState, [state, atMs, reservationId]);
    },
    async totals(session, sku) {
      const [row] = await rows(session, sql.totals, [sku]);
      return { held: number(row?.held ?? 0), confirmed: number(row?.confirmed ?? 0) };
    },
    async reservations(session, sku) {
      return (await rows(session, sql.reservations, [sku])).map(toReservation);
    },
    async events(session, sku) {
      return (await rows(session, sql.events, [sku])).map(toEvent);
    },
    async countHit(session, buyerId, windowStartMs) {
      const [counted] = await rows(session, sql.countHit, [buyerId, windowStartMs]);
      if (counted) return number(counted.hits);
      const [read] = await rows(session, sql.readHits!, [buyerId, windowStartMs]);
      return number(read!.hits);
    },
    async forgetHits(session, beforeMs) {
      await changes(session, sql.forgetHits, [beforeMs]);
    },
    async resetItem(session, sku) {
      await changes(session, sql.deleteEvents, [sku]);
      await changes(session, sql.deleteReservations, [sku]);
    },
  };
}
