import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stableStringify } from '../reconcile/conditions';
import { authorizerFor, type Authorizer } from './rbac';

/**
 * FAKE Kubernetes API server — for tests only, never a stand-in for a cluster in production.
 *
 * A small in-process HTTP server that speaks just enough of the Kubernetes REST API for the
 * k8s-agent adapter (list/get/create/update/merge- and JSON-patch/delete, watch streams with
 * resourceVersion, the status subresource) on the resources the operator touches: Proplets and
 * Tasks, apps/v1 Deployments, v1 Pods and Events, coordination.k8s.io Leases. It keeps the rules
 * the adapter must cope with:
 * - 409 Conflict for a write carrying a stale `metadata.resourceVersion`, 409 AlreadyExists on create;
 * - spec changes sent to `/status` are ignored, and so are status changes sent to the main resource;
 * - 410 Gone (an ERROR event with code 410, as a real server sends it) for a watch from a compacted version;
 * - 404 for objects that do not exist or were deleted; deletion waits for finalizers
 *   (`deletionTimestamp`), then garbage-collects dependents by owner reference;
 * - RBAC from deploy/rbac.yaml for the operator's ServiceAccount token: 403 for any call its rules do not cover.
 * It runs no controllers: tests play the Deployment controller and kubelet with the admin token.
 */

/** Token the operator uses; requests with it are checked against deploy/rbac.yaml. */
export const FAKE_OPERATOR_TOKEN = 'fake-operator-token';
/** Token the test harness uses to play controllers and users; never checked. */
export const FAKE_ADMIN_TOKEN = 'fake-admin-token';
/** The ServiceAccount the operator token stands for (as in deploy/rbac.yaml). */
export const OPERATOR_SERVICE_ACCOUNT = { namespace: 'propeller-system', name: 'propeller-k8s-agent' };

interface ResourceInfo {
  kind: string;
  hasStatus: boolean;
}

const RESOURCES: Record<string, Record<string, ResourceInfo>> = {
  'propeller.absmach.fr/v1alpha1': { proplets: { kind: 'Proplet', hasStatus: true }, tasks: { kind: 'Task', hasStatus: true } },
  'apps/v1': { deployments: { kind: 'Deployment', hasStatus: true } },
  v1: { pods: { kind: 'Pod', hasStatus: true }, events: { kind: 'Event', hasStatus: false } },
  'coordination.k8s.io/v1': { leases: { kind: 'Lease', hasStatus: false } },
};

type Obj = { apiVersion?: string; kind?: string; metadata: Meta; status?: unknown; [k: string]: unknown };
interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Array<{ uid: string }>;
  [k: string]: unknown;
}

interface Parsed {
  group: string;
  version: string;
  apiVersion: string;
  resource: string;
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  sub?: string;
}

interface WatchEvent {
  rv: number;
  key: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: Obj;
}

interface Watcher {
  key: string;
  namespace?: string;
  selector: string | undefined;
  res: ServerResponse;
}

