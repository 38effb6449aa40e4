import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { EventSink, PlannedObject } from './apply';
import type { KubeApi } from './kube';

/** `source.component` of the operator's Events (shown by `kubectl describe`). */
export const EVENT_COMPONENT = 'propeller-k8s-agent';

/** Writes core/v1 Events on Proplets and Tasks; failures are logged, never thrown (events are best effort). */
export class KubeEventSink implements EventSink {
  constructor(
    private readonly kube: KubeApi,
    private readonly identity: string,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  async emit(target: PlannedObject, eventType: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = target.metadata.namespace ?? 'default';
    const now = new Date();
    const event: k8s.CoreV1Event = {
      metadata: { name: `${target.metadata.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        name: target.metadata.name,
        namespace,
        ...(target.metadata.uid ? { uid: target.metadata.uid } : {}),
      },
      type: eventType,
      reason,
      // Events are limited to 1 KiB of message by convention; the explanation can be 4 KiB.
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      source: { component: EVENT_COMPONENT },
      reportingComponent: `propeller.absmach.fr/${EVENT_COMPONENT}`,
      reportingInstance: this.identity,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.kube.createEvent(namespace, event);
    } catch (e) {
      this.onError(e);
    }
  }
}
