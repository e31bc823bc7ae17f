/** Kernel replacements/additions that make training on the tfjs WASM backend practical. */
import { registerWasmConv2DBackpropFilter } from './conv2dBackpropFilter';
import { registerWasmConv2DBackpropInput } from './conv2dBackpropInput';
import { registerWasmMatMul } from './batchMatMul';
import { registerWasmMaxPoolGrad } from './maxPoolGrad';

export { registerWasmConv2DBackpropFilter };

/**
 * Registers all of this folder's wasm kernels. Idempotent; call before or after the wasm backend
 * is initialised, but after '@tensorflow/tfjs-backend-wasm' has been imported.
 */
export function registerWasmTrainingKernels(): void {
  registerWasmConv2DBackpropFilter();
  registerWasmMatMul();
  registerWasmConv2DBackpropInput();
  registerWasmMaxPoolGrad();
}
