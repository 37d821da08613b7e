import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TargetUnreachableError } from '../errors.js';

/** Connection attempts before the target is declared unreachable. */
const ATTEMPTS = 3;
const ATTEMPT_TIMEOUT_MS = 2000;
const PAUSE_MS = 250;

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused; is the server running?',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved',
  ETIMEDOUT: 'connecting timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
};

/**
 * Opens (and closes) one TCP connection to the target before anything else,
 * so a target that is down is one clear line and exit code 2, not a thousand
 * conn_refused operations. Only the connection is tried: no request is sent,
 * so nothing is bought.
 */
export async function preflight(origin: string): Promise<void> {
  const url = new URL(origin);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  let code = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    code = await tryConnect(host, port);
    if (code === '') return;
    if (attempt < ATTEMPTS) await sleep(PAUSE_MS);
  }
  throw new TargetUnreachableError(`cannot reach ${origin}: ${REASONS[code] ?? code} (${code}, ${ATTEMPTS} attempts)`);
}

/** Resolves with '' when connected, else with the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (code: string) => {
      socket.destroy();
      resolve(code);
    };
    socket.setTimeout(ATTEMPT_TIMEOUT_MS, () => finish('ETIMEDOUT'));
    socket.once('connect', () => finish(''));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  });
}
