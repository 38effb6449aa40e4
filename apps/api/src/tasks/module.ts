import { checkModule, DEFAULT_MODULE_MAX_BYTES, type CheckedModule } from '@propeller/events';

// The module rules are shared with the scheduler (`@propeller/events`); uploads are stored by `ModuleStore`.
export { MODULE_TOO_LARGE, isModuleTooLarge } from '@propeller/events';

/** A checked upload: its bytes and the reference the command (and the events) carry instead. */
export type CheckedUpload = CheckedModule;

/** Checks a base64 Wasm module from a request (`checkModule` of `@propeller/events`); errors name `field`. */
export function checkUpload(file: string, maxBytes = DEFAULT_MODULE_MAX_BYTES, field = 'file'): CheckedUpload {
  return checkModule(file, maxBytes, field);
}
