import type { PropellerConfig } from '@propeller/config';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { NatsNames } from '@propeller/events';

/** Options of `provision`; every field has a production default. */
export interface ProvisionOptions {
  /** Stream and bucket replicas (default 1; 3 on a NATS cluster). */
  replicas?: number;
  /** Window in which a re-sent envelope id is stored once (default 2 min). */
  duplicateWindowMs?: number;
  /** Byte limit of the event stream; appends past it are refused, never dropped (default 1 GiB). */
  maxBytes?: number;
  /** Byte limit of the dead-letter stream (default 256 MiB, refusing new when full). */
  dlqMaxBytes?: number;
  /** Lease lifetime without renewal = max age of the leases bucket (default 10 s). */
  leaseTtlMs?: number;
  /** How long the device metrics history stream keeps entries (default 24 h). */
  metricsMaxAgeMs?: number;
}

/** What `provision` did to each resource. */
export interface ProvisionReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** Window in which a re-sent envelope id is stored once: 2 min. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60_000;
/** Byte limit of the event stream: 1 GiB (appends past it are refused). */
export const DEFAULT_MAX_BYTES = 1024 ** 3;
/** Byte limit of the dead-letter stream: 256 MiB. */
export const DEFAULT_DLQ_MAX_BYTES = 256 * 1024 ** 2;
/** Lease lifetime without renewal: 10 s. */
export const DEFAULT_LEASE_TTL_MS = 10_000;
/** How long device metrics history is kept: 24 h. */
export const DEFAULT_METRICS_MAX_AGE_MS = 24 * 3_600_000;

/** JetStream's name for the stream behind a KV bucket. */
export const kvStreamName = (bucket: string): string => `KV_${bucket}`;
/** JetStream's name for the stream behind an object store. */
export const objStreamName = (store: string): string => `OBJ_${store}`;

/**
 * Creates or converges every JetStream resource of one prefix: the event stream, the DLQ and
 * metrics streams, the KV buckets and the module object store. Idempotent: a second run with
 * the same options reports everything unchanged; a drifted limit is updated in place (JetStream
 * refuses some changes, e.g. storage type, and that error is thrown as is).
 */
export async function provision(nc: NatsConnection, names: NatsNames, opts: ProvisionOptions = {}): Promise<ProvisionReport> {
  const replicas = opts.replicas ?? 1;
  const leaseTtlMs = opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const jsm = await jetstreamManager(nc);
  const report: ProvisionReport = { created: [], updated: [], unchanged: [] };
  const note = (name: string, outcome: keyof ProvisionReport): void => {
    report[outcome].push(name);
  };

  note(
    names.stream,
    await ensureStream(jsm, {
      name: names.stream,
      subjects: [names.streamSubjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: replicas,
      duplicate_window: nanos(opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS),
      max_bytes: opts.maxBytes ?? DEFAULT_MAX_BYTES,
      // A full log refuses appends (the caller sees the error) instead of silently dropping history.
      discard: DiscardPolicy.New,
    }),
  );
  note(
    names.dlqStream,
    await ensureStream(jsm, {
      name: names.dlqStream,
      subjects: [`${names.prefix}.dlq.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: replicas,
      max_bytes: opts.dlqMaxBytes ?? DEFAULT_DLQ_MAX_BYTES,
      discard: DiscardPolicy.New,
    }),
  );
  note(
    names.metricsStream,
    await ensureStream(jsm, {
      name: names.metricsStream,
      subjects: [`${names.prefix}.metrics.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: replicas,
      max_age: nanos(opts.metricsMaxAgeMs ?? DEFAULT_METRICS_MAX_AGE_MS),
      discard: DiscardPolicy.Old,
    }),
  );

  const kvm = new Kvm(nc);
  const buckets: Array<[string, number | undefined]> = [
    [names.kv.liveness, undefined],
    [names.kv.leases, leaseTtlMs],
    [names.kv.snapshots, undefined],
    [names.kv.metrics, undefined],
  ];
  for (const [bucket, ttl] of buckets) {
    note(bucket, await ensureBucket(jsm, kvm, bucket, replicas, ttl));
  }

  const objStream = objStreamName(names.modules);
  if (await streamInfo(jsm, objStream)) {
    note(names.modules, await ensureStream(jsm, { name: objStream, num_replicas: replicas }));
  } else {
    await new Objm(nc).create(names.modules, { storage: StorageType.File, replicas });
    note(names.modules, 'created');
  }
  return report;
}

async function ensureBucket(jsm: JetStreamManager, kvm: Kvm, bucket: string, replicas: number, ttlMs?: number): Promise<keyof ProvisionReport> {
  const stream = kvStreamName(bucket);
  if (!(await streamInfo(jsm, stream))) {
    await kvm.create(bucket, { history: 1, replicas, storage: StorageType.File, ...(ttlMs === undefined ? {} : { ttl: ttlMs }) });
    return 'created';
  }
  const maxAge = ttlMs === undefined ? 0 : nanos(ttlMs);
  // The server requires duplicate_window <= max_age, so a TTL change moves both.
  const dup = ttlMs === undefined ? nanos(DEFAULT_DUPLICATE_WINDOW_MS) : nanos(Math.min(ttlMs, DEFAULT_DUPLICATE_WINDOW_MS));
  return ensureStream(jsm, { name: stream, num_replicas: replicas, max_age: maxAge, duplicate_window: dup });
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (e) {
    if (isStreamNotFound(e)) return null;
    throw e;
  }
}

/** True for JetStream's "stream not found" in any of the client's spellings. */
export function isStreamNotFound(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown; name?: unknown };
  return err?.code === 10059 || err?.name === 'StreamNotFoundError' || err?.message === 'stream not found';
}

/**
 * Creates the stream, or updates the fields of `desired` that differ from the live config.
 * Only the given fields are compared, so settings the server filled in are left alone.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  desired: Partial<StreamConfig> & { name: string },
): Promise<keyof ProvisionReport> {
  const info = await streamInfo(jsm, desired.name);
  if (!info) {
    await jsm.streams.add(desired);
    return 'created';
  }
  const live = info.config as unknown as Record<string, unknown>;
  const drift = Object.entries(desired).filter(([k, v]) => JSON.stringify(live[k] ?? defaultOf(k)) !== JSON.stringify(v));
  if (drift.length === 0) return 'unchanged';
  await jsm.streams.update(desired.name, { ...info.config, ...desired });
  return 'updated';
}

// Fields the server omits from a config when they hold their zero value.
function defaultOf(field: string): unknown {
  return field === 'max_age' ? 0 : undefined;
}

/** The provisioning options every service derives from its configuration's `nats.*` keys. */
export function provisionOptionsFrom(nats: PropellerConfig['nats']): ProvisionOptions {
  return {
    replicas: nats.replicas,
    duplicateWindowMs: nats.duplicateWindow,
    maxBytes: nats.streamMaxBytes,
    dlqMaxBytes: nats.dlqMaxBytes,
    leaseTtlMs: nats.leaseTtl,
    metricsMaxAgeMs: nats.metricsMaxAge,
  };
}
