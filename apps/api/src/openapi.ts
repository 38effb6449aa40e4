import { z } from 'zod';
import type { RouteSpec } from './routes';

/** `/proplets/:id` → `/proplets/{id}`. */
export const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

// Requests are documented as clients write them (before transforms), answers as the server sends them.
const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

function parameters(route: RouteSpec): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const [where, obj] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (obj === undefined) continue;
    for (const [name, field] of Object.entries(obj.shape as Record<string, z.ZodType>)) {
      const schema = schemaOf(field, 'input');
      const { description, ...rest } = schema;
      out.push({
        name,
        in: where,
        required: where === 'path' || !field.safeParse(undefined).success,
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
        // Repeatable filters are written `?label=a=1&label=b=2`.
        ...(where === 'query' ? { style: 'form', explode: true } : {}),
      });
    }
  }
  return out;
}

/** Metadata of the document. */
export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

/**
 * An OpenAPI 3.1 document of every route in `routes`, generated from the zod schemas that validate
 * the requests (`z.toJSONSchema`), so the document and the checks cannot drift apart.
 */
export function buildOpenApi(routes: readonly RouteSpec[], info: OpenApiInfo): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = openApiPath(route.url);
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.schema !== undefined
          ? { content: { [r.contentType ?? 'application/json']: { schema: schemaOf(r.schema, 'output') } } }
          : r.contentType !== undefined
            ? { content: { [r.contentType]: { schema: { type: 'string' } } } }
            : {}),
      };
    }
    const params = parameters(route);
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(route.body !== undefined
        ? { requestBody: { required: !route.body.safeParse(undefined).success, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } }
        : {}),
      responses,
    };
  }
  return { openapi: '3.1.0', info, paths };
}
