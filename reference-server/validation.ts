import type { IncomingMessage } from 'node:http';
import { BadInputError } from '../src/errors.js';

/** The most units one purchase may ask for; more is refused as invalid, not as sold out. */
export const MAX_QUANTITY = 1000;
/** The largest stock an item may be given (fits a 32-bit INT column on every database). */
export const MAX_STOCK = 1_000_000_000;
export const MAX_SKU_LENGTH = 64;
export const MAX_BUYER_ID_LENGTH = 200;
export const MAX_REQUEST_ID_LENGTH = 255;

/** The fields of a purchase body, each defaulted when absent. */
export interface PurchaseFields {
  sku: string;
  buyerId: string;
  quantity: number;
}

/** The fields of a reset body; `stock` absent means "back to the initial stock". */
export interface ResetFields {
  sku: string;
  stock: number | undefined;
}

/**
 * Validates `POST /buy`. Every field is optional (an empty body buys one unit
 * of the default item for an anonymous buyer), but a field that is present
 * must be valid: the server never guesses what a malformed request meant.
 */
export function parsePurchaseBody(body: unknown, defaultSku: string): PurchaseFields {
  const fields = asObject(body);
  const buyerId = fields.buyer_id !== undefined ? fields.buyer_id : fields.customer_id;
  if (fields.buyer_id !== undefined && fields.customer_id !== undefined && fields.buyer_id !== fields.customer_id) {
    throw new BadInputError('buyer_id and customer_id name the same thing: send one of them');
  }
  return {
    sku: fields.sku === undefined ? defaultSku : text(fields.sku, 'sku', MAX_SKU_LENGTH),
    buyerId: buyerId === undefined ? 'anonymous' : buyerIdText(buyerId),
    quantity: fields.quantity === undefined ? 1 : wholeNumber(fields.quantity, 'quantity', 1, MAX_QUANTITY),
  };
}

/** The fields of a confirm or cancel body. */
export interface SettleFields {
  reservationId: string;
  /** When present, the reservation must be this buyer's. */
  buyerId: string | undefined;
}

/** Longest reservation id accepted; ours are 26 characters ("r_" + 24 hex). */
export const MAX_RESERVATION_ID_LENGTH = 64;

/** Validates `POST /reserve`: the same fields, defaults and limits as `POST /buy`. */
export const parseReserveBody = parsePurchaseBody;

/**
 * Validates `POST /confirm` and `POST /cancel`: `reservation_id` is required
 * (there is no default hold to act on); `buyer_id`, when present, must be
 * valid as for `/buy`.
 */
export function parseSettleBody(body: unknown): SettleFields {
  const fields = asObject(body);
  if (fields.reservation_id === undefined) throw new BadInputError('reservation_id is required');
  return {
    reservationId: parseReservationId(fields.reservation_id),
    buyerId: fields.buyer_id === undefined ? undefined : buyerIdText(fields.buyer_id),
  };
}

/** Validates a reservation id from a body or a path: text of 1 to 64 characters. */
export function parseReservationId(value: unknown): string {
  return text(value, 'reservation_id', MAX_RESERVATION_ID_LENGTH);
}

/** Validates `POST /reset`: optional `stock` and `sku`. */
export function parseResetBody(body: unknown, defaultSku: string): ResetFields {
  const fields = asObject(body);
  return {
    sku: fields.sku === undefined ? defaultSku : text(fields.sku, 'sku', MAX_SKU_LENGTH),
    stock: fields.stock === undefined ? undefined : wholeNumber(fields.stock, 'stock', 0, MAX_STOCK),
  };
}

/**
 * The request's `Idempotency-Key` header(s). Node joins repeated headers
 * with ", ", which would make two keys one valid-looking key; a comma is
 * rare in a key, so only then are the raw headers counted.
 */
export function idempotencyKeyHeader(request: IncomingMessage): string | string[] | undefined {
  const joined = request.headers['idempotency-key'];
  return joined?.includes(',') ? request.headersDistinct['idempotency-key'] : joined;
}

/** Validates an `Idempotency-Key` header; undefined when absent. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) {
    if (header.length !== 1) throw new BadInputError('send one Idempotency-Key header, not several');
    return parseIdempotencyKey(header[0]);
  }
  if (header.length === 0 || header.length > MAX_REQUEST_ID_LENGTH || !/^[\x21-\x7e][\x20-\x7e]*$/.test(header)) {
    throw new BadInputError(`Idempotency-Key must be 1 to ${MAX_REQUEST_ID_LENGTH} printable ASCII characters`);
  }
  return header;
}

function asObject(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadInputError('the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function buyerIdText(value: unknown): string {
  // Numeric customer ids are common in existing buy_ticket scripts; they are
  // stored as their decimal text.
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return text(value, 'buyer_id', MAX_BUYER_ID_LENGTH);
}

// Any text is stored verbatim (quotes, SQL, emoji) because every statement is
// parameterised; only what no database can store faithfully is refused: NUL
// (PostgreSQL text rejects it) and lone UTF-16 surrogates (not encodable as UTF-8).
function text(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string') throw new BadInputError(`${field} must be a string`);
  if (value.length === 0 || value.length > maxLength) {
    throw new BadInputError(`${field} must be 1 to ${maxLength} characters long`);
  }
  if (value.includes('\u0000') || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)) {
    throw new BadInputError(`${field} contains a NUL or an unpaired surrogate`);
  }
  return value;
}

function wholeNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BadInputError(`${field} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
