import type { ServerConnections } from './server-connections.js';

/** Terminates the server's own database connections. Resolves with what happened. */
export async function dropServerConnections(connections: ServerConnections): Promise<string> {
  const dropped = await connections.drop();
  if (dropped === 0) throw new Error(`found no server connection to drop (${connections.identity})`);
  return `terminated ${dropped} server connection${dropped === 1 ? '' : 's'} (${connections.identity})`;
}
