// The messages between `flashsale serve`'s primary and its cluster workers.
// Small and explicit: a worker reports READY (with the port it shares) or
// FAILED once; the primary sends STOP once.

export type WorkerMessage =
  | { cmd: 'READY'; port: number }
  | { cmd: 'FAILED'; code: string; message: string };

export type PrimaryMessage = { cmd: 'STOP' };
