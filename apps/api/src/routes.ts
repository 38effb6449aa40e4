import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES } from '@propeller/events';

/** HTTP methods the API uses. */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One documented answer of a route. */
export interface ResponseSpec {
  description: string;
  /** JSON body schema (absent: no body, or `contentType` says what it is). */
  schema?: z.ZodType;
  /** Content type when it is not JSON (e.g. the Prometheus text format). */
  contentType?: string;
}

/** A route and everything `/openapi.json` says about it; the same schemas validate the requests. */
export interface RouteSpec {
  method: Method;
  /** Fastify path syntax (`/proplets/:id`). */
  url: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, ResponseSpec>;
  /** Largest request body in bytes (default: the server's `bodyLimit`). */
  bodyLimit?: number;
  handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** The JSON of every error answer. */
export const ErrorJsonSchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    details: z
      .object({
        issues: z.array(z.object({ field: z.string(), value: z.unknown().optional(), rule: z.string() })).optional(),
      })
      .loose(),
  }),
});

/** Error answers every route can give besides its own. */
export const COMMON_ERRORS: Record<number, ResponseSpec> = {
  400: { description: 'Invalid request: details.issues names each field, its value and the rule', schema: ErrorJsonSchema },
  500: { description: 'Internal error', schema: ErrorJsonSchema },
};

/** The routes of one API instance, in registration order; `/openapi.json` is built from it. */
export class RouteTable {
  readonly routes: RouteSpec[] = [];

  constructor(private readonly app: FastifyInstance) {}

  /** Registers the route with Fastify and records it for the OpenAPI document. */
  add(spec: RouteSpec): void {
    this.routes.push(spec);
    this.app.route({
      method: spec.method,
      url: spec.url,
      ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
      handler: spec.handler,
    });
  }
}
