/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen against Kysely<any>, never app types (STYLE.md 14) */
import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one instead.

/** The `tasks` read model with its timeline `task_events`, and the indexes behind `listTasks` filters. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('function_name', 'text', (c) => c.notNull())
    .addColumn('module', 'jsonb')
    .addColumn('image_url', 'text')
    .addColumn('inputs', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('cli_args', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('env', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('daemon', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('proplet_selector', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('preferred_proplet_type', 'text', (c) => c.notNull().check(sql`preferred_proplet_type in ('k8s', 'external', 'any')`))
    .addColumn('resource_requirements', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('timeout_ms', 'bigint')
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('owner', 'jsonb')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('created', 'pending', 'scheduled', 'running', 'completed', 'failed', 'stopped')`),
    )
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('proplet_id', 'text')
    .addColumn('wire_id', 'text')
    .addColumn('results', 'jsonb')
    .addColumn('error', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('unschedulable_reasons', 'jsonb')
    .addColumn('explanation', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz')
    .addColumn('scheduled_at', 'timestamptz')
    .addColumn('running_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tasks_status_idx').on('tasks').column('status').execute();
  await db.schema.createIndex('tasks_proplet_id_idx').on('tasks').columns(['proplet_id', 'status']).execute();
  await db.schema.createIndex('tasks_created_at_idx').on('tasks').columns(['created_at', 'id']).execute();
  await db.schema
    .createTable('task_events')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('task_events_task_id_idx').on('task_events').columns(['task_id', 'seq']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('task_events').execute();
  await db.schema.dropTable('tasks').execute();
}
