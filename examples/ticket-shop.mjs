// A ticket shop that is NOT shaped like flashsale's reference server: its own
// route, its own schema, and 200 for every answer with the verdict in the
// body. The README's "Use it on your own server in CI" attacks and verifies it.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node examples/ticket-shop.mjs
//   POST /api/tickets {"customer":"…","ref":"…"} -> 200 {"ok":true,"order":{"no":7,"left":41}}
//                                                or 200 {"ok":false,"reason":"gone"}
import { createServer } from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const seats = Number(process.env.SEATS ?? 50);
const port = Number(process.env.PORT ?? 8080);

await pool.query(`
  CREATE TABLE IF NOT EXISTS shows (name TEXT PRIMARY KEY, seats_left INTEGER NOT NULL CHECK (seats_left >= 0));
  CREATE TABLE IF NOT EXISTS bookings (booking_no SERIAL PRIMARY KEY, show TEXT NOT NULL, customer TEXT NOT NULL,
                                       ref TEXT UNIQUE NOT NULL, seats INTEGER NOT NULL, left_after INTEGER NOT NULL);
  DELETE FROM bookings WHERE show = 'gala';
  INSERT INTO shows VALUES ('gala', ${seats}) ON CONFLICT (name) DO UPDATE SET seats_left = EXCLUDED.seats_left;`);

async function book(customer, ref) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query("SELECT seats_left FROM shows WHERE name = 'gala' FOR UPDATE");
    if (rows[0].seats_left < 1) {
      await client.query('ROLLBACK');
      return { ok: false, reason: 'gone' };
    }
    const left = rows[0].seats_left - 1;
    await client.query("UPDATE shows SET seats_left = $1 WHERE name = 'gala'", [left]);
    const booked = await client.query("INSERT INTO bookings (show, customer, ref, seats, left_after) VALUES ('gala', $1, $2, 1, $3) RETURNING booking_no", [customer, ref, left]);
    await client.query('COMMIT');
    return { ok: true, order: { no: booked.rows[0].booking_no, left } };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

createServer(async (request, response) => {
  let body = '';
  for await (const chunk of request) body += chunk;
  try {
    const { customer, ref } = JSON.parse(body);
    const answer = await book(String(customer), String(ref));
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  } catch (error) {
    response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, reason: String(error) }));
  }
}).listen(port, '127.0.0.1', () => console.log(`ticket shop: ${seats} seats for the gala on http://127.0.0.1:${port}/api/tickets`));
