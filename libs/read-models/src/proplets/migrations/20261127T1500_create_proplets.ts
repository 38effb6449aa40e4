/* eslint-disable @typescript-eslint/no-explicit-any -- migrations are frozen against Kysely<any>, never app types (STYLE.md 14) */
import { sql, type Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one instead.

/** The `proplets` read model and the indexes behind `listProplets` filters. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('proplets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('k8s', 'external')`))
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('capabilities', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('capacity', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('max_tasks', 'integer')
    .addColumn('health', 'text', (c) => c.notNull().check(sql`health in ('unknown', 'healthy', 'offline', 'failed')`))
    .addColumn('observed_at', 'timestamptz', (c) => c.notNull())
    .addColumn('cordoned', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('domain_id', 'text', (c) => c.notNull())
    .addColumn('channel_id', 'text', (c) => c.notNull())
    .addColumn('layout', 'text', (c) => c.notNull().check(sql`layout in ('messages', 'direct')`))
    .addColumn('per_proplet_topics', 'boolean', (c) => c.notNull())
    .addColumn('dialect', 'text', (c) => c.notNull().check(sql`dialect in ('wasmtime', 'wamr')`))
    .addColumn('extension_version', 'integer')
    .addColumn('task_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('running_task_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('owner', 'jsonb')
    .addColumn('registered_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('proplets_type_idx').on('proplets').column('type').execute();
  await db.schema.createIndex('proplets_health_idx').on('proplets').column('health').execute();
  await db.schema.createIndex('proplets_device_type_idx').on('proplets').column('device_type').execute();
  await db.schema.createIndex('proplets_capabilities_idx').on('proplets').using('gin').column('capabilities').execute();
  await db.schema.createIndex('proplets_labels_idx').on('proplets').using('gin').expression(sql`labels jsonb_path_ops`).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('proplets').execute();
}
