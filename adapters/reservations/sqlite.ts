import { PORTABLE_STATEMENTS, type ReservationStatements } from './statements.js';

/** The reservation SQL on SQLite: the portable statements and an upsert that returns the count. */
export const SQLITE_STATEMENTS: ReservationStatements = {
  ...PORTABLE_STATEMENTS,
  countHit: `INSERT INTO rate_limit_hits (buyer_id, window_start_ms, hits) VALUES (?, ?, 1)
             ON CONFLICT (buyer_id, window_start_ms) DO UPDATE SET hits = hits + 1 RETURNING hits`,
};
