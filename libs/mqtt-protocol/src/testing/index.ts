import type { RejectionReason } from '../result';
import type { TopicKind } from '../topics';

/**
 * Fixtures for tests and simulators (`@propeller/mqtt-protocol/testing`): PROTOCOL.md's example
 * modules, one sample of each create shape with what it must derive to, and malformed payloads
 * labelled with the rejection they must cause.
 */

/** PROTOCOL.md example: core Wasm module exporting `add(i32, i32) -> i32`, 41 bytes, base64. */
export const EXAMPLE_ADD_WASM_BASE64 = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwcBA2FkZAAACgkBBwAgACABags=';

/** PROTOCOL.md example: the same body exported as `main` (for ESP32 targets), 42 bytes, base64. */
export const EXAMPLE_MAIN_WASM_BASE64 = 'AGFzbQEAAAABBwFgAn9/AX8DAgEABwgBBG1haW4AAAoJAQcAIAAgAWoL';

/** One create shape of PROTOCOL.md with the device type, capabilities, labels and dialect it derives to. */
export interface CreateShapeSample {
  name: string;
  payload: Record<string, unknown>;
  expected: { deviceType: string; capabilities: string[]; labels: Record<string, string>; dialect: 'wasmtime' | 'wamr'; channel: { perPropletTopics: boolean } };
}

/**
 * Each create shape the gateway must accept (hybrid, upstream with full / empty / `""` metadata,
 * ESP32 upstream, legacy, with and without the extension, mixed), with a proplet id built from `idPrefix`.
 */
export function createShapeSamples(idPrefix = 'p'): CreateShapeSample[] {
  return [
    {
      name: 'hybrid',
      payload: { proplet_id: `${idPrefix}-hybrid`, device_type: 'esp32', capabilities: ['wasm', 'sensor', 'wifi'] },
      expected: { deviceType: 'esp32', capabilities: ['wasm', 'sensor', 'wifi'], labels: {}, dialect: 'wamr', channel: { perPropletTopics: false } },
    },
    {
      name: 'upstream-full',
      payload: {
        proplet_id: `${idPrefix}-upstream-full`,
        namespace: 'default',
        metadata: {
          description: 'rust proplet',
          tags: ['gpu', 'zone=b'],
          location: 'paris-1',
          ip: '10.0.0.7',
          environment: 'prod',
          os: 'linux',
          hostname: 'edge-7',
          cpu_arch: 'x86_64',
          total_memory_bytes: 2 ** 31,
          proplet_version: '0.3.0',
          wasm_runtime: 'wasmtime-internal',
        },
      },
      expected: { deviceType: 'linux', capabilities: ['wasm', 'gpu'], labels: { zone: 'b', 'propeller.io/site': 'paris-1' }, dialect: 'wasmtime', channel: { perPropletTopics: false } },
    },
    {
      name: 'upstream-empty-metadata',
      payload: { proplet_id: `${idPrefix}-upstream-empty`, namespace: 'default', metadata: {} },
      expected: { deviceType: 'linux', capabilities: ['wasm'], labels: {}, dialect: 'wasmtime', channel: { perPropletTopics: false } },
    },
    {
      name: 'upstream-blank-fields',
      payload: { proplet_id: `${idPrefix}-upstream-blank`, namespace: '', metadata: { description: '', tags: null, location: '', os: '', wasm_runtime: '', total_memory_bytes: '' } },
      expected: { deviceType: 'linux', capabilities: ['wasm'], labels: {}, dialect: 'wasmtime', channel: { perPropletTopics: false } },
    },
    {
      name: 'upstream-esp32',
      payload: { proplet_id: `${idPrefix}-upstream-esp32`, namespace: 'embedded', metadata: { os: 'zephyr', wasm_runtime: 'wamr' } },
      expected: { deviceType: 'esp32', capabilities: ['wasm'], labels: {}, dialect: 'wamr', channel: { perPropletTopics: false } },
    },
    {
      name: 'legacy',
      payload: { proplet_id: `${idPrefix}-legacy`, smq_channel_id: 'legacy-channel' },
      expected: { deviceType: 'linux', capabilities: ['wasm'], labels: {}, dialect: 'wasmtime', channel: { perPropletTopics: false } },
    },
    {
      name: 'hybrid-with-extension',
      payload: {
        proplet_id: `${idPrefix}-ext`,
        device_type: 'rpi4',
        capabilities: ['wasm', 'camera'],
        propeller: { v: 1, type: 'external', labels: { team: 'edge' }, capacity: { cpu: '4', memory: '4Gi' }, max_tasks: 2, per_proplet_topics: true },
      },
      expected: { deviceType: 'rpi4', capabilities: ['wasm', 'camera'], labels: { team: 'edge' }, dialect: 'wasmtime', channel: { perPropletTopics: true } },
    },
    {
      name: 'mixed',
      payload: {
        proplet_id: `${idPrefix}-mixed`,
        capabilities: ['wasm', 'sensor'],
        smq_channel_id: 'old',
        metadata: { tags: ['zone=a', 'device_type=esp32-c3'], location: 'lyon' },
        propeller: { v: 1, labels: { 'propeller.io/site': 'lyon-2' } },
      },
      expected: {
        deviceType: 'esp32-c3',
        capabilities: ['wasm', 'sensor'],
        labels: { zone: 'a', device_type: 'esp32-c3', 'propeller.io/site': 'lyon-2' },
        dialect: 'wamr',
        channel: { perPropletTopics: false },
      },
    },
  ];
}

