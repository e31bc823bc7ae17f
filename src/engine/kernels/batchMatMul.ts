/**
 * BatchMatMul / _FusedMatMul for the tfjs WASM backend, routed to the XNNPACK fast path.
 *
 * The backend's C++ uses XNNPACK's fully-connected GEMM only when transposeA and transposeB are
 * both false and the batch size is 1; everything else runs a naive blocked triple loop (~10x
 * slower). The MatMul gradient always uses the transposed forms (dA = dC·B^T, dB = A^T·dC), so
 * here a transposed operand is physically transposed first (wasm Transpose, O(size) work) and a
 * batched product is split into per-batch rank-1 products.
 * 5-12x faster for LeNet-5's fc1 gradients (docs/performance.md).
 */
import { broadcast_util, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { overrideWasmKernel, transposeLast2, view } from './wasmUtil';

interface MatMulArgs {
  inputs: { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  backend: BackendWasm;
  attrs: { transposeA: boolean; transposeB: boolean; [k: string]: unknown };
}

/** Below this many multiply-adds per batch entry, splitting a batched product costs more than it saves. */
const MIN_SPLIT_MACS = 1 << 14;

function fastMatMul(original: KernelFunc, fused: boolean): KernelFunc {
  return ((args: MatMulArgs): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs;
    const { transposeA, transposeB } = attrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args as never) as TensorInfo;
    const ra = a.shape.length,
      rb = b.shape.length;
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const batched = batchA > 1 || batchB > 1;
    // The stock batched path adds a rank-1 bias at index i*n+j instead of j (wrong), so fused
    // batched products are always split (except PReLU, whose weights we leave to the original).
    const splittable =
      (batchA === batchB || batchA === 1 || batchB === 1) &&
      (!fused || (attrs.activation !== 'prelu' && (inputs.bias == null || inputs.bias.shape.length <= 1)));
    const split = batched && splittable && (fused || m * k * n >= MIN_SPLIT_MACS);
    if (!transposeA && !transposeB && !split) return original(args as never) as TensorInfo;
    if (batched && !split) return original(args as never) as TensorInfo;

    const temps: TensorInfo[] = [];
    const at = transposeA ? transposeLast2(a, backend) : a;
    if (transposeA) temps.push(at);
    const bt = transposeB ? transposeLast2(b, backend) : b;
    if (transposeB) temps.push(bt);
    const plainAttrs = { ...attrs, transposeA: false, transposeB: false };
    try {
      if (!split) {
        return original({ inputs: { ...inputs, a: at, b: bt }, backend, attrs: plainAttrs } as never) as TensorInfo;
      }
      return splitBatches(original, { ...inputs, a: at, b: bt }, batchA, batchB, m, k, n, backend, plainAttrs);
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  }) as unknown as KernelFunc;
}

/**
 * out[p] = a[p]·b[p] (plain, untransposed operands; plus bias/activation if fused), one fast
 * product per batch entry.
 */
function splitBatches(
  original: KernelFunc,
  inputs: MatMulArgs['inputs'],
  batchA: number,
  batchB: number,
  m: number,
  k: number,
  n: number,
  backend: BackendWasm,
  attrs: object,
): TensorInfo {
  const { a, b } = inputs;
  const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  const out = backend.makeOutput([...outer, m, n], 'float32');
  for (let p = 0; p < batch; ++p) {
    const ap = batchA === 1 ? view(a, [1, m, k]) : copySlice(a, p, m * k, [1, m, k], backend);
    const bp = batchB === 1 ? view(b, [1, k, n]) : copySlice(b, p, k * n, [1, k, n], backend);
    const op = original({ inputs: { ...inputs, a: ap, b: bp }, backend, attrs } as never) as TensorInfo;
    // Views only now: allocations above may have grown (and detached) the wasm heap.
    (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(op) as Float32Array, p * m * n);
    backend.disposeData(op.dataId);
    if (batchA !== 1) backend.disposeData(ap.dataId);
    if (batchB !== 1) backend.disposeData(bp.dataId);
  }
  return out;
}

function copySlice(t: TensorInfo, p: number, size: number, shape: number[], backend: BackendWasm): TensorInfo {
  const s = backend.makeOutput(shape, 'float32');
  const src = backend.typedArrayFromHeap(t) as Float32Array;
  (backend.typedArrayFromHeap(s) as Float32Array).set(src.subarray(p * size, (p + 1) * size));
  return s;
}

export function registerWasmMatMul(): void {
  overrideWasmKernel('BatchMatMul', (orig) => fastMatMul(orig, false));
  overrideWasmKernel('_FusedMatMul', (orig) => fastMatMul(orig, true));
}
