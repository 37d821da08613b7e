import Database from 'better-sqlite3';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';

/**
 * A ticket shop of another shape than the reference server, for testing
 * flashsale on "your own server": its own schema, its own route, and it
 * answers 200 to everything with the verdict in the body.
 *
 *   POST /api/tickets  {"customer":"…","ref":"…"}
 *   200 {"ok":true,"order":{"left":41}}  or  200 {"ok":false,"reason":"gone"}
 *
 * `safe` sells inside one synchronous SQLite transaction; the lossy variant
 * reads, lets other requests run, and writes a stale count back.
 */
export interface ForeignShop {
  url: string;
  dbPath: string;
  close(): Promise<void>;
}

export async function startForeignShop(dbPath: string, tickets: number, safe: boolean): Promise<ForeignShop> {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE shows (name TEXT PRIMARY KEY, seats_left INTEGER NOT NULL);
           CREATE TABLE bookings (booking_no INTEGER PRIMARY KEY, customer TEXT, ref TEXT, seats INTEGER, left_after INTEGER)`);
  db.prepare('INSERT INTO shows VALUES (?, ?)').run('gala', tickets);
  const read = db.prepare('SELECT seats_left FROM shows WHERE name = ?');
  const write = db.prepare('UPDATE shows SET seats_left = ? WHERE name = ?');
  const book = db.prepare('INSERT INTO bookings (customer, ref, seats, left_after) VALUES (?, ?, 1, ?)');
  const sellSafely = db.transaction((customer: string, ref: string) => {
    const left = (read.get('gala') as { seats_left: number }).seats_left;
    if (left < 1) return undefined;
    write.run(left - 1, 'gala');
    book.run(customer, ref, left - 1);
    return left - 1;
  });

  const server: Server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const { customer, ref } = JSON.parse(body) as { customer: string; ref: string };
    let left: number | undefined;
    if (safe) {
      left = sellSafely(customer, ref);
    } else {
      const seen = (read.get('gala') as { seats_left: number }).seats_left;
      if (seen >= 1) {
        await new Promise((resolve) => setImmediate(resolve));
        write.run(seen - 1, 'gala');
        book.run(customer, ref, seen - 1);
        left = seen - 1;
      }
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(left === undefined ? { ok: false, reason: 'gone' } : { ok: true, order: { left } }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/api/tickets`,
    dbPath,
    close: async () => {
      server.close();
      server.closeAllConnections();
      db.close();
    },
  };
}
