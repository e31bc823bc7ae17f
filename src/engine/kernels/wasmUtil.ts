/** Small helpers shared by the wasm kernel replacements in this folder. */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const WASM = 'wasm';

/** The kernel currently registered for 'wasm' under `name`; throws if there is none. */
export function wasmKernel(name: string): KernelFunc {
  const k = tf.getKernel(name, WASM);
  if (k == null) throw new Error(`wasm ${name} kernel is not registered.`);
  return k.kernelFunc;
}

/** A view of `t`'s data with another shape (same size); shares the dataId, owns no reference. */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Swaps the last two axes of `t` into a new wasm tensor (the caller disposes it). */
export function transposeLast2(t: TensorInfo, backend: BackendWasm): TensorInfo {
  const r = t.shape.length;
  const perm = t.shape.map((_, i) => (i < r - 2 ? i : i === r - 2 ? r - 1 : r - 2));
  return wasmKernel('Transpose')({ inputs: { x: t }, backend, attrs: { perm } }) as TensorInfo;
}

const originals = new Map<string, KernelFunc>();

/**
 * Replaces the wasm kernel `name` by `make(original)`, keeping the original's setup/dispose
 * functions (the original kernelFunc relies on its setupFunc having run at backend init).
 * Idempotent per `layer`: only the first call for a name and layer replaces anything (the native
 * kernels are a second layer over the JavaScript ones). The kernel must exist, which it does once
 * '@tensorflow/tfjs-backend-wasm' has been imported (registration is a side effect).
 */
export function overrideWasmKernel(name: string, make: (original: KernelFunc) => KernelFunc, layer = 'js'): void {
  const key = `${layer}:${name}`;
  if (originals.has(key)) return;
  const config = tf.getKernel(name, WASM);
  if (config == null)
    throw new Error(`wasm ${name} kernel is not registered (import '@tensorflow/tfjs-backend-wasm').`);
  originals.set(key, config.kernelFunc);
  tf.unregisterKernel(name, WASM);
  const replacement: KernelConfig = { ...config, kernelFunc: make(config.kernelFunc) };
  tf.registerKernel(replacement);
}

/** Undoes overrideWasmKernel(name, ..., layer): the kernel it replaced is registered again. */
export function restoreWasmKernel(name: string, layer = 'js'): void {
  const key = `${layer}:${name}`;
  const original = originals.get(key);
  if (original === undefined) return;
  const config = tf.getKernel(name, WASM)!;
  tf.unregisterKernel(name, WASM);
  tf.registerKernel({ ...config, kernelFunc: original });
  originals.delete(key);
}
