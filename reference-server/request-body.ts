import type { IncomingMessage } from 'node:http';
import { BadInputError, BodyTooLargeError, ClientGoneError, UnsupportedMediaTypeError } from '../src/errors.js';

/** The largest request body the server reads; anything larger is refused with 413. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Reads a JSON request body. An empty body is `undefined` whatever its
 * content type says, because the simple `buy_ticket` scripts people already
 * have send none (or an empty form). A non-empty body must be declared JSON.
 */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const declaredLength = Number(request.headers['content-length']);
  if (declaredLength > MAX_BODY_BYTES) throw tooLarge();
  const text = utf8(await readBytes(request));
  if (text.trim() === '') return undefined;

  const contentType = declaredContentType(request);
  if (!isJson(contentType)) {
    throw new UnsupportedMediaTypeError(
      `the body must be JSON sent as Content-Type: application/json, not ${contentType ? JSON.stringify(contentType) : 'without a content type'}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadInputError(`the body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * For routes that change state on their own say-so (`POST /reset`): a
 * declared content type must be JSON, even with an empty body. A web page on
 * any site can POST a form (urlencoded, multipart, text/plain) without asking
 * first; a JSON content type needs a CORS preflight this server never grants.
 * No content type at all (`curl -X POST`) is allowed, since a browser form
 * always declares one.
 */
export function requireJsonContentType(request: IncomingMessage): void {
  const contentType = declaredContentType(request);
  if (request.headers['content-type'] !== undefined && !isJson(contentType)) {
    throw new UnsupportedMediaTypeError(
      `${request.method} ${request.url?.split('?')[0]} takes Content-Type: application/json or none, not ${JSON.stringify(contentType)}`,
    );
  }
}

function declaredContentType(request: IncomingMessage): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function isJson(contentType: string): boolean {
  return contentType === 'application/json' || /^application\/[\w.+-]+\+json$/.test(contentType);
}

// fatal: bytes that are not UTF-8 are refused, not silently turned into
// U+FFFD and stored as a buyer id nobody sent.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new BadInputError('the body is not valid UTF-8');
  }
}

/**
 * The body's bytes, read with plain 'data'/'end' listeners: a purchase body
 * is one small chunk, and an async iterator per request costs more than the
 * rest of the parsing (seen in a CPU profile under load).
 */
function readBytes(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BODY_BYTES) {
        cleanup();
        // Stop reading; the error handler answers 413 and closes the connection.
        request.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    // A client that hangs up mid-body ('aborted' error, or a close with no
    // end) is an everyday event under load, not a bug: a typed error the
    // server logs in one line.
    const onError = (error: Error) => {
      cleanup();
      reject(request.complete ? error : clientGone(request, received));
    };
    const onClose = () => {
      cleanup();
      reject(clientGone(request, received));
    };
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

function clientGone(request: IncomingMessage, received: number): ClientGoneError {
  const declared = request.headers['content-length'];
  const of = declared === undefined ? '' : ` of ${declared}`;
  return new ClientGoneError(`client disconnected after ${received}${of} body bytes`);
}

function tooLarge(): BodyTooLargeError {
  return new BodyTooLargeError(`the body is larger than ${MAX_BODY_BYTES} bytes`);
}
