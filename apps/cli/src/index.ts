export { ApiClient, ApiError, ApiUnreachableError, apiPath, isApiError, isApiUnreachableError, API_ENV, DEFAULT_API, DEFAULT_REQUEST_TIMEOUT_MS } from './client';
export type { ApiClientOptions, ApiResponse, FieldIssue, Query, RequestOptions } from './client';
export { buildProgram, main, runCli } from './program';
export type { CliContext, CliDeps } from './context';
export { describeError, EXIT, InterruptedError, processIo, TaskFailedError, UsageError, type Io } from './output';
export { parseInputs, parseKeyValue, parseLabels, parseDurationOption } from './args';
export { chooseFunction, compileWat, exportedFunctions, loadModule, type LoadedModule } from './wasm';
export { taskBody, TERMINAL_STATUSES, type TaskOptions } from './task-request';
export { DEFAULT_POLL_MS, failureMessage, progressLine, waitForTask } from './commands/run';
