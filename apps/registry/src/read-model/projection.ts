import type { Kysely, Transaction } from 'kysely';
import { LEASE_NAMES, eventTypesOf, parseStoredEvent, type PropletEvent, type StoredEnvelope } from '@propeller/events';
import type { Projection } from '@propeller/projections';
import { deleteAllProplets, deleteProplet, loadPropletState, upsertProplet, type ReadModelTables } from '@propeller/read-models';
import { propletDecider } from '../proplet/decider';
import type { PropletState } from '../proplet/state';
import { propletRow } from './row';

/** Name of the projection (its checkpoint row, metric label and lease `projection.proplets`). */
export const PROPLETS_PROJECTION = 'proplets';
/** Lease key of the replica that runs the projection. */
export const PROPLETS_PROJECTION_LEASE = LEASE_NAMES.projection(PROPLETS_PROJECTION);

/**
 * Applies one Proplet event to the `proplets` table. The row keeps the folded aggregate state and
 * the event is folded with the decider's own `evolve`, so the read model and the aggregate never
 * disagree. An active proplet is upserted with its effective values; any other outcome (a
 * deregistration) removes the row. A proplet without a row folds from the initial state: for every
 * event but `PropletRegistered`, an absent and a deregistered proplet evolve alike.
 */
export async function applyPropletEvent(trx: Kysely<ReadModelTables>, stored: StoredEnvelope): Promise<void> {
  const event = parseStoredEvent(stored);
  if (event.aggregate !== 'proplet') return;
  const id = event.aggregateId;
  const current = await loadPropletState(trx, id);
  const before = (current?.state as PropletState | undefined) ?? propletDecider.initialState();
  const after = propletDecider.evolve(before, { type: event.type, data: event.data } as PropletEvent);
  if (after.status === 'active') {
    await upsertProplet(trx, propletRow(id, after, { occurredAt: event.occurredAt, seq: event.seq }));
  } else if (current !== undefined) {
    await deleteProplet(trx, id);
  }
}

/** The `proplets` projection, for a `ProjectionRunner`: Proplet events only, read from `<p>.events.proplet.*`. */
export const propletsProjection: Projection<ReadModelTables> = {
  name: PROPLETS_PROJECTION,
  aggregate: 'proplet',
  types: eventTypesOf('proplet'),
  apply: (trx: Transaction<ReadModelTables>, event: StoredEnvelope) => applyPropletEvent(trx, event),
  reset: (trx: Transaction<ReadModelTables>) => deleteAllProplets(trx),
};
