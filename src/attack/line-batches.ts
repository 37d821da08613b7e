import type { OpsMessage } from './protocol.js';

/**
 * A child's history lines on their way to the coordinator, with its flow
 * control: lines go in OPS batches of up to `batchLines`, and at most
 * `credits` batches may be unacknowledged (each ACK returns one), so a
 * coordinator slowed by its disk slows the child instead of filling memory.
 * `counts` travels with each batch (outcome or step counts, by slot).
 */
export class LineBatches {
  private text = '';
  private lines = 0;
  private counts: number[];

  constructor(
    private readonly send: (message: OpsMessage) => void,
    /** An empty count array, in the layout the OPS message carries. */
    private readonly newCounts: () => number[],
    /** Builds the OPS message from the lines and their counts. */
    private readonly message: (lines: string, counts: number[]) => OpsMessage,
    private readonly batchLines: number,
    private credits: number,
  ) {
    this.counts = newCounts();
  }

  /** Lines waiting to be sent (the child starts nothing new while too many wait). */
  get held(): number {
    return this.lines;
  }

  /** Appends one whole line (newline included) counted at `slot`; sends the batch once it is full. */
  add(line: string, slot: number): void {
    this.text += line;
    this.counts[slot]! += 1;
    this.lines += 1;
    if (this.lines >= this.batchLines) this.flush();
  }

  /** The coordinator wrote one batch: one more may go. */
  ack(): void {
    this.credits += 1;
    this.flush();
  }

  /** Sends what waits if a credit allows it; `last` sends it regardless (the final batch before RESULT). */
  flush(last = false): void {
    if (this.lines === 0 || (this.credits === 0 && !last)) return;
    this.credits -= 1;
    this.send(this.message(this.text, this.counts));
    this.text = '';
    this.lines = 0;
    this.counts = this.newCounts();
  }
}
