import type { NatsConnection } from '@nats-io/transport-node';
import { sql, type Kysely } from 'kysely';
import type { HealthCheck } from './health';

/** `/health` check: the NATS connection is open and answers a round trip. */
export function natsCheck(nc: NatsConnection): HealthCheck {
  return async () => {
    if (nc.isClosed()) return { status: 'fail', detail: 'connection closed' };
    await nc.rtt();
    return true;
  };
}

/** `/health` check: Postgres answers a query. */
export function postgresCheck<DB>(db: Kysely<DB>): HealthCheck {
  return async () => {
    await sql`select 1`.execute(db);
    return true;
  };
}
