import { PORTABLE_STATEMENTS, type ReservationStatements } from './statements.js';

/** `?` placeholders as PostgreSQL's `$1, $2, …` (no statement here has a `?` inside a literal). */
function numbered(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

const statements: ReservationStatements = {
  ...PORTABLE_STATEMENTS,
  countHit: `INSERT INTO rate_limit_hits (buyer_id, window_start_ms, hits) VALUES (?, ?, 1)
             ON CONFLICT (buyer_id, window_start_ms) DO UPDATE SET hits = rate_limit_hits.hits + 1 RETURNING hits`,
};

/** The reservation SQL on PostgreSQL: numbered placeholders, and an upsert that returns the count. */
export const POSTGRES_STATEMENTS = Object.fromEntries(
  Object.entries(statements).map(([name, sql]) => [name, numbered(sql)]),
) as unknown as ReservationStatements;
