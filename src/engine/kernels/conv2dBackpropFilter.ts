/**
 * Conv2DBackpropFilter for the tfjs WASM backend, which ships without one
 * (so conv nets cannot train on 'wasm' out of the box).
 *
 * dW = im2col(x)^T · dy, where the im2col patches are built in JS directly in
 * the wasm heap and the product runs through the backend's own BatchMatMul.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
// Type-only import: importing the package for real would register the backend as a side effect.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const KERNEL_NAME = 'Conv2DBackpropFilter';
const BACKEND_NAME = 'wasm';

// Experimental switch for benchmarking: true = patches stored [K, M], matmul without transposeA.
let patchesTransposed = false;
export function _setPatchesTransposed(v: boolean): void { patchesTransposed = v; }

interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

export function wasmConv2DBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    args.attrs as unknown as Conv2DBackpropFilterAttrs;

  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`wasm Conv2DBackpropFilter supports only dataFormat 'NHWC', got '${dataFormat}'.`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`wasm Conv2DBackpropFilter supports only float32 (got x ${x.dtype}, dy ${dy.dtype}).`);
  }

  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1 /* dilations */,
    pad, dimRoundingMode, false /* depthwise */, 'channelsLast');
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outChannels: Cout,
    outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw, strideHeight: sh,
    strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const M = B * oh * ow;
  const K = kh * kw * Cin;

  // Allocate first: heap growth would detach any typed-array views taken earlier.
  const patches = backend.makeOutput(patchesTransposed ? [1, K, M] : [1, M, K], 'float32');
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const pv = backend.typedArrayFromHeap(patches) as Float32Array;

  if (!patchesTransposed) {
    // Row m = (b, r, c) holds the receptive field in (i, j, ci) order, so dW reshapes to [kh,kw,Cin,Cout].
    let m = 0;
    for (let b = 0; b < B; ++b) {
      const xb = b * H * W * Cin;
      for (let r = 0; r < oh; ++r) {
        const r0 = r * sh - top;
        for (let c = 0; c < ow; ++c, ++m) {
          const c0 = c * sw - left;
          let p = m * K;
          for (let i = 0; i < kh; ++i) {
            const xr = r0 + i;
            if (xr < 0 || xr >= H) { pv.fill(0, p, p + kw * Cin); p += kw * Cin; continue; }
            for (let j = 0; j < kw; ++j, p += Cin) {
              const xc = c0 + j;
              if (xc < 0 || xc >= W) { pv.fill(0, p, p + Cin); continue; }
              const src = xb + (xr * W + xc) * Cin;
              for (let ci = 0; ci < Cin; ++ci) pv[p + ci] = xv[src + ci];
            }
          }
        }
      }
    }
  } else {
    // Row k = (i, j, ci) lists that tap's input value for every output position m.
    for (let i = 0; i < kh; ++i) {
      for (let j = 0; j < kw; ++j) {
        for (let ci = 0; ci < Cin; ++ci) {
          let p = ((i * kw + j) * Cin + ci) * M;
          for (let b = 0; b < B; ++b) {
            const xb = b * H * W * Cin + ci;
            for (let r = 0; r < oh; ++r) {
              const xr = r * sh - top + i;
              if (xr < 0 || xr >= H) { pv.fill(0, p, p + ow); p += ow; continue; }
              for (let c = 0; c < ow; ++c, ++p) {
                const xc = c * sw - left + j;
                pv[p] = xc < 0 || xc >= W ? 0 : xv[xb + (xr * W + xc) * Cin];
              }
            }
          }
        }
      }
    }
  }

  // Reshape views share the dataId; BatchMatMul manages its own internal refs.
  const a: TensorInfo = { dataId: patches.dataId, shape: patches.shape, dtype: 'float32' };
  const bDy: TensorInfo = { dataId: dy.dataId, shape: [1, M, Cout], dtype: 'float32' };
  const matMul = tf.getKernel('BatchMatMul', BACKEND_NAME);
  if (matMul == null) throw new Error('wasm BatchMatMul kernel is not registered.');
  const out = matMul.kernelFunc({
    inputs: { a, b: bDy },
    backend,
    attrs: { transposeA: !patchesTransposed, transposeB: false },
  }) as TensorInfo;
  backend.disposeData(patches.dataId);
  return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
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
