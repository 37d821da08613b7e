// Entry point of each `serve --workers N` process (node:cluster runs this file).
import { FlashsaleError } from '../src/errors.js';
import { runWorker, type ServeOptions } from './launcher.js';
import type { PrimaryMessage, WorkerMessage } from './worker-protocol.js';

const options = JSON.parse(process.env.FLASHSALE_WORKER_OPTIONS ?? '{}') as ServeOptions;
const send = (message: WorkerMessage) => process.send?.(message);

try {
  const stop = await runWorker(options, send);
  const shutdown = () => {
    void stop().then(() => process.disconnect?.());
  };
  // Ctrl-C reaches every process of the group; SIGTERM and STOP come from the
  // primary; a vanished primary (disconnect) must not leave orphans serving.
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.once('disconnect', shutdown);
  process.on('message', (message: PrimaryMessage) => {
    if (message.cmd === 'STOP') shutdown();
  });
} catch (error) {
  const code = error instanceof FlashsaleError ? error.code : 'FS_INTERNAL';
  send({ cmd: 'FAILED', code, message: (error as Error).message });
  process.disconnect?.();
}
