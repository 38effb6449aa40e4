import { z } from 'zod';
import { TimestampSchema } from './common';
import { encodeKvToken } from './names';

/**
 * The liveness KV bucket `<p>_liveness` (ADR 0002): the latest liveness of each proplet and the
 * broker-connection status of each gateway replica. Written by the mqtt-gateway (heartbeats,
 * last-wills) and the k8s-agent (pod readiness); read and judged only by the health monitor.
 * Liveness never becomes an event by itself.
 */

/** Key of a proplet's liveness: `proplet.<encoded id>`. */
export const livenessKey = (propletId: string): string => `proplet.${encodeKvToken(propletId, 'propletId')}`;
/** Key of a gateway replica's broker-connection status: `gateway.<replica>`. */
export const gatewayLivenessKey = (replica: string): string => `gateway.${encodeKvToken(replica, 'replica')}`;
/** KV filter of every proplet key. */
export const PROPLET_LIVENESS_FILTER = 'proplet.>';
/** KV filter of every gateway key. */
export const GATEWAY_LIVENESS_FILTER = 'gateway.>';

/** The proplet's load, as the `alive` message reports it (camelCase). */
export const PropletLoadSchema = z.object({
  runningTasks: z.number().int().nonnegative().optional(),
  cpuPercent: z.number().nonnegative().optional(),
  memoryBytes: z.number().int().nonnegative().optional(),
});
export type PropletLoad = z.infer<typeof PropletLoadSchema>;

/**
 * A proplet's latest liveness. `status: alive` is a heartbeat or a ready pod; `offline` a last-will,
 * an `offline` alive message, or a pod that is not ready. `at` is when the writer saw it.
 */
export const PropletLivenessSchema = z.object({
  status: z.enum(['alive', 'offline']),
  at: TimestampSchema,
  source: z.enum(['heartbeat', 'lastWill', 'podReadiness']),
  load: PropletLoadSchema.optional(),
  /** The gateway replica or agent that wrote it. */
  writer: z.string().min(1),
});
export type PropletLiveness = z.infer<typeof PropletLivenessSchema>;

/**
 * A gateway replica's view of its broker connection, refreshed while connected (every few seconds)
 * and set to `connected: false` on disconnect. While no gateway reports a live connection, the health
 * monitor judges nobody (ARCHITECTURE.md "Health").
 */
export const GatewayLivenessSchema = z.object({
  connected: z.boolean(),
  at: TimestampSchema,
  broker: z.string().min(1),
  /** When the current connection was established (absent while disconnected). */
  connectedSince: TimestampSchema.optional(),
});
export type GatewayLiveness = z.infer<typeof GatewayLivenessSchema>;
