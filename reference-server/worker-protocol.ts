// The messages between `flashsale serve`'s primary and its cluster workers.
// Small and explicit: a worker reports READY (with the port it shares) or
// FAILED once; the primary sends STOP once. GET /metrics (metrics.ts): the
// worker scraped sends METRICS_ASK; the primary sends every ready worker
// METRICS_COLLECT, each answers METRICS_PART (its figures as prom-client
// JSON), and the asker gets METRICS_TOTAL (the summed text, or an error).

export type WorkerMessage =
  | { cmd: 'READY'; port: number }
  | { cmd: 'FAILED'; code: string; message: string }
  | { cmd: 'METRICS_ASK'; id: number }
  | { cmd: 'METRICS_PART'; id: number; metrics: unknown[]; error?: string };

export type PrimaryMessage =
  | { cmd: 'STOP' }
  | { cmd: 'METRICS_COLLECT'; id: number }
  | { cmd: 'METRICS_TOTAL'; id: number; text: string; error?: string };
