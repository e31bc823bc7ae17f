/**
 * Every private TensorFlow.js field evolve reaches, in one place. Each accessor checks that the
 * field is there and has the expected type, so a tfjs release that moves one fails here with its
 * name instead of somewhere downstream; test/tfjsInternals.test.ts exercises each one, and
 * package.json pins tfjs to the exact version they were written against.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

function missing(field: string): Error {
  return new Error(`TensorFlow.js ${tf.version_core}: private field ${field} is not where evolve expects it`);
}

/** Byte offset of a tensor's data in the wasm heap (BackendWasm.dataIdMap[id].memoryOffset). */
export function wasmMemoryOffset(backend: BackendWasm, t: TensorInfo): number {
  const map = (backend as unknown as { dataIdMap?: { get(id: object): { memoryOffset?: number } | undefined } })
    .dataIdMap;
  const offset = map?.get(t.dataId)?.memoryOffset;
  if (typeof offset !== 'number') throw missing('BackendWasm.dataIdMap[].memoryOffset');
  return offset;
}

/** The wasm module's whole memory (BackendWasm.wasm.HEAPU8), which the native kernels work in. */
export function wasmHeap(backend: BackendWasm): ArrayBuffer {
  const heap = (backend.wasm as unknown as { HEAPU8?: Uint8Array }).HEAPU8;
  if (!(heap instanceof Uint8Array)) throw missing('BackendWasm.wasm.HEAPU8');
  return heap.buffer as ArrayBuffer;
}

/** Adam's running beta1^t and beta2^t (AdamOptimizer.accBeta1/accBeta2), or undefined for another optimizer. */
export function adamBetaPowers(optimizer: tf.Optimizer): { beta1: tf.Variable; beta2: tf.Variable } | undefined {
  // Optimizer's Symbol.hasInstance accepts any optimizer, so ask for the class by name.
  if (optimizer.getClassName() !== 'Adam') return undefined;
  const o = optimizer as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
  if (!(o.accBeta1 instanceof tf.Variable) || !(o.accBeta2 instanceof tf.Variable))
    throw missing('AdamOptimizer.accBeta1/accBeta2');
  return { beta1: o.accBeta1, beta2: o.accBeta2 };
}

/**
 * The -learningRate scalar an SGD or momentum optimizer keeps (SGDOptimizer.c). tfjs 4.22's
 * MomentumOptimizer.dispose() does not dispose it, so evolve does.
 */
export function sgdLearningRateScalar(optimizer: tf.Optimizer): tf.Tensor | undefined {
  if (!['SGD', 'Momentum'].includes(optimizer.getClassName())) return undefined;
  const c = (optimizer as unknown as { c?: unknown }).c;
  if (!(c instanceof tf.Tensor)) throw missing('SGDOptimizer.c');
  return c;
}

/** Stops the cpu backend's one-time notice to install tfjs-node (MathBackendCPU.firstUse). */
export function silenceCpuNotice(backend: tf.KernelBackend): void {
  const b = backend as unknown as { firstUse?: unknown };
  if (typeof b.firstUse !== 'boolean') throw missing('MathBackendCPU.firstUse');
  b.firstUse = false;
}
