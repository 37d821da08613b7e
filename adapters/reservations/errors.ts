// The reservation flow's refusals, in the toolkit's one error hierarchy: each
// has a stable code and the HTTP status and error word docs/reservations.md
// gives it. None of them is thrown after anything was written that the
// refusal should undo; a due expiry a confirm or cancel found is committed
// first (see settle.ts).
import { FlashsaleError } from '../../src/errors.js';

/** No reservation has this id. */
export class UnknownReservationError extends FlashsaleError {
  readonly code = 'FS_UNKNOWN_RESERVATION';
  override readonly httpStatus = 404;
  override readonly httpError = 'unknown_reservation';
}

/** The request names a buyer other than the one holding the reservation. */
export class ForeignReservationError extends FlashsaleError {
  readonly code = 'FS_FOREIGN_RESERVATION';
  override readonly httpStatus = 403;
  override readonly httpError = 'foreign_reservation';
}

/** The hold's time is up (its units are back on sale, or are given back now). */
export class ReservationExpiredError extends FlashsaleError {
  readonly code = 'FS_RESERVATION_EXPIRED';
  override readonly httpStatus = 410;
  override readonly httpError = 'reservation_expired';
}

/** The hold was already confirmed (by another request id). */
export class AlreadyConfirmedError extends FlashsaleError {
  readonly code = 'FS_ALREADY_CONFIRMED';
  override readonly httpStatus = 409;
  override readonly httpError = 'already_confirmed';
}

/** A confirm of a hold its buyer cancelled. */
export class ReservationCancelledError extends FlashsaleError {
  readonly code = 'FS_RESERVATION_CANCELLED';
  override readonly httpStatus = 409;
  override readonly httpError = 'reservation_cancelled';
}

/** A cancel of a hold already cancelled (by another request id). */
export class AlreadyCancelledError extends FlashsaleError {
  readonly code = 'FS_ALREADY_CANCELLED';
  override readonly httpStatus = 409;
  override readonly httpError = 'already_cancelled';
}

/** The buyer made more reserve requests this minute than `--rate-limit` allows. */
export class RateLimitedError extends FlashsaleError {
  readonly code = 'FS_RATE_LIMITED';
  override readonly httpStatus = 429;
  override readonly httpError = 'rate_limited';

  constructor(
    message: string,
    /** Whole seconds until the buyer's window ends, for `Retry-After`. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
