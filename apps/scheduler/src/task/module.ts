import { checkModule as checkWasmModule, DEFAULT_MODULE_MAX_BYTES, type CheckedModule } from '@propeller/events';

// The module rules are shared with the API (`@propeller/events`, `checkModule`).
export { MODULE_TOO_LARGE, ModuleTooLargeError, isModuleTooLarge, type CheckedModule } from '@propeller/events';

/** `checkModule` of `@propeller/events` for `task.create`: errors name `data.file` unless told otherwise. */
export function checkModule(file: unknown, maxBytes = DEFAULT_MODULE_MAX_BYTES, field = 'data.file'): CheckedModule {
  return checkWasmModule(file, maxBytes, field);
}
