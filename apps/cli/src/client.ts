/** Default address of the REST API (the `api` service's port in ARCHITECTURE.md). */
export const DEFAULT_API = 'http://127.0.0.1:7070';
/** Environment variable that overrides the default API address (`--api` wins over it). */
export const API_ENV = 'PROPELLER_API';
/** How long one request may take before the CLI gives up on it (30 s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** One rejected field of a request, as the API names it (`details.issues`). */
export interface FieldIssue {
  field: string;
  value?: unknown;
  rule: string;
}

/** The API answered with an error status; `code` is the typed error code (`Invalid`, `NotFound`, ...). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown>,
    readonly method: string,
    readonly path: string,
  ) {
    super(message);
  }

  /** The field issues of an `Invalid` answer (empty when there are none). */
  get issues(): FieldIssue[] {
    const raw = this.details['issues'];
    return Array.isArray(raw) ? (raw.filter((i) => i !== null && typeof i === 'object' && typeof (i as FieldIssue).field === 'string') as FieldIssue[]) : [];
  }
}

/** The API did not answer at all (refused, unknown host, reset, timed out). */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
  constructor(
    readonly base: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach the Propeller API at ${base} (${reason}). Start the control plane with \`npm start\` in the repository, ` +
        `or point --api (or ${API_ENV}) at a running API.`,
      options,
    );
  }
}

/** True for an `ApiError`. */
export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;
/** True for an `ApiUnreachableError`. */
export const isApiUnreachableError = (e: unknown): e is ApiUnreachableError => e instanceof ApiUnreachableError;

/** A successful answer: status (2xx), headers and the parsed JSON body (text when not JSON, undefined when empty). */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** Query values: repeated keys for arrays, undefined values left out. */
export type Query = Record<string, string | number | boolean | ReadonlyArray<string> | undefined>;

/** Options of one request. */
export interface RequestOptions {
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
}

/** Options of `ApiClient`. */
export interface ApiClientOptions {
  /** Per-request timeout (default `DEFAULT_REQUEST_TIMEOUT_MS`). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Thin JSON client of the REST API: builds URLs, parses answers, turns failures into `ApiError`/`ApiUnreachableError`. */
export class ApiClient {
  readonly base: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(base: string, options: ApiClientOptions = {}) {
    this.base = base.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.fetchFn = options.fetch ?? fetch;
  }

  /** Sends one request; resolves with any 2xx answer, throws `ApiError` for 4xx/5xx and `ApiUnreachableError` when nothing answers. */
  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = this.base + path + queryString(o.query);
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers: { accept: 'application/json', ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers },
        ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new ApiUnreachableError(this.base, unreachableReason(e, this.timeoutMs), { cause: e });
    }
    const text = await res.text();
    let body: unknown = undefined;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (res.status >= 400) throw errorOf(res.status, body, method, path);
    return { status: res.status, headers: res.headers, body: body as T };
  }

  get<T = unknown>(path: string, query?: Query): Promise<ApiResponse<T>> {
    return this.request<T>('GET', path, query === undefined ? {} : { query });
  }
}

/** Builds a path from literal parts and ids; each id is percent-encoded so an id with `/` or `?` stays one segment. */
export function apiPath(strings: TemplateStringsArray, ...ids: string[]): string {
  return strings.reduce((out, part, i) => out + part + (i < ids.length ? encodeURIComponent(ids[i] as string) : ''), '');
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value as ReadonlyArray<string>) params.append(key, v);
    else params.append(key, String(value));
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

function errorOf(status: number, body: unknown, method: string, path: string): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (e !== undefined && typeof e === 'object' && e !== null && typeof e.code === 'string') {
    const details = e.details !== null && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : {};
    return new ApiError(status, e.code, typeof e.message === 'string' ? e.message : `HTTP ${status}`, details, method, path);
  }
  // Not our error shape (a proxy, or something else listening on the port): say what came back.
  const text = typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body ?? '').slice(0, 200);
  return new ApiError(status, 'Http', `HTTP ${status} from ${method} ${path}${text === '' || text === '""' ? '' : `: ${text}`}`, {}, method, path);
}

// undici's fetch hides the socket error in `cause` (sometimes one level deeper, in an AggregateError).
function unreachableReason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = err?.cause?.code ?? err?.cause?.errors?.[0]?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case undefined:
      // No socket error code: undici's own refusals (e.g. "bad port") say why in the cause's message.
      return err?.cause?.message ?? err?.message ?? String(e);
    default:
      return code;
  }
}
