// The reservation tables on PostgreSQL (docs/reservations.md "Schema"), run by
// adapters/postgres.ts migrate() under the same advisory lock as the purchase tables.
export const POSTGRES_RESERVATION_SCHEMA = `
CREATE TABLE IF NOT EXISTS reservations (
  id             BIGSERIAL PRIMARY KEY,
  reservation_id TEXT      NOT NULL UNIQUE,
  sku            TEXT      NOT NULL,
  buyer_id       TEXT      NOT NULL,
  quantity       INTEGER   NOT NULL CHECK (quantity > 0),
  request_id     TEXT      NOT NULL UNIQUE,
  state          TEXT      NOT NULL CHECK (state IN ('held', 'confirmed', 'cancelled', 'expired')),
  stock_after    INTEGER   NOT NULL,
  created_at_ms  BIGINT    NOT NULL,
  expires_at_ms  BIGINT    NOT NULL,
  settled_at_ms  BIGINT
);
CREATE INDEX IF NOT EXISTS reservations_due ON reservations (state, expires_at_ms);
CREATE INDEX IF NOT EXISTS reservations_item_due ON reservations (sku, state, expires_at_ms);
CREATE TABLE IF NOT EXISTS reservation_events (
  id             BIGSERIAL PRIMARY KEY,
  reservation_id TEXT      NOT NULL,
  sku            TEXT      NOT NULL,
  kind           TEXT      NOT NULL CHECK (kind IN ('hold', 'confirm', 'cancel', 'expire')),
  quantity       INTEGER   NOT NULL,
  stock_after    INTEGER   NOT NULL,
  request_id     TEXT      UNIQUE,
  at_ms          BIGINT    NOT NULL
);
CREATE INDEX IF NOT EXISTS reservation_events_reservation ON reservation_events (reservation_id);
CREATE INDEX IF NOT EXISTS reservation_events_sku ON reservation_events (sku);
CREATE TABLE IF NOT EXISTS rate_limit_hits (
  buyer_id        TEXT    NOT NULL,
  window_start_ms BIGINT  NOT NULL,
  hits            INTEGER NOT NULL,
  PRIMARY KEY (buyer_id, window_start_ms)
);
`;
