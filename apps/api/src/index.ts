export { buildApi, DEFAULT_BODY_LIMIT, PROPLETS_PROJECTION } from './app';
export type { Api, ApiConfig, ApiContext, ApiHooks, BuildApiOptions } from './app';
export { apiChecks, HealthJsonSchema, PROPLETS_TOTAL_METRIC } from './health';
export { parseRequest, requestIssues, STATUS_OF, toErrorAnswer, type ErrorAnswer, type ErrorBody } from './http-errors';
export { buildOpenApi, openApiPath, type OpenApiInfo } from './openapi';
export { PROPLET_BODY_LIMIT, propletMetricsKey, registerPropletRoutes } from './proplets/routes';
export * from './proplets/schemas';
export { metadataJson, propletJson, propletPageJson } from './proplets/view';
export { COMMON_ERRORS, ErrorJsonSchema, RouteTable, type Method, type ResponseSpec, type RouteSpec } from './routes';
export { ListSitesQuerySchema, registerSiteRoutes, SiteJsonSchema, SitePageJsonSchema, SiteParamsSchema } from './sites/routes';
export { MODULE_TOO_LARGE, checkUpload, isModuleTooLarge, type CheckedUpload } from './tasks/module';
export { BatchAcceptedJsonSchema, registerTaskRoutes, TASKS_PROJECTION, TASKS_TOTAL_METRIC, taskBodyLimit, type TaskRoutesOptions } from './tasks/routes';
export * from './tasks/schemas';
export { createTaskData, IDEMPOTENCY_NAMESPACE, taskIdForKey, taskJson, taskPageJson, updateTaskData } from './tasks/view';
export * from './admin/routes';

