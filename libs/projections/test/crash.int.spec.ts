import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { sql } from 'kysely';
import { getCheckpoint, waitForSequence } from '../src';
import { TEST_DATABASE_URL } from '../src/testing';
import { ledgerProjection } from './ledger';
import { balances, openEnv, type TestEnv } from './env';
import { expectedBalances, lastOf, ledgerEvents, publishLedger } from './support';

const ROOT = path.resolve(__dirname, '../../..');

/** Resolves once the child printed `line`; rejects if it exits first or takes longer than `timeoutMs`. */
function waitForLine(child: ChildProcess, line: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`child did not print ${line} within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before ${line}; stderr: ${err}`));
    });
  });
}

describe('a projection killed mid-batch (real NATS + Postgres, child process)', () => {
  let env: TestEnv;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    env = await openEnv();
  });
  afterAll(async () => {
    // A child left alive would hold its transaction open and block dropping the schema.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await env.close();
  });

  it('is finished by a new runner with every event applied exactly once', async () => {
    const events = ledgerEvents(1200);
    const seqs = await publishLedger(env.nc, env.names, events);

    // Batches of 500: 750 applied means the first batch is committed and the second is half-way, uncommitted.
    // `node --import tsx`, not the tsx CLI: the CLI runs the script in a grandchild that a SIGKILL would orphan.
    child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'crash-child.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        PREFIX: env.names.prefix,
        SCHEMA: env.schema,
        DATABASE_URL: TEST_DATABASE_URL,
        KILL_AFTER: '750',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitForLine(child, 'MID-BATCH', 25_000);

    // While the child hangs mid-transaction, the database holds exactly its first batch and its checkpoint.
    expect((await getCheckpoint(env.db, 'ledger'))?.seq).toBe(seqs[499]);
    const committed = await env.db.selectFrom('ledger_entries').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
    expect(committed.n).toBe(500);

    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    // The dead child never released its lease: the new runner takes over once the lease TTL has passed.
    const { runner } = env.runner([ledgerProjection()]);
    runner.start();
    expect(await waitForSequence(env.db, 'ledger', lastOf(seqs), 20_000)).toBe(true);

    const counts = await env.db
      .selectFrom('ledger_entries')
      .select([sql<number>`count(*)::int`.as('rows'), sql<number>`count(distinct seq)::int`.as('distinct')])
      .executeTakeFirstOrThrow();
    expect(counts).toEqual({ rows: 1200, distinct: 1200 });
    expect(await balances(env.db)).toEqual(expectedBalances(events));
    // Usually ~15 s; the child's start (tsx compiling under a loaded CPU) and the lease TTL need headroom.
  }, 45_000);
});
