import { connect } from 'node:net';
import type { Answer } from './http.js';

/** A request written byte for byte: what no well-behaved client library will send. */
export interface RawCall {
  method: string;
  path: string;
  /** Header lines in order, repeats allowed; Host and Connection: close are added. */
  headers?: Array<[string, string]>;
  /** Sent after the headers as is; a Content-Length is added unless a header sets one or chunked is used. */
  body?: Buffer | string;
}

/** Sends one raw HTTP/1.1 request on its own connection and reads the answer until the server closes it. */
export function rawCall(origin: string, call: RawCall): Promise<Answer> {
  const { hostname, port } = new URL(origin);
  const body = call.body === undefined ? Buffer.alloc(0) : Buffer.from(call.body);
  const headers = [...(call.headers ?? [])];
  const named = (name: string) => headers.some(([key]) => key.toLowerCase() === name);
  if (!named('content-length') && !named('transfer-encoding') && body.length > 0) headers.push(['Content-Length', String(body.length)]);
  const head = [`${call.method} ${call.path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
  const request = Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), body]);

  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    // Bounded: a server that never closes fails the test instead of hanging it.
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no answer within 15 s to ${call.method} ${call.path}`)));
    socket.on('connect', () => socket.end(request));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while we still write an oversized body; what it answered first counts.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') return;
      reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const answerHeaders: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        answerHeaders[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const answerText = text.slice(split + 4);
      let parsed: unknown;
      try {
        parsed = JSON.parse(answerText);
      } catch {
        parsed = undefined;
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers: answerHeaders, body: parsed, text: answerText });
    });
  });
}
