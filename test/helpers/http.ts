import { Pool } from 'undici';

/** One HTTP answer, body parsed as JSON when it is JSON. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  /** The raw body text. */
  text: string;
}

export interface Call {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent as is when a string; otherwise serialised as JSON with a JSON content type. */
  body?: unknown;
}

/** A client for one server; `close()` it in after(). */
export class Client {
  private readonly pool: Pool;

  constructor(origin: string, connections = 64) {
    this.pool = new Pool(origin, { connections, pipelining: 1 });
  }

  async call(call: Call): Promise<Answer> {
    const headers: Record<string, string> = { ...call.headers };
    let body: string | undefined;
    if (typeof call.body === 'string') body = call.body;
    else if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await this.pool.request({ method: (call.method ?? 'GET') as 'GET', path: call.path, headers, body });
    const text = await response.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.statusCode, headers: response.headers, body: parsed, text };
  }

  buy(body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.call({ method: 'POST', path: '/buy', body, headers });
  }

  inventory(sku?: string): Promise<Answer> {
    return this.call({ path: sku ? `/inventory/${encodeURIComponent(sku)}` : '/inventory' });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Counts answers by status code, e.g. `{ 200: 100, 410: 900 }`. */
export function countStatuses(answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const answer of answers) counts[answer.status] = (counts[answer.status] ?? 0) + 1;
  return counts;
}
