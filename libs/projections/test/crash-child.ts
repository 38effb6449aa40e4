/**
 * Child process for crash.int.spec.ts: runs the ledger projection and, after `KILL_AFTER` applied events, says
 * `MID-BATCH` on stdout and hangs inside the open transaction until the parent SIGKILLs it.
 */
import { Registry } from 'prom-client';
import { natsNames } from '@propeller/events';
import { createDb, ProjectionRunner } from '../src';
import { ledgerProjection, type LedgerDB } from './ledger';
import { connectTest } from '@propeller/eventstore/testing';

async function main(): Promise<void> {
  const env = (k: string): string => {
    const v = process.env[k];
    if (v === undefined) throw new Error(`${k} is required`);
    return v;
  };
  const killAfter = Number(env('KILL_AFTER'));
  const names = natsNames(env('PREFIX'));
  const nc = await connectTest('projections-crash-child');
  const db = createDb<LedgerDB>({ url: env('DATABASE_URL'), schema: env('SCHEMA'), poolMax: 1 });
  const runner = new ProjectionRunner({
    nc,
    names,
    db,
    registry: new Registry(),
    projections: [
      ledgerProjection({
        afterApply: async (applied) => {
          if (applied !== killAfter) return;
          process.stdout.write('MID-BATCH\n');
          await new Promise(() => undefined); // never resolves: the transaction stays open until the kill
        },
      }),
    ],
  });
  runner.start();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
