// The reservation tables on MySQL/MariaDB (docs/reservations.md "Schema"),
// run by adapters/mysql.ts migrate() under the same named lock as the
// purchase tables, with the same exact (binary NO PAD) collation, so that ids
// and skus compare byte for byte as on the other databases. A UNIQUE column
// may hold many NULLs, as `reservation_events.request_id` needs.
export const mysqlReservationSchema = (collation: string): string[] => [
  `CREATE TABLE IF NOT EXISTS reservations (
     id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
     reservation_id VARCHAR(64)  NOT NULL,
     sku            VARCHAR(64)  NOT NULL,
     buyer_id       VARCHAR(255) NOT NULL,
     quantity       INT          NOT NULL,
     request_id     VARCHAR(255) NOT NULL,
     state          VARCHAR(16)  NOT NULL,
     stock_after    INT          NOT NULL,
     created_at_ms  BIGINT       NOT NULL,
     expires_at_ms  BIGINT       NOT NULL,
     settled_at_ms  BIGINT       NULL,
     CONSTRAINT reservations_quantity_positive CHECK (quantity > 0),
     CONSTRAINT reservations_state_known CHECK (state IN ('held', 'confirmed', 'cancelled', 'expired')),
     UNIQUE KEY reservations_reservation_id (reservation_id),
     UNIQUE KEY reservations_request_id (request_id),
     KEY reservations_due (state, expires_at_ms),
     KEY reservations_item_due (sku, state, expires_at_ms)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
  `CREATE TABLE IF NOT EXISTS reservation_events (
     id             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
     reservation_id VARCHAR(64)  NOT NULL,
     sku            VARCHAR(64)  NOT NULL,
     kind           VARCHAR(16)  NOT NULL,
     quantity       INT          NOT NULL,
     stock_after    INT          NOT NULL,
     request_id     VARCHAR(255) NULL,
     at_ms          BIGINT       NOT NULL,
     CONSTRAINT reservation_events_kind_known CHECK (kind IN ('hold', 'confirm', 'cancel', 'expire')),
     UNIQUE KEY reservation_events_request_id (request_id),
     KEY reservation_events_reservation (reservation_id),
     KEY reservation_events_sku (sku)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
  `CREATE TABLE IF NOT EXISTS rate_limit_hits (
     buyer_id        VARCHAR(255) NOT NULL,
     window_start_ms BIGINT       NOT NULL,
     hits            INT          NOT NULL,
     PRIMARY KEY (buyer_id, window_start_ms)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
];
