import { DatabaseUnreachableError, FlashsaleError } from '../src/errors.js';

/**
 * What failing to get a connection means to the user: the driver's error as
 * the adapter translated it when it is one of ours (a lock timeout while
 * connecting, say), otherwise "cannot reach" the database, as one line.
 */
export function connectError(translated: unknown, original: unknown, label: string): FlashsaleError {
  if (translated instanceof FlashsaleError) return translated;
  const reason = (original as Error)?.message || (original as { code?: string })?.code || String(original);
  return new DatabaseUnreachableError(`cannot reach ${label}: ${reason}`, { cause: original });
}
