import { CommitUnknownError, ConnectionLostError, FlashsaleError } from '../src/errors.js';
import type { Adapter, Session } from './adapter.js';

/**
 * Runs `work` on one connection and always gives it back. A connection whose
 * driver threw is discarded rather than reused, because its state (an open
 * transaction, a half-read result) is no longer known, and so is one that
 * was lost; our other typed errors (unknown sku, lock timeout) leave it clean.
 */
export async function withSession<T>(adapter: Adapter, work: (session: Session) => Promise<T>): Promise<T> {
  const session = await adapter.acquire();
  let broken = false;
  try {
    return await work(session);
  } catch (error) {
    broken = !(error instanceof FlashsaleError) || error instanceof ConnectionLostError;
    throw error;
  } finally {
    adapter.release(session, broken);
  }
}

/**
 * Begin, run, commit; on any error roll back (only if begun) and rethrow.
 * Written once here so that every strategy on every database gets the same
 * all-or-nothing behaviour: the decrement and its ledger row land together or
 * not at all.
 */
export async function withTransaction<T>(adapter: Adapter, work: (session: Session) => Promise<T>): Promise<T> {
  const session = await adapter.acquire();
  let begun = false;
  let committing = false;
  let broken = false;
  try {
    await session.begin();
    begun = true;
    const result = await work(session);
    committing = true;
    await session.commit();
    return result;
  } catch (error) {
    if (committing && error instanceof ConnectionLostError) {
      // The connection broke with COMMIT in flight: the database may have
      // committed and lost only the acknowledgement, or rolled back. Claiming
      // either would be a guess, and "refused, retry" would deny a sale that
      // may have happened; so the buyer hears "unknown", which the request
      // id in the ledger settles. Any other COMMIT error (a serialization
      // failure) is the database saying it rolled back, and stays as it is.
      broken = true;
      throw new CommitUnknownError(`the outcome of COMMIT is unknown: ${error.message}`, { cause: error });
    }
    if (begun) {
      try {
        await session.rollback();
      } catch {
        // The connection is in an unknown state; it is discarded below and the
        // original error is the one worth reporting.
        broken = true;
      }
    } else {
      broken = true;
    }
    throw error;
  } finally {
    adapter.release(session, broken);
  }
}

/**
 * Begin read-only, run, and always roll back: `verify` reads, and a rollback
 * is what guarantees that nothing the user's SQL did can last, even on a
 * database that would let a statement slip past the read-only flag. Written
 * once here, like withTransaction, for every database.
 */
export async function withReadOnlyTransaction<T>(adapter: Adapter, work: (session: Session) => Promise<T>): Promise<T> {
  const session = await adapter.acquire();
  let begun = false;
  let broken = false;
  try {
    await session.beginReadOnly();
    begun = true;
    return await work(session);
  } catch (error) {
    broken = !(error instanceof FlashsaleError);
    throw error;
  } finally {
    if (begun) {
      try {
        await session.rollback();
      } catch {
        broken = true;
      }
    } else {
      broken = true;
    }
    adapter.release(session, broken);
  }
}
