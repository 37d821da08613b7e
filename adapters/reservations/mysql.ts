import { PORTABLE_STATEMENTS, type ReservationStatements } from './statements.js';

/**
 * The reservation SQL on MySQL/MariaDB. Its upsert cannot return the new
 * count, so the count is read back in the same transaction: the upsert holds
 * the window row's exclusive lock until commit, so the read sees exactly the
 * count this hit made.
 */
export const MYSQL_STATEMENTS: ReservationStatements = {
  ...PORTABLE_STATEMENTS,
  countHit: `INSERT INTO rate_limit_hits (buyer_id, window_start_ms, hits) VALUES (?, ?, 1)
             ON DUPLICATE KEY UPDATE hits = hits + 1`,
  readHits: 'SELECT hits FROM rate_limit_hits WHERE buyer_id = ? AND window_start_ms = ?',
};
