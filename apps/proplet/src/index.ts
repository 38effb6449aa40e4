export { readU32, encodeU32 } from './wasm/leb128';
export { readModule, exportedFunctionType, exportedFunctionNames, hasWasmHeader } from './wasm/module';
export type { ModuleInfo, FuncType, ValType, MemoryLimits, ImportedMemory } from './wasm/module';
export { capModuleMemory, WASM_PAGE } from './wasm/memory-cap';
export type { CappedModule } from './wasm/memory-cap';
export { convertInput, convertInputs, formatResult } from './sandbox/convert';
export type { TaskInput, WasmArg } from './sandbox/convert';