/** A payload the protocol must reject, with the reason it must be counted under. */
export interface MalformedSample {
  kind: TopicKind;
  payload: string;
  reason: RejectionReason;
}

/** Malformed payloads of assorted kinds covering every rejection reason (for gateway robustness tests). */
export function malformedSamples(): MalformedSample[] {
  return [
    { kind: 'create', payload: '', reason: 'not_json' },
    { kind: 'alive', payload: '{"proplet_id": "x", ', reason: 'not_json' },
    { kind: 'results', payload: '\u0000\u0001garbage', reason: 'not_json' },
    { kind: 'create', payload: '[]', reason: 'not_object' },
    { kind: 'alive', payload: '"alive"', reason: 'not_object' },
    { kind: 'metrics', payload: 'null', reason: 'not_object' },
    { kind: 'create', payload: '{"device_type":"esp32"}', reason: 'missing_field' },
    { kind: 'alive', payload: '{"proplet_id":"x"}', reason: 'missing_field' },
    { kind: 'results', payload: '{"results":"42"}', reason: 'missing_field' },
    { kind: 'task_started', payload: '{"task_id":"t"}', reason: 'missing_field' },
    { kind: 'registry_request', payload: '{"app_name":null}', reason: 'missing_field' },
    { kind: 'create', payload: '{"proplet_id":42}', reason: 'invalid_field' },
    { kind: 'create', payload: '{"proplet_id":"x","capabilities":"wasm"}', reason: 'invalid_field' },
    { kind: 'alive', payload: '{"proplet_id":"x","status":"sleeping"}', reason: 'invalid_field' },
    { kind: 'metrics', payload: '{"proplet_id":"x","timestamp":"last tuesday"}', reason: 'invalid_field' },
    { kind: 'task_metrics', payload: '{"task_id":"t","proplet_id":"x","metrics":"high"}', reason: 'invalid_field' },
    { kind: 'create', payload: `{"proplet_id":"x","pad":"${'x'.repeat(70 * 1024)}"}`, reason: 'too_large' },
    { kind: 'alive', payload: `{"proplet_id":"x","status":"alive","pad":"${'x'.repeat(70 * 1024)}"}`, reason: 'too_large' },
  ];
}