/** One request as the fake saw it, for tests that assert on the calls made. */
export interface AuditEntry {
  method: string;
  path: string;
  verb: string;
  resource: string;
  status: number;
  token: string;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export class FakeApiServer {
  /** Every request, in order. */
  readonly audit: AuditEntry[] = [];
  private readonly store = new Map<string, Map<string, Obj>>();
  private history: WatchEvent[] = [];
  private rv = 100;
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly failures: Array<{ method?: string; pathIncludes: string; status: number; times: number }> = [];
  private readonly authorize: Authorizer;
  private held: WatchEvent[] | undefined;

  private constructor(
    private readonly server: Server,
    authorize: Authorizer,
  ) {
    this.authorize = authorize;
  }

  /** Starts the fake on an ephemeral port of 127.0.0.1. */
  static async start(options: { authorize?: Authorizer } = {}): Promise<FakeApiServer> {
    const server = createServer();
    const fake = new FakeApiServer(server, options.authorize ?? authorizerFor(OPERATOR_SERVICE_ACCOUNT));
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /**
   * Forgets the watch history up to now: a watch from any version handed out before gets 410 Gone.
   * The revision moves one step first, as writes to other resources move etcd's, so even a client
   * that saw the very last event must relist.
   */
  compact(): void {
    this.compactedRv = ++this.rv;
    this.history = [];
  }

  /** Ends every open watch stream, as an API server restart or a load balancer timeout would. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Holds watch events back (a slow watch): writes still succeed, informers do not see them until `releaseWatchEvents`. */
  holdWatchEvents(): void {
    this.held = [];
  }

  /** Delivers the held watch events, in order, and stops holding. */
  releaseWatchEvents(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const ev of held) for (const w of this.watchers) if (this.watcherWants(w, ev)) writeEvent(w.res, ev.type, ev.obj);
  }

  /** Makes the next `times` requests whose path contains `pathIncludes` (and method, if given) fail with `status`. */
  failNext(pathIncludes: string, status: number, times = 1, method?: string): void {
    this.failures.push({ pathIncludes, status, times, ...(method ? { method } : {}) });
  }

  /** Number of open watch streams (tests wait on it). */
  get openWatches(): number {
    return this.watchers.size;
  }

  /** Direct read of a stored object (no HTTP, no RBAC), for assertions. */
  peek(apiVersion: string, resource: string, namespace: string, name: string): Obj | undefined {
    const o = this.store.get(this.keyOf(apiVersion, resource))?.get(`${namespace}/${name}`);
    return o && structuredClone(o);
  }

  /** Every stored object of a resource, for assertions. */
  peekAll(apiVersion: string, resource: string): Obj[] {
    return [...(this.store.get(this.keyOf(apiVersion, resource))?.values() ?? [])].map((o) => structuredClone(o));
  }

  async stop(): Promise<void> {
    this.closeWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private keyOf(apiVersion: string, resource: string): string {
    return `${apiVersion}/${resource}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    let verb = '?';
    let resource = '?';
    try {
      const parsed = this.parse(url.pathname);
      resource = parsed.sub ? `${parsed.resource}/${parsed.sub}` : parsed.resource;
      verb = this.verbOf(req.method ?? 'GET', parsed, url);
      if (token !== FAKE_ADMIN_TOKEN) {
        if (token !== FAKE_OPERATOR_TOKEN) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
        const rbacReq = { verb, apiGroup: parsed.group, resource, ...(parsed.namespace ? { namespace: parsed.namespace } : {}) };
        if (!this.authorize(rbacReq)) {
          const where = parsed.namespace ? ` in the namespace "${parsed.namespace}"` : ' at the cluster scope';
          throw new HttpError(
            403,
            'Forbidden',
            `${resource}${parsed.group ? `.${parsed.group}` : ''} is forbidden: User "system:serviceaccount:${OPERATOR_SERVICE_ACCOUNT.namespace}:${OPERATOR_SERVICE_ACCOUNT.name}" cannot ${verb} resource "${parsed.resource}"${where}`,
          );
        }
      }
      const failure = this.failures.find((f) => f.times > 0 && url.pathname.includes(f.pathIncludes) && (!f.method || f.method === req.method));
      if (failure) {
        failure.times--;
        throw new HttpError(failure.status, 'InjectedFailure', `injected failure ${failure.status}`);
      }
      if (verb === 'watch') {
        this.audit.push({ method: req.method ?? 'GET', path: url.pathname, verb, resource, status: 200, token });
        this.watch(parsed, url, res);
        return;
      }
      const body = ['POST', 'PUT', 'PATCH'].includes(req.method ?? '') ? await readBody(req) : undefined;
      const { status, payload } = this.dispatch(verb, parsed, url, body, req.headers['content-type'] ?? '');
      this.audit.push({ method: req.method ?? 'GET', path: url.pathname, verb, resource, status, token });
      send(res, status, payload);
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', e instanceof Error ? e.message : String(e));
      this.audit.push({ method: req.method ?? 'GET', path: url.pathname, verb, resource, status: err.code, token });
      send(res, err.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason: err.reason, code: err.code });
    }
  }

  private parse(pathname: string): Parsed {
    const parts = pathname.split('/').filter(Boolean);
    let group = '';
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) {
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts[1] && parts[2]) {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
    }
    const apiVersion = group ? `${group}/${version}` : version;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [resource, name, sub] = rest;
    const info = resource ? RESOURCES[apiVersion]?.[resource] : undefined;
    if (!resource || !info || rest.length > 3 || (sub !== undefined && (sub !== 'status' || !info.hasStatus))) {
      throw new HttpError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
    }
    return { group, version, apiVersion, resource, info, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}), ...(sub ? { sub } : {}) };
  }

  private verbOf(method: string, p: Parsed, url: URL): string {
    switch (method) {
      case 'GET':
        return p.name ? 'get' : url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' ? 'watch' : 'list';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return p.name ? 'delete' : 'deletecollection';
      default:
        throw new HttpError(405, 'MethodNotAllowed', `method ${method} not allowed`);
    }
  }

  private bucket(p: Parsed): Map<string, Obj> {
    const key = this.keyOf(p.apiVersion, p.resource);
    let b = this.store.get(key);
    if (!b) this.store.set(key, (b = new Map()));
    return b;
  }

  private dispatch(verb: string, p: Parsed, url: URL, body: unknown, contentType: string): { status: number; payload: unknown } {
    const bucket = this.bucket(p);
    switch (verb) {
      case 'list': {
        const selector = url.searchParams.get('labelSelector') ?? undefined;
        const items = [...bucket.values()].filter((o) => (!p.namespace || o.metadata.namespace === p.namespace) && matchesSelector(o, selector));
        return { status: 200, payload: { kind: `${p.info.kind}List`, apiVersion: p.apiVersion, metadata: { resourceVersion: String(this.rv) }, items } };
      }
      case 'get':
        return { status: 200, payload: this.existing(p) };
      case 'create': {
        if (!p.namespace) throw new HttpError(405, 'MethodNotAllowed', 'create needs a namespace');
        const obj = body as Obj;
        if (!obj?.metadata?.name) throw new HttpError(422, 'Invalid', 'metadata.name: Required value');
        const id = `${p.namespace}/${obj.metadata.name}`;
        if (bucket.has(id)) throw new HttpError(409, 'AlreadyExists', `${p.resource} "${obj.metadata.name}" already exists`);
        const created: Obj = { ...structuredClone(obj), apiVersion: p.apiVersion, kind: p.info.kind };
        if (p.info.hasStatus && p.info.kind !== 'Pod') delete created.status;
        created.metadata = {
          ...created.metadata,
          namespace: p.namespace,
          uid: randomUUID(),
          resourceVersion: String(++this.rv),
          generation: 1,
          creationTimestamp: new Date().toISOString(),
        };
        delete created.metadata.deletionTimestamp;
        bucket.set(id, created);
        this.record(p, 'ADDED', created);
        return { status: 201, payload: created };
      }
      case 'update':
        return { status: 200, payload: this.commit(p, this.existing(p), body as Obj) };
      case 'patch': {
        const current = this.existing(p);
        let patched: Obj;
        if (contentType.startsWith('application/merge-patch+json')) patched = mergePatch(structuredClone(current), body) as Obj;
        else if (contentType.startsWith('application/json-patch+json')) patched = jsonPatch(structuredClone(current), body);
        else throw new HttpError(415, 'UnsupportedMediaType', `the fake supports merge and JSON patch, not ${contentType}`);
        return { status: 200, payload: this.commit(p, current, patched) };
      }
      case 'delete':
        return { status: 200, payload: this.remove(p, this.existing(p)) };
      default:
        throw new HttpError(405, 'MethodNotAllowed', `${verb} is not supported by the fake`);
    }
  }

  private existing(p: Parsed): Obj {
    const o = p.name ? this.bucket(p).get(`${p.namespace ?? ''}/${p.name}`) : undefined;
    if (!o) throw new HttpError(404, 'NotFound', `${p.resource}${p.group ? `.${p.group}` : ''} "${p.name ?? ''}" not found`);
    return structuredClone(o);
  }

  /** The shared write path of update and patch: resourceVersion check, status/spec split, generation, finalizers. */
  private commit(p: Parsed, current: Obj, candidate: Obj): Obj {
    if (typeof candidate !== 'object' || candidate === null || typeof candidate.metadata !== 'object') throw new HttpError(422, 'Invalid', 'metadata: Required value');
    const sentRv = candidate.metadata.resourceVersion;
    if (sentRv !== undefined && sentRv !== '' && sentRv !== current.metadata.resourceVersion) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${p.resource} "${current.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    let next: Obj;
    if (p.sub === 'status') {
      // The status subresource takes status only; spec and metadata changes are ignored.
      next = { ...current, status: candidate.status };
    } else {
      next = { ...candidate, apiVersion: current.apiVersion, kind: current.kind };
      // The main resource ignores status when a status subresource exists.
      if (p.info.hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
      next.metadata = {
        ...candidate.metadata,
        name: current.metadata.name,
        namespace: current.metadata.namespace,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        generation: current.metadata.generation,
      };
      if (current.metadata.deletionTimestamp) next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      else delete next.metadata.deletionTimestamp;
    }
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    if (stableStringify(next) === stableStringify(current)) return current; // a no-op write changes nothing, as on a real server
    const specOf = (o: Obj): string => stableStringify({ ...o, metadata: undefined, status: undefined });
    if (p.sub !== 'status' && specOf(next) !== specOf(current)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    next.metadata.resourceVersion = String(++this.rv);
    const id = `${current.metadata.namespace ?? ''}/${current.metadata.name}`;
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      this.bucket(p).delete(id);
      this.record(p, 'DELETED', next);
      this.collectGarbage(next.metadata.uid);
      return next;
    }
    this.bucket(p).set(id, next);
    this.record(p, 'MODIFIED', next);
    return next;
  }

  private remove(p: Parsed, current: Obj): Obj {
    const id = `${current.metadata.namespace ?? ''}/${current.metadata.name}`;
    if ((current.metadata.finalizers ?? []).length > 0) {
      if (current.metadata.deletionTimestamp) return current;
      const next = structuredClone(current);
      next.metadata.deletionTimestamp = new Date().toISOString();
      next.metadata.resourceVersion = String(++this.rv);
      this.bucket(p).set(id, next);
      this.record(p, 'MODIFIED', next);
      return next;
    }
    const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.rv) } };
    this.bucket(p).delete(id);
    this.record(p, 'DELETED', gone);
    this.collectGarbage(current.metadata.uid);
    return gone;
  }

  /** Background cascading deletion: dependents whose owner is gone are deleted too. */
  private collectGarbage(ownerUid: string | undefined): void {
    if (!ownerUid) return;
    for (const [key, bucket] of this.store) {
      const [apiVersion, resource] = splitKey(key);
      const info = RESOURCES[apiVersion]?.[resource];
      if (!info) continue;
      for (const o of [...bucket.values()]) {
        if (!o.metadata.ownerReferences?.some((r) => r.uid === ownerUid)) continue;
        const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
        this.remove({ group: group ?? '', version: version ?? '', apiVersion, resource, info, namespace: o.metadata.namespace ?? '', name: o.metadata.name }, structuredClone(o));
      }
    }
  }

  private record(p: Parsed, type: WatchEvent['type'], obj: Obj): void {
    const key = this.keyOf(p.apiVersion, p.resource);
    const ev: WatchEvent = { rv: this.rv, key, type, obj: structuredClone(obj) };
    this.history.push(ev);
    if (this.held) {
      this.held.push(ev);
      return;
    }
    for (const w of this.watchers) if (this.watcherWants(w, ev)) writeEvent(w.res, ev.type, ev.obj);
  }

  private watcherWants(w: Watcher, ev: WatchEvent): boolean {
    return w.key === ev.key && (!w.namespace || ev.obj.metadata.namespace === w.namespace) && matchesSelector(ev.obj, w.selector);
  }

  private watch(p: Parsed, url: URL, res: ServerResponse): void {
    const from = url.searchParams.get('resourceVersion') ?? '';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // a client waits for the headers before it reads events
    const w: Watcher = { key: this.keyOf(p.apiVersion, p.resource), selector: url.searchParams.get('labelSelector') ?? undefined, res, ...(p.namespace ? { namespace: p.namespace } : {}) };
    if (from !== '' && from !== '0' && Number(from) < this.compactedRv) {
      // What a real API server does for a compacted version: 200, one ERROR event with a 410 Status, end.
      writeEvent(res, 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 });
      res.end();
      return;
    }
    if (from === '' || from === '0') {
      for (const o of this.bucket(p).values()) if (this.watcherWants(w, { rv: 0, key: w.key, type: 'ADDED', obj: o })) writeEvent(res, 'ADDED', o);
    } else {
      for (const ev of this.history) if (ev.rv > Number(from) && this.watcherWants(w, ev)) writeEvent(res, ev.type, ev.obj);
    }
    this.watchers.add(w);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(w);
    });
  }
}

function splitKey(key: string): [string, string] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function writeEvent(res: ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BadRequest', 'the body is not JSON');
  }
}

/** `key`, `!key`, `key=value`, `key==value`, `key!=value`, comma-separated (the forms the operator uses). */
export function matchesSelector(obj: Obj, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = obj.metadata.labels ?? {};
  return selector.split(',').every((term) => {
    const t = term.trim();
    let m: RegExpMatchArray | null;
    if ((m = t.match(/^([^!=]+)!=(.*)$/))) return labels[m[1] ?? ''] !== m[2];
    if ((m = t.match(/^([^!=]+)==?(.*)$/))) return labels[m[1] ?? ''] === m[2];
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch: add, remove, replace and test, which is what the operator sends. */
export function jsonPatch<T>(doc: T, ops: unknown): T {
  if (!Array.isArray(ops)) throw new HttpError(422, 'Invalid', 'a JSON patch is a list of operations');
  let root: unknown = doc;
  for (const op of ops as Array<{ op: string; path: string; value?: unknown }>) {
    const tokens = op.path === '' ? [] : op.path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (tokens.length === 0) {
      if (op.op === 'test') {
        if (stableStringify(root) !== stableStringify(op.value)) throw new HttpError(422, 'Invalid', `test failed at ${op.path}`);
        continue;
      }
      root = op.value;
      continue;
    }
    let parent: unknown = root;
    for (const t of tokens.slice(0, -1)) {
      parent = (parent as Record<string, unknown>)?.[t];
      if (typeof parent !== 'object' || parent === null) throw new HttpError(422, 'Invalid', `path ${op.path} does not exist`);
    }
    const last = tokens[tokens.length - 1] ?? '';
    const container = parent as Record<string, unknown>;
    switch (op.op) {
      case 'add':
        if (Array.isArray(container)) container.splice(last === '-' ? container.length : Number(last), 0, op.value);
        else container[last] = op.value;
        break;
      case 'replace':
        if (!(last in container)) throw new HttpError(422, 'Invalid', `path ${op.path} does not exist`);
        container[last] = op.value;
        break;
      case 'remove':
        if (!(last in container)) throw new HttpError(422, 'Invalid', `path ${op.path} does not exist`);
        if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
        break;
      case 'test':
        if (stableStringify(container[last]) !== stableStringify(op.value)) throw new HttpError(422, 'Invalid', `test failed at ${op.path}`);
        break;
      default:
        throw new HttpError(422, 'Invalid', `unsupported JSON patch op ${op.op}`);
    }
  }
  return root as T;
}
