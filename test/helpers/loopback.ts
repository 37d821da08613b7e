import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1, a free port, and returns the URL of `path` there. */
export async function listenOnLoopback(server: Server, path = '/buy'): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
}

/** Closes a test server at once, hanging requests included. */
export function closeNow(server: Server): void {
  server.closeAllConnections();
  server.close();
}
