import { isIPv6, type Socket } from 'node:net';
import { buildConnector, type Client } from 'undici';

/** Connections opened at once while warming up, so a thousand SYNs do not overflow the server's backlog. */
const OPEN_AT_ONCE = 64;

/**
 * Sockets opened before the start barrier, so the barrier releases buyers
 * that only have to send: the stampede is not spread out by handshakes.
 * `connect` is an undici `connect` option that hands them out, then
 * connects anew (after a reset, or when none is left).
 */
export interface WarmSockets {
  /** Opened and not yet taken by a client. */
  sockets: Socket[];
  /** How many opened, how many failed, and why the first failure failed. */
  connected: number;
  failed: number;
  error: string | null;
  connect: NonNullable<Client.Options['connect']>;
  /** Closes the sockets no client took. */
  destroy(): void;
}

/** Opens `count` connections to `origin` (as undici would), OPEN_AT_ONCE at a time. */
export async function openWarmSockets(origin: string, count: number, timeoutMs: number): Promise<WarmSockets> {
  const url = new URL(origin);
  const connector = buildConnector({ timeout: Math.min(timeoutMs, 10_000) });
  const bare = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const where = { hostname: isIPv6(bare) ? bare : url.hostname, host: url.host, protocol: url.protocol, port: url.port };
  const sockets: Socket[] = [];
  const failures: string[] = [];
  const open = () =>
    new Promise<void>((resolve) =>
      connector(where, (error, socket) => {
        if (error || !socket) failures.push((error as NodeJS.ErrnoException | null)?.code ?? String(error));
        else sockets.push(socket);
        resolve();
      }),
    );
  for (let left = count; left > 0; left -= OPEN_AT_ONCE) {
    await Promise.all(Array.from({ length: Math.min(left, OPEN_AT_ONCE) }, open));
  }
  return {
    sockets,
    connected: sockets.length,
    failed: failures.length,
    error: failures[0] ?? null,
    // undici is still setting its client up when it calls this: the callback must not run synchronously.
    connect: (options, callback) => {
      for (let socket = sockets.pop(); socket; socket = sockets.pop()) {
        if (!socket.destroyed && socket.readyState === 'open') return process.nextTick(callback, null, socket);
        socket.destroy();
      }
      connector(options, callback);
    },
    destroy: () => {
      for (const socket of sockets.splice(0)) socket.destroy();
    },
  };
}
