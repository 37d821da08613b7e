import { ConfigError } from '../src/errors.js';
import type { DialectName } from './adapter.js';

/** A `--db` URL split into what the adapters need. */
export interface DatabaseUrl {
  dialect: DialectName;
  /** For SQLite, the file path (or `:memory:`); otherwise the URL itself. */
  location: string;
}

const SCHEMES: Record<string, DialectName> = {
  'sqlite:': 'sqlite',
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};

const ENCODING_HINT = 'a user or password containing / @ ? # or % must be percent-encoded (/ is %2F, @ is %40, % is %25)';

/** Recognises `sqlite:PATH`, `sqlite://PATH`, `postgres://…`, `mysql://…` (and `mariadb://…`). */
export function parseDatabaseUrl(url: string): DatabaseUrl {
  // Every message below prints the URL masked: it is masked from the raw
  // text, before (and whether or not) it parses, so a password that breaks
  // parsing is hidden as well as one that does not.
  const shown = JSON.stringify(maskPassword(url));
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  const dialect = scheme ? SCHEMES[scheme] : undefined;
  if (!scheme || !dialect) {
    throw new ConfigError(`unsupported database URL ${shown}: use sqlite:PATH, postgres://… or mysql://…`);
  }
  if (dialect === 'sqlite') {
    const path = url.slice(scheme.length).replace(/^\/\//, '');
    if (path === '') throw new ConfigError('the sqlite URL names no file: use sqlite:./flashsale.db');
    return { dialect, location: path };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`malformed database URL ${shown}: ${ENCODING_HINT}`);
  }
  if (!parsed.hostname) throw new ConfigError(`database URL ${shown} names no host`);
  // A userinfo that parses but is not valid %-encoding; for the host, the
  // same mistake as above (and mysql2 would throw a bare URIError later).
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    throw new ConfigError(`database URL ${shown} has a malformed %-escape in its user or password: ${ENCODING_HINT}`);
  }
  return { dialect, location: url };
}

// Query parameters whose value is a credential (pg and mysql2 both read
// `?password=`; `sslpassword`, tokens and keys are masked too).
const SECRET_PARAMETER = /([?&;][^=&#;]*(?:pass|pwd|secret|token|key|auth|credential)[^=&#;]*=)[^&#;]*/gi;

/**
 * The URL with every credential replaced by `***`, safe to print: the one
 * function every label, banner and error message goes through. It works on
 * the raw text, never on a parse, because the URLs that fail to parse (a raw
 * `/` or `@` in the password) are exactly the ones people paste.
 *
 * - userinfo: everything between `//` and the LAST `@` is credentials; the
 *   user name (up to the first `:`) stays, the rest becomes `***`. Without
 *   `//` (`user:secret@host` with no scheme) the whole userinfo is masked.
 * - query: password-like parameters (`password=`, `sslpassword=`, `token=`…).
 * - `sqlite:` URLs are file paths and carry no credentials; shown as given.
 */
export function maskPassword(url: string): string {
  if (/^sqlite:/i.test(url)) return url;
  const prefix = /^(?:[a-z][a-z0-9+.-]*:)?(?:\/\/)?/i.exec(url)![0];
  const rest = url.slice(prefix.length);
  const at = rest.lastIndexOf('@');
  if (at < 0) return prefix + maskParameters(rest);
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = prefix.endsWith('//') && colon >= 0 ? userinfo.slice(0, colon + 1) : prefix.endsWith('//') ? userinfo : '';
  const masked = user === userinfo ? userinfo : `${user}***`;
  return `${prefix}${masked}@${maskParameters(rest.slice(at + 1))}`;
}

function maskParameters(text: string): string {
  return text.replace(SECRET_PARAMETER, '$1***');
}

/**
 * Masks every `scheme://…` URL found in free text (an error message, a stack
 * trace), for output that did not come from our own labels: a driver's
 * message may quote the connection string it was given.
 */
export function maskUrlsIn(text: string): string {
  // A URL in a sentence ends before trailing punctuation ("cannot reach URL: …").
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]*[^\s"'`<>:,.;)]/gi, (url) => maskPassword(url));
}
