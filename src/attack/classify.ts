import type { Outcome } from '../history/types.js';

// How one answer (or one failure to get an answer) becomes an outcome. The
// rule of DESIGN.md: ok only when the purchase surely happened, fail only
// when it surely did not, info whenever it cannot be known. Nothing here
// guesses: an answer that fits no rule is info, with the reason in `error`.

/** The status and body rules, as `--ok-status` … `--remaining-field` give them. */
export interface ClassifyRules {
  /** Statuses that mean "bought" (default 200, 201). */
  okStatus: readonly number[];
  /** Statuses that mean "sold out" (default 410, 409). */
  soldOutStatus: readonly number[];
  /** When set, an ok status counts as bought only if the body matches. */
  okBody: RegExp | null;
  /** When set, a body that matches means sold out, whatever ok status came with it. */
  soldOutBody: RegExp | null;
  /**
   * Statuses that mean "not now, try again" (default 429, 503): refused,
   * surely not bought, no claim about the stock. A 5xx among them counts
   * only with a Retry-After header: a bare 503 may come from a proxy after
   * the server acted, so it stays unknown.
   */
  refusedStatus: readonly number[];
  /** When set, a body that matches means refused (any status below 500). */
  refusedBody: RegExp | null;
  /** Dotted path to the remaining stock in a JSON answer; empty when the target reports none. */
  remainingField: string;
  /** Dotted path to the purchase id in a JSON answer; empty when the target reports none. */
  purchaseIdField: string;
}

/** What one request became, ready to be written as an op line. */
export interface Classified {
  outcome: Outcome;
  remaining: number | null;
  purchaseId: string | null;
  /** The op's `error`: why it is not plainly ok or sold out, with details (a body excerpt, a message). */
  error: string | null;
  /** The same reason without details, for counting causes: `HTTP 503`, `UND_ERR_SOCKET`… */
  cause: string | null;
}

/**
 * Classifies a complete answer: status, the whole body text, and whether a
 * Retry-After header came with it. The order, first match wins:
 *   1. a status in --refused-status: refused (a 5xx only with Retry-After;
 *      without it, an unknown http_5xx);
 *   2. any other 5xx: unknown, whatever the body says;
 *   3. a body matching --refused-body: refused, unless --ok-body matches it
 *      too (then unknown: the answer contradicts itself). Refused beats a
 *      matching --sold-out-body: both say "not bought", refused claims less;
 *   4. the sold-out, ok and 4xx rules.
 */
export function classifyAnswer(status: number, body: string, rules: ClassifyRules, retryAfter = false): Classified {
  if (rules.refusedStatus.includes(status)) {
    if (status < 500) return refused(`HTTP ${status}`, shortBody(body));
    if (retryAfter) return refused(`HTTP ${status} Retry-After`, shortBody(body));
  }
  if (status >= 500) return info('http_5xx', `HTTP ${status}`, shortBody(body));
  if (rules.refusedBody?.test(body)) {
    if (rules.okStatus.includes(status) && rules.okBody?.test(body)) {
      return info('bad_body', `HTTP ${status}, the body matches both --ok-body and --refused-body`, shortBody(body));
    }
    return refused(`HTTP ${status} --refused-body`, shortBody(body));
  }
  const json = new LazyJson(body);
  const soldOut = (): Classified => ({ outcome: 'sold_out', remaining: readRemaining(json, rules).value ?? null, purchaseId: null, error: null, cause: null });

  // A refusal needs no body to be sure; the remaining stock is kept when given.
  if (rules.soldOutStatus.includes(status)) return soldOut();

  if (rules.okStatus.includes(status)) {
    const saysSoldOut = rules.soldOutBody?.test(body) ?? false;
    const saysBought = rules.okBody ? rules.okBody.test(body) : !saysSoldOut;
    if (saysSoldOut && saysBought) return info('bad_body', `HTTP ${status}, the body matches both --ok-body and --sold-out-body`, shortBody(body));
    if (saysSoldOut) return soldOut();
    if (!saysBought) return info('bad_body', `HTTP ${status}, the body matches neither --ok-body nor --sold-out-body`, shortBody(body));
    const remaining = readRemaining(json, rules);
    if (remaining.error) return info('bad_body', `HTTP ${status}, ${remaining.error}`, shortBody(body));
    return { outcome: 'bought', remaining: remaining.value ?? null, purchaseId: readPurchaseId(json, rules), error: null, cause: null };
  }

  if (status >= 400) {
    if (rules.soldOutBody?.test(body)) return soldOut();
    // A 4xx refuses the request as sent: nothing was sold.
    return { outcome: 'rejected', remaining: null, purchaseId: null, error: `HTTP ${status}${shortBody(body)}`, cause: `HTTP ${status}` };
  }

  // 1xx, 2xx and 3xx that no rule names (202 Accepted, a redirect…): the
  // purchase may or may not have happened.
  return info('bad_body', `HTTP ${status}, a status no --ok-status or --sold-out-status rule names`, shortBody(body));
}

