// The reservation SQL that every database speaks alike, with `?`
// placeholders (postgres.ts numbers them). What differs between databases —
// the rate-limit upsert — lives in each database's file beside this one.

const RESERVATION_COLUMNS =
  'reservation_id, sku, buyer_id, quantity, request_id, state, stock_after, created_at_ms, expires_at_ms, settled_at_ms';
const EVENT_COLUMNS = 'id, reservation_id, sku, kind, quantity, stock_after, request_id, at_ms';

/** Statement texts of the reservation tables, keyed by what they do. */
export interface ReservationStatements {
  insertReservation: string;
  insertEvent: string;
  findReservation: string;
  findReservationByRequest: string;
  findEventByRequest: string;
  dueHolds: string;
  skusWithDueHolds: string;
  settle: string;
  forceState: string;
  totals: string;
  reservations: string;
  events: string;
  /** Counts a hit; returns the window's `hits` when the database can say so in the same statement. */
  countHit: string;
  /** Reads the window's `hits` back, for databases whose upsert cannot return it. */
  readHits?: string;
  forgetHits: string;
  deleteReservations: string;
  deleteEvents: string;
}

export const PORTABLE_STATEMENTS: Omit<ReservationStatements, 'countHit' | 'readHits'> = {
  insertReservation: `INSERT INTO reservations (${RESERVATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'held', ?, ?, ?, NULL)`,
  insertEvent: 'INSERT INTO reservation_events (reservation_id, sku, kind, quantity, stock_after, request_id, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
  findReservation: `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE reservation_id = ?`,
  findReservationByRequest: `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE request_id = ?`,
  findEventByRequest: `SELECT ${EVENT_COLUMNS} FROM reservation_events WHERE request_id = ?`,
  dueHolds: `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE sku = ? AND state = 'held' AND expires_at_ms <= ? ORDER BY id`,
  skusWithDueHolds: "SELECT DISTINCT sku FROM reservations WHERE state = 'held' AND expires_at_ms <= ?",
  // The `state = 'held'` condition is the whole guard against settling twice.
  settle: "UPDATE reservations SET state = ?, settled_at_ms = ? WHERE reservation_id = ? AND state = 'held'",
  forceState: 'UPDATE reservations SET state = ?, settled_at_ms = ? WHERE reservation_id = ?',
  totals: `SELECT COALESCE(SUM(CASE WHEN state = 'held' THEN quantity ELSE 0 END), 0) AS held,
                  COALESCE(SUM(CASE WHEN state = 'confirmed' THEN quantity ELSE 0 END), 0) AS confirmed
           FROM reservations WHERE sku = ?`,
  reservations: `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE sku = ? ORDER BY id`,
  events: `SELECT ${EVENT_COLUMNS} FROM reservation_events WHERE sku = ? ORDER BY id`,
  forgetHits: 'DELETE FROM rate_limit_hits WHERE window_start_ms < ?',
  deleteReservations: 'DELETE FROM reservations WHERE sku = ?',
  deleteEvents: 'DELETE FROM reservation_events WHERE sku = ?',
};
