import type { Scenario } from '../harness';
import { scenario as config } from './config';
import { scenario as eventstore } from './eventstore';
import { scenario as heartbeats } from './heartbeats';
import { scenario as failover } from './failover';
import { scenario as proplet } from './proplet';
import { scenario as scheduling } from './scheduling';

/**
 * Every scenario `npm run bench` knows. To add one: write `scenarios/<name>.ts` exporting
 * `scenario: Scenario` (see ../harness.ts) and list it here.
 */
export const scenarios: readonly Scenario[] = [config, eventstore, failover, heartbeats, proplet, scheduling];