/** Network and client failures: the codes undici and Node report. */
export function classifyFailure(error: unknown): Classified {
  const code = errorCode(error);
  const detail = describe(error);
  switch (code) {
    // No connection was made, so no byte of the request left: surely not bought.
    case 'ECONNREFUSED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    // TLS handshake refused (bad certificate, wrong name…): still before any request byte.
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { outcome: 'conn_refused', remaining: null, purchaseId: null, error: code + detail, cause: code };
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return info('timeout', code, detail);
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return info('bad_body', code, detail);
    default:
      // ECONNRESET, EPIPE, UND_ERR_SOCKET ("other side closed") and anything
      // unforeseen: the request may have been processed.
      if (code.startsWith('HPE_')) return info('bad_body', code, detail);
      return info('conn_reset', code, detail);
  }
}

/**
 * A request no byte of which was written: its connection failed (and kept
 * failing until its timeout), or the run ended while it waited to
 * reconnect. Surely not bought, whatever the error was.
 */
export function notSent(error: unknown, why: string | null): Classified {
  const code = error === undefined ? 'NOT_SENT' : errorCode(error);
  return { outcome: 'conn_refused', remaining: null, purchaseId: null, error: code + describe(error) + (why ? `; ${why}` : ''), cause: code };
}

/** The op of a request cut off because the run was stopped: sent, unanswered, unknown. */
export function interrupted(): Classified {
  return info('timeout', 'interrupted', ': the run was stopped before an answer came');
}

function refused(cause: string, detail: string): Classified {
  return { outcome: 'refused', remaining: null, purchaseId: null, error: cause + detail, cause };
}

function info(outcome: Outcome, cause: string, detail: string): Classified {
  return { outcome, remaining: null, purchaseId: null, error: cause + detail, cause };
}

/** The most telling code of an undici or Node error (`ECONNREFUSED`, `UND_ERR_SOCKET`…). */
export function errorCode(error: unknown): string {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  if (typeof code === 'string' && code !== 'UND_ERR') return code;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof code === 'string' ? code : 'ERROR';
}

function describe(error: unknown): string {
  const message = (error as Error)?.message;
  return message ? `: ${message}` : '';
}

/** `: ` and the body flattened to one line and cut at 120 characters, for an `error` field; empty for no body. */
export function shortBody(body: string): string {
  if (!body) return '';
  const flat = body.replace(/\s+/g, ' ').trim();
  return `: ${flat.length > 120 ? `${flat.slice(0, 117)}...` : flat}`;
}

type Read<T> = { value?: T; error?: string };

/** The body parsed as JSON on first use only: one answer may need two fields, or none. */
class LazyJson {
  private parsed: Read<unknown> | undefined;

  constructor(private readonly body: string) {}

  get(): Read<unknown> {
    if (this.parsed) return this.parsed;
    try {
      this.parsed = { value: JSON.parse(this.body) };
    } catch {
      this.parsed = { error: this.body ? 'the body is not JSON' : 'the body is empty' };
    }
    return this.parsed;
  }
}

function readRemaining(json: LazyJson, rules: ClassifyRules): Read<number> {
  if (!rules.remainingField) return {};
  const parsed = json.get();
  if (parsed.error) return parsed as Read<number>;
  const value = pick(parsed.value, rules.remainingField);
  if (value === undefined) return { error: `no "${rules.remainingField}" in the body` };
  // Bounded wording (the value itself is in the body excerpt), so causes can be counted.
  // Any integer is kept, negative included: an ok answer claiming less than
  // nothing is left is evidence of an oversell (H1), not an unknown.
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    return { error: `"${rules.remainingField}" is not an integer` };
  }
  return { value: number };
}

function readPurchaseId(json: LazyJson, rules: ClassifyRules): string | null {
  if (!rules.purchaseIdField) return null;
  const parsed = json.get();
  const value = parsed.error ? undefined : pick(parsed.value, rules.purchaseIdField);
  return typeof value === 'string' || typeof value === 'number' ? String(value) : null;
}

/** Dotted paths already split: a run reads the same one or two for every answer. */
const SPLIT_PATHS = new Map<string, readonly string[]>();

/** The value at a dotted path (`order.left`) of parsed JSON, or undefined. */
export function pick(value: unknown, path: string): unknown {
  let keys = SPLIT_PATHS.get(path);
  if (!keys) SPLIT_PATHS.set(path, (keys = path.split('.')));
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
