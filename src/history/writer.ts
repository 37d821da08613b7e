import { open, type FileHandle } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { FaultRecord, HistoryEnd, HistoryMeta, OpRecord, StepRecord } from './types.js';

// Times are nanoseconds from process.hrtime.bigint(); they can exceed 2^53, so
// they are written as decimal integer literals from bigint.toString(), never
// through a JS number (which would round them) and never as strings.

/** One op line, newline included, with DESIGN.md's field order. */
export function formatOpLine(op: OpRecord): string {
  return (
    `{"kind":"op","process":${op.process},"buyer":${JSON.stringify(op.buyer)},"request_id":${JSON.stringify(op.request_id)}` +
    `,"type":"${op.type}","outcome":"${op.outcome}","t_inv":${op.t_inv.toString()},"t_cmp":${op.t_cmp.toString()}` +
    `,"status":${op.status === null ? 'null' : op.status},"remaining":${op.remaining === null ? 'null' : op.remaining}` +
    `,"purchase_id":${op.purchase_id === null ? 'null' : JSON.stringify(op.purchase_id)}` +
    `,"error":${op.error === null ? 'null' : JSON.stringify(op.error)}}\n`
  );
}

/** One step line of a flow, newline included, in the field order of StepRecord. */
export function formatStepLine(step: StepRecord): string {
  return (
    `{"kind":"step","process":${step.process},"buyer":${JSON.stringify(step.buyer)},"flow_id":${JSON.stringify(step.flow_id)}` +
    `,"step":"${step.step}","request_id":${JSON.stringify(step.request_id)}` +
    `,"type":"${step.type}","outcome":"${step.outcome}","t_inv":${step.t_inv.toString()},"t_cmp":${step.t_cmp.toString()}` +
    `,"status":${step.status === null ? 'null' : step.status}` +
    `,"reservation_id":${step.reservation_id === null ? 'null' : JSON.stringify(step.reservation_id)}` +
    `,"quantity":${step.quantity},"remaining":${step.remaining === null ? 'null' : step.remaining}` +
    `,"ttl_ms":${step.ttl_ms === null ? 'null' : step.ttl_ms}` +
    `,"error":${step.error === null ? 'null' : JSON.stringify(step.error)}}\n`
  );
}

/** The meta line, newline included. */
export function formatMetaLine(meta: HistoryMeta): string {
  const { ready_at, released_at, ...plain } = meta;
  const json = JSON.stringify(plain);
  return `${json.slice(0, -1)},"ready_at":${ready_at.toString()},"released_at":${released_at.toString()}}\n`;
}

/** The end line, newline included: the last line of a history that is whole. */
export function formatEndLine(end: HistoryEnd): string {
  return `{"kind":"end","planned":${end.planned},"recorded":${end.recorded},"reason":"${end.reason}"}\n`;
}

/** A fault line, newline included; its times are hrtime ns like an op's. */
export function formatFaultLine(fault: FaultRecord): string {
  return (
    `{"kind":"fault","name":${JSON.stringify(fault.name)},"detail":${JSON.stringify(fault.detail)}` +
    `,"t_start":${fault.t_start.toString()},"t_end":${fault.t_end.toString()}` +
    `,"error":${fault.error === null ? 'null' : JSON.stringify(fault.error)}}\n`
  );
}

/**
 * Appends to one history file as operations complete. `write` resolves once
 * the text has been handed to the operating system, which is what lets the
 * coordinator acknowledge a child's batch only when it is on its way to disk:
 * memory stays bounded however many buyers there are.
 */
export class HistoryWriter {
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    /** The file as the user named it. */
    readonly path: string,
    private readonly stream: WriteStream,
  ) {
    stream.on('error', (error) => {
      this.failure ??= historyError(path, error);
    });
  }

  /** Creates (or truncates) the file now, so an unwritable path fails before any request is sent. */
  static async create(path: string): Promise<HistoryWriter> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'w');
    } catch (error) {
      throw historyError(path, error);
    }
    // 64 KiB chunks: op lines arrive in batches, so fewer, larger writes.
    return new HistoryWriter(path, handle.createWriteStream({ highWaterMark: 64 * 1024 }));
  }

  /** The first write error, if any; once set, every later write rejects with it. */
  get error(): Error | undefined {
    return this.failure;
  }

  writeMeta(meta: HistoryMeta): Promise<void> {
    return this.write(formatMetaLine(meta));
  }

  /** Appends text made of whole lines (as `formatOpLine` makes them). */
  write(text: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`history ${this.path}: write after close`));
    return new Promise((resolve, reject) => {
      this.stream.write(text, (error) => {
        if (error) reject((this.failure ??= historyError(this.path, error)));
        else resolve();
      });
    });
  }

  /** Flushes and closes; rejects if any write failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The stream owns the file handle (autoClose) and emits 'close' once it
    // has flushed and closed it, or after an error.
    await new Promise<void>((resolve) => {
      if (this.stream.closed) resolve();
      else {
        this.stream.once('close', () => resolve());
        this.stream.end();
      }
    });
    if (this.failure) throw this.failure;
  }
}

const REASONS: Record<string, string> = {
  ENOENT: 'its folder does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

function historyError(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException)?.code;
  const reason = code ? `${REASONS[code] ?? code} (${code})` : ((error as Error)?.message ?? String(error));
  return new ConfigError(`cannot write the history file ${path}: ${reason}`, { cause: error });
}
