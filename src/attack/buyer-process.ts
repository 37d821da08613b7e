// Entry of one attacking child process, forked by the coordinator. It only
// translates the message protocol (protocol.ts) into calls on BuyerProcess.

import { BuyerProcess } from './buyer.js';
import { POOLED_ARGUMENT } from './buyer-pool.js';
import { FlowBuyer } from './flow-buyer.js';
import type { ChildMessage, ParentMessage } from './protocol.js';

let buyer: BuyerProcess | FlowBuyer | undefined;
/** A pooled process waits for the next attack's INIT after its RESULT; the pool ends it by disconnecting. */
const pooled = process.argv.includes(POOLED_ARGUMENT);

function send(message: ChildMessage, then?: () => void): void {
  if (!process.connected) return;
  process.send!(message, undefined, {}, (error) => {
    if (!error) then?.();
  });
}

// Ctrl-C in a terminal reaches the whole process group. The coordinator
// decides what it means (stop, keep what was written, summarise), and tells
// this process with STOP; the signal itself is ignored here.
process.on('SIGINT', () => undefined);

// The coordinator is gone (killed, or done with us): drop every connection so
// the process can end; nothing else keeps it alive.
process.on('disconnect', () => buyer?.destroy());

process.on('message', (message: ParentMessage) => {
  switch (message.cmd) {
    case 'INIT':
      // `attack --flow`: the same protocol, a multi-step loop per buyer.
      buyer = message.plan.flow ? new FlowBuyer(message.plan, (child) => send(child)) : new BuyerProcess(message.plan, (child) => send(child));
      buyer.connect().then(
        (ready) => send(ready),
        (error: unknown) => fail(error),
      );
      break;
    case 'START': {
      const running = buyer;
      running?.run(BigInt(message.t0)).then(
        // Disconnect only once RESULT is through the channel: nothing is left
        // to do, and without the channel the process ends by itself.
        (result) =>
          send(result, () =>
            void running.close().finally(() => {
              if (!pooled) process.disconnect();
            }),
          ),
        (error: unknown) => fail(error),
      );
      break;
    }
    case 'ACK':
      buyer?.ack();
      break;
    case 'STOP':
      buyer?.stop(message.graceMs);
      break;
  }
});

function fail(error: unknown): void {
  send({ cmd: 'FAILED', message: (error as Error)?.stack ?? String(error) }, () => process.disconnect());
  buyer?.destroy();
}
