import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CrossSiteRequestError, ForbiddenError } from '../src/errors.js';

// Who may call the admin route (`POST /reset`), which changes a sale on its
// own say-so: loopback, or anyone holding the admin token, and never a web
// page from another site riding on the operator's browser.

/** The part of a request the guards read (an IncomingMessage, or a test's plain object). */
export type AdminRequest = Pick<IncomingMessage, 'headers' | 'method' | 'url'> & { socket: { remoteAddress?: string | undefined } };

/** Lets an admin request through; true when the admin token (not loopback) is what allowed it. */
export function authorizeAdmin(request: AdminRequest, adminToken: string | undefined): boolean {
  const presented = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
  if (adminToken && presented && sameSecret(presented, adminToken)) return true;
  if (isLoopback(request.socket.remoteAddress)) return false;
  throw new ForbiddenError('POST /reset is allowed from loopback, or elsewhere with Authorization: Bearer <--admin-token>');
}

/**
 * Loopback is ambient authority: any web page the operator visits can make
 * their browser POST to 127.0.0.1. Browsers say who is asking in `Origin`,
 * so a request carrying one is allowed only from a loopback origin
 * (localhost, 127.0.0.0/8, [::1]) or, when the admin token let it in, from
 * this server's own origin. Same-origin is not enough without the token: a
 * DNS-rebinding page is "same-origin" with whatever Host it rebinds.
 * No Origin (curl, scripts, flashsale itself) is not a browser's cross-site
 * request; the content-type rule covers the old browsers that omit it.
 */
export function refuseCrossSite(request: AdminRequest, viaToken: boolean): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const host = originHost(origin);
  if (host !== undefined && isLoopbackHost(host.hostname)) return;
  if (viaToken && host !== undefined && host.host === request.headers.host?.toLowerCase()) return;
  throw new CrossSiteRequestError(
    `${request.method} ${request.url?.split('?')[0]} refuses requests from another site (Origin ${JSON.stringify(origin)})`,
  );
}

function originHost(origin: string): URL | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined; // `null` (sandboxed frames, file:) and garbage are foreign
  }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function isLoopback(address: string | undefined): boolean {
  return !!address && (address === '::1' || /^(::ffff:)?127\./.test(address));
}

// Both sides go through HMAC-SHA-256 under a key made at start, so the
// comparison is always of 32 bytes against 32 bytes: how long the token is,
// and how much of it a guess got right, take the same time to learn: none.
const SECRET_KEY = randomBytes(32);

export function sameSecret(presented: string, expected: string): boolean {
  const digest = (text: string) => createHmac('sha256', SECRET_KEY).update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
