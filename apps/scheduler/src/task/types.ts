import type { TaskCompletedData } from '@propeller/events';

export type { TaskFailureReason, TaskSpec } from '@propeller/events';
/** A result as a proplet reported it: any JSON value, stored unchanged. */
export type JsonValue = TaskCompletedData['results'];
