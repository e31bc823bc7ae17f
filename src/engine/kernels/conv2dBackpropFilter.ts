/**
 * Conv2DBackpropFilter for the tfjs WASM backend, which ships without one
 * (so conv nets cannot train on 'wasm' out of the box).
 *
 * dW = im2col(x)^T · dy, where the (transposed) im2col patches are built in JS directly in
 * the wasm heap and the product runs through the backend's own BatchMatMul.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
// Type-only import: importing the package for real would register the backend as a side effect.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const KERNEL_NAME = 'Conv2DBackpropFilter';
const BACKEND_NAME = 'wasm';

export function wasmConv2DBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;

  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropFilter supports only dataFormat 'NHWC', got '${dataFormat}'.`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`wasm Conv2DBackpropFilter supports only float32 (got x ${x.dtype}, dy ${dy.dtype}).`);
  }

  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1 /* dilations */,
    pad,
    dimRoundingMode,
    false /* depthwise */,
    'channelsLast',
  );
  const {
    batchSize: B,
    inChannels: Cin,
    outChannels: Cout,
    outHeight: oh,
    outWidth: ow,
    filterHeight: kh,
    filterWidth: kw,
  } = info;
  const M = B * oh * ow;
  // Looked up before allocating so a failure here cannot leak the patches buffer.
  const matMul = tf.getKernel('BatchMatMul', BACKEND_NAME);
  if (matMul == null) throw new Error('wasm BatchMatMul kernel is not registered.');
  const K = kh * kw * Cin;

  // Patches are built already transposed, [K, M], so BatchMatMul runs without transposeA:
  // its transposeA path is about 6x slower (docs/performance.md).
  // Allocate first: heap growth would detach any typed-array views taken earlier.
  const patches = backend.makeOutput([1, K, M], 'float32');
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  fillTransposedPatches(xv, backend.typedArrayFromHeap(patches) as Float32Array, info);

  // Reshape views share the dataId; BatchMatMul manages its own internal refs.
  const bDy: TensorInfo = { dataId: dy.dataId, shape: [1, M, Cout], dtype: 'float32' };
  const out = matMul.kernelFunc({
    inputs: { a: patches, b: bDy },
    backend,
    attrs: { transposeA: false, transposeB: false },
  }) as TensorInfo;
  backend.disposeData(patches.dataId);
  return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
}

/**
 * im2col, transposed: row k = (i, j, ci) of the [K, M] patches lists that filter tap's input
 * value at every output position m = (b, r, c); (i, j, ci) order makes the [K, Cout] product
 * reshape directly to [kh, kw, Cin, Cout].
 */
function fillTransposedPatches(xv: Float32Array, pv: Float32Array, info: backend_util.Conv2DInfo): void {
  const {
    batchSize: B,
    inHeight: H,
    inWidth: W,
    inChannels: Cin,
    outHeight: oh,
    outWidth: ow,
    filterHeight: kh,
    filterWidth: kw,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const M = B * oh * ow;
  for (let i = 0; i < kh; ++i) {
    for (let j = 0; j < kw; ++j) {
      // Output columns whose tap j falls inside the image; the rest read padding (zero).
      const cLo = Math.min(ow, Math.max(0, Math.ceil((left - j) / sw)));
      const cHi = Math.max(cLo, Math.min(ow, Math.ceil((W + left - j) / sw)));
      const step = sw * Cin;
      for (let ci = 0; ci < Cin; ++ci) {
        let p = ((i * kw + j) * Cin + ci) * M;
        for (let b = 0; b < B; ++b) {
          for (let r = 0; r < oh; ++r, p += ow) {
            const xr = r * sh - top + i;
            // Plain loops, not TypedArray.fill: rows are short and fill's call overhead dominated (2x slower).
            if (xr < 0 || xr >= H) {
              for (let c = 0; c < ow; ++c) pv[p + c] = 0;
              continue;
            }
            for (let c = 0; c < cLo; ++c) pv[p + c] = 0;
            let src = ((b * H + xr) * W + cLo * sw - left + j) * Cin + ci;
            for (let c = cLo; c < cHi; ++c, src += step) pv[p + c] = xv[src];
            for (let c = cHi; c < ow; ++c) pv[p + c] = 0;
          }
        }
      }
    }
  }
}

/** Registers the kernel for 'wasm'; safe to call repeatedly and before the backend is initialised. */
export function registerWasmConv2DBackpropFilter(): void {
  if (tf.getKernel(KERNEL_NAME, BACKEND_NAME) != null) return;
  const config: KernelConfig = {
    kernelName: KERNEL_NAME,
    backendName: BACKEND_NAME,
    kernelFunc: wasmConv2DBackpropFilter as unknown as KernelFunc,
  };
  tf.registerKernel(config);
}
