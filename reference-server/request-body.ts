import type { IncomingMessage } from 'node:http';
import { BadInputError, BodyTooLargeError, UnsupportedMediaTypeError } from '../src/errors.js';

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

  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;

  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/json' && !/^application\/[\w.+-]+\+json$/.test(contentType)) {
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

function tooLarge(): BodyTooLargeError {
  return new BodyTooLargeError(`the body is larger than ${MAX_BODY_BYTES} bytes`);
}
