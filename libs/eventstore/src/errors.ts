import { ConflictError } from '@propeller/events';

/** Details of a lost optimistic-concurrency race on one aggregate subject. */
export interface ConcurrencyDetails {
  aggregate: string;
  aggregateId: string;
  expectedSequence: number;
  [key: string]: unknown;
}

/**
 * An append whose `expectedSequence` was not the aggregate's last sequence: someone else
 * appended first. It is a `Conflict` on the wire; the generic command handler retries it.
 */
export class ConcurrencyError extends ConflictError {
  readonly aggregate: string;
  readonly aggregateId: string;
  readonly expectedSequence: number;

  constructor(details: ConcurrencyDetails, options?: { cause?: unknown }) {
    super(
      `${details.aggregate} ${details.aggregateId} moved past sequence ${details.expectedSequence}`,
      options?.cause === undefined ? { details } : { details, cause: options.cause },
    );
    this.name = 'ConcurrencyError';
    this.aggregate = details.aggregate;
    this.aggregateId = details.aggregateId;
    this.expectedSequence = details.expectedSequence;
  }
}

/** True for the store's own optimistic-concurrency failure (not for any `Conflict`). */
export const isConcurrencyError = (e: unknown): e is ConcurrencyError => e instanceof ConcurrencyError;
