// One error hierarchy for the whole toolkit. Each class has a stable `code`
// (what scripts and tests match on) and says once how it maps to an HTTP
// status in the reference server and to an exit code in the CLI.

// Exit codes (DESIGN.md "Exit codes"): 0 all good.
/** A check failed: an anomaly was found. */
export const EXIT_ANOMALY = 1;
/** Usage, configuration or history-format error, with a one-line message. */
export const EXIT_USAGE = 2;
/** Inconclusive: no check failed, but one that applies could not run for lack of an input the user can give. */
export const EXIT_INCONCLUSIVE = 3;
/** `attack --threshold`: a threshold was crossed (k6's code), the history whole. */
export const EXIT_THRESHOLD_CROSSED = 99;

export abstract class FlashsaleError extends Error {
  /** Stable machine-readable code, e.g. `FS_BAD_INPUT`. */
  abstract readonly code: string;
  /** HTTP status the reference server answers with when this reaches a request. */
  readonly httpStatus: number = 500;
  /** Exit code the CLI ends with when this reaches the entry point. */
  readonly exitCode: number = EXIT_USAGE;
  /** Short snake_case word for the JSON `error` field of an HTTP answer. */
  readonly httpError: string = 'internal_error';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request or the command line asked for something invalid. */
export class BadInputError extends FlashsaleError {
  readonly code = 'FS_BAD_INPUT';
  override readonly httpStatus = 400;
  override readonly httpError = 'invalid_request';
}

/** A configuration the program cannot start with (bad URL, bad flag combination). */
export class ConfigError extends FlashsaleError {
  readonly code = 'FS_CONFIG';
}

/** The database could not be reached or refused the connection. */
export class DatabaseUnreachableError extends FlashsaleError {
  readonly code = 'FS_DB_UNREACHABLE';
  override readonly httpStatus = 503;
  override readonly httpError = 'database_unreachable';
}

/** The port the server was asked to listen on is taken. */
export class PortInUseError extends FlashsaleError {
  readonly code = 'FS_PORT_IN_USE';
}

/** The purchase names an item the database does not have. */
export class UnknownSkuError extends FlashsaleError {
  readonly code = 'FS_UNKNOWN_SKU';
  override readonly httpStatus = 404;
  override readonly httpError = 'unknown_sku';
}

/** No route matches the path. */
export class RouteNotFoundError extends FlashsaleError {
  readonly code = 'FS_NOT_FOUND';
  override readonly httpStatus = 404;
  override readonly httpError = 'not_found';
}

/** The route exists but not for this method; `allow` lists the methods it takes. */
export class MethodNotAllowedError extends FlashsaleError {
  readonly code = 'FS_METHOD_NOT_ALLOWED';
  override readonly httpStatus = 405;
  override readonly httpError = 'method_not_allowed';

  constructor(
    message: string,
    /** Methods the route accepts, for the `Allow` header. */
    readonly allow: readonly string[],
  ) {
    super(message);
  }
}

/** The request body is larger than the server reads. */
export class BodyTooLargeError extends FlashsaleError {
  readonly code = 'FS_BODY_TOO_LARGE';
  override readonly httpStatus = 413;
  override readonly httpError = 'body_too_large';
}

/** The request body is not JSON. */
export class UnsupportedMediaTypeError extends FlashsaleError {
  readonly code = 'FS_UNSUPPORTED_MEDIA_TYPE';
  override readonly httpStatus = 415;
  override readonly httpError = 'unsupported_media_type';
}

/** An Idempotency-Key was reused for a different purchase. */
export class IdempotencyConflictError extends FlashsaleError {
  readonly code = 'FS_IDEMPOTENCY_CONFLICT';
  override readonly httpStatus = 422;
  override readonly httpError = 'idempotency_key_reused';
}

/** Admin route called from elsewhere than loopback without the admin token. */
export class ForbiddenError extends FlashsaleError {
  readonly code = 'FS_FORBIDDEN';
  override readonly httpStatus = 403;
  override readonly httpError = 'forbidden';
}

/**
 * A state-changing admin request that a web page on another site could have
 * sent (a foreign Origin): refused, so that visiting a page cannot reset a sale.
 */
export class CrossSiteRequestError extends FlashsaleError {
  readonly code = 'FS_CROSS_SITE';
  override readonly httpStatus = 403;
  override readonly httpError = 'cross_site_request';
}

/** The client closed the connection before its request body arrived; nobody is left to answer. */
export class ClientGoneError extends FlashsaleError {
  readonly code = 'FS_CLIENT_GONE';
  override readonly httpStatus = 400;
  override readonly httpError = 'client_gone';
}

/**
 * The row lock (or SQLite's write lock) was not granted in time, or the
 * database broke a deadlock or serialization conflict. Nothing was sold; the
 * client may retry, hence 503 with Retry-After.
 */
export class LockTimeoutError extends FlashsaleError {
  readonly code = 'FS_LOCK_TIMEOUT';
  override readonly httpStatus = 503;
  override readonly httpError = 'lock_timeout';
}

/** The purchase's request id already has a ledger row (idempotent replay). */
export class DuplicateRequestError extends FlashsaleError {
  readonly code = 'FS_DUPLICATE_REQUEST';
  override readonly httpStatus = 409;
  override readonly httpError = 'duplicate_request';
}

/** The attack target could not be reached at all (every preflight connection failed). */
export class TargetUnreachableError extends FlashsaleError {
  readonly code = 'FS_TARGET_UNREACHABLE';
}

/** A history file is not in the `flashsale-history/1` format; the message names the file and line. */
export class HistoryFormatError extends FlashsaleError {
  readonly code = 'FS_BAD_HISTORY';
}

/** The database answers but lacks the reference schema's tables (`verify` against the wrong database). */
export class SchemaMissingError extends FlashsaleError {
  readonly code = 'FS_NO_SCHEMA';
}

/**
 * The server refused a purchase before touching the database: --max-queue
 * purchases already wait for a connection, or none became free in time.
 * Nothing was tried, nothing sold; 503 with Retry-After.
 */
export class OverloadedError extends FlashsaleError {
  readonly code = 'FS_OVERLOADED';
  override readonly httpStatus = 503;
  override readonly httpError = 'overloaded';
}

/**
 * The database connection broke (killed, database restarting) before the
 * transaction was committed. The database rolls back a transaction whose
 * connection is gone, so nothing was sold; the client may retry (503 with
 * Retry-After).
 */
export class ConnectionLostError extends FlashsaleError {
  readonly code = 'FS_DB_CONNECTION_LOST';
  override readonly httpStatus = 503;
  override readonly httpError = 'database_connection_lost';
}

/**
 * The connection broke while COMMIT was in flight: the database may have
 * committed the sale and lost only the acknowledgement, or not. Neither
 * "bought" nor "not bought" would be the truth, so the answer is a 503
 * WITHOUT Retry-After, which clients (and `flashsale attack`) treat as an
 * unknown outcome to be settled from the ledger by its request id.
 */
export class CommitUnknownError extends FlashsaleError {
  readonly code = 'FS_COMMIT_UNKNOWN';
  override readonly httpStatus = 503;
  override readonly httpError = 'commit_outcome_unknown';
}
