// Entry point of each `serve --workers N` process (node:cluster runs this file).
import { FlashsaleError } from '../src/errors.js';
import type { ServeOptions } from './launcher.js';
import type { PrimaryMessage, WorkerMessage } from './worker-protocol.js';

const options = JSON.parse(process.env.FLASHSALE_WORKER_OPTIONS ?? '{}') as ServeOptions;
const send = (message: WorkerMessage) => process.send?.(message);

let stop: (() => Promise<void>) | undefined;
let stopRequested = false;
const disconnect = () => {
  if (process.connected) process.disconnect();
};
const shutdown = () => {
  stopRequested = true;
  if (stop) void stop().then(disconnect);
};
// Listening from the first moment: a STOP (or signal) that arrives while the
// worker is still starting — a replacement the primary has just forked, say —
// must not be lost, or that worker would serve on after everyone else left.
// Ctrl-C reaches every process of the group; SIGTERM and STOP come from the
// primary; a vanished primary (disconnect) must not leave orphans serving.
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
process.once('disconnect', shutdown);
process.on('message', (message: PrimaryMessage) => {
  if (message.cmd === 'STOP') shutdown();
});

try {
  // Loaded only now, so that the listeners above are in place within
  // moments of the process starting, not after the whole server is imported.
  const { runWorker } = await import('./launcher.js');
  stop = await runWorker(options, send);
  if (stopRequested) shutdown();
} catch (error) {
  const code = error instanceof FlashsaleError ? error.code : 'FS_INTERNAL';
  send({ cmd: 'FAILED', code, message: (error as Error).message });
  disconnect();
}
