/** Why a payload was rejected; the gateway counts rejections by this reason. */
export type RejectionReason = 'not_json' | 'not_object' | 'missing_field' | 'invalid_field' | 'too_large';

/** Every rejection reason, for metrics labels and tests. */
export const REJECTION_REASONS: readonly RejectionReason[] = ['not_json', 'not_object', 'missing_field', 'invalid_field', 'too_large'];

/** A payload the protocol does not accept: the reason, the field (dotted path, e.g. `metadata.tags[2]`) and a message naming the value and what was expected. */
export interface Rejection {
  readonly ok: false;
  readonly reason: RejectionReason;
  readonly field?: string;
  readonly message: string;
}

/** A payload the protocol accepts, normalised (see each message type). */
export interface Accepted<T> {
  readonly ok: true;
  readonly value: T;
}

/** Outcome of every `parse*` function: never throws. */
export type ParseResult<T> = Accepted<T> | Rejection;
