/**
 * evolve's native training kernels (native/kernels.cc, built by node-gyp during `npm ci`),
 * registered as tfjs WASM-backend kernels. They read and write the WASM heap in place: the
 * backend keeps every tensor there, so a kernel call passes the heap and byte offsets only.
 *
 * Why native code: the WASM backend runs on one thread under Node, its convolution gradients
 * are missing or slow, and WASM SIMD is 128 bits wide. The addon runs a packed GEMM on a pool of
 * threads, compiled for AVX-512, for AVX2 with FMA and for the x86-64 baseline; it takes the
 * widest path the CPU runs, or the one EVOLVE_CPU names, and computes the same floats whatever
 * the path and thread count. When the addon was not built (no compiler), training uses ./index's
 * JavaScript kernels instead.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, broadcast_util, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { overrideWasmKernel, restoreWasmKernel } from './wasmUtil';
import { wasmHeap, wasmMemoryOffset } from '../tfjsInternals';
import { UsageError } from '../../errors';

/** The addon's functions (see native/kernels.cc for the argument order). */
interface Addon {
  conv2d(heap: ArrayBuffer, ...args: number[]): void;
  conv2dBackpropInput(heap: ArrayBuffer, ...args: number[]): void;
  conv2dBackpropFilter(heap: ArrayBuffer, ...args: number[]): void;
  matmul(heap: ArrayBuffer, ...args: number[]): void;
  maxPoolGrad(heap: ArrayBuffer, ...args: number[]): void;
  /** false (the output then unspecified) when an input was NaN or -0. */
  maxPool(heap: ArrayBuffer, ...args: number[]): boolean;
  sum(heap: ArrayBuffer, ...args: number[]): void;
  biasAdd(heap: ArrayBuffer, a: number, b: number, out: number, rows: number, cols: number): void;
  gatherImages(
    heap: ArrayBuffer,
    out: number,
    images: Uint8Array,
    indices: Uint32Array,
    start: number,
    end: number,
    size: number,
    channels: number,
    table: Float32Array,
  ): void;
  maskedStep(
    heap: ArrayBuffer,
    w: number,
    g: number,
    mask: number,
    v: number,
    n: number,
    learningRate: number,
    momentum: number,
  ): void;
  /** The path the kernels take: 'avx512', 'avx2' or 'baseline' (x86-64's SSE2; any CPU elsewhere). */
  simd(): string;
  /** GFLOP/s of the path's own vector multiply-add on `threads` threads (about 0.3 s of timing). */
  fmaPeak(threads: number): number;
  /** The paths this CPU runs, widest first. */
  paths(): string[];
  /** Makes the kernels take `path` (a RangeError when this CPU cannot run it). */
  usePath(path: string): void;
}

/** Every path the addon may have, widest first, and the instructions each needs. */
export const nativePaths = { avx512: 'AVX-512 (F, VL, BW, DQ)', avx2: 'AVX2 and FMA', baseline: 'SSE2' } as const;

/** build/Release under the package root (this file is dist/src/engine/kernels/native.js). */
export const addonPath = path.join(__dirname, '..', '..', '..', '..', 'build', 'Release', 'evolve_kernels.node');

let addon: Addon | null | undefined;
let loadError: string | undefined;
let pathError: UsageError | undefined;

/**
 * The addon, or null when it was not built or fails to load (then `nativeLoadError()` says why).
 * A UsageError when EVOLVE_CPU names a path it does not have or this CPU cannot run.
 */
export function nativeAddon(): Addon | null {
  if (addon === undefined) {
    try {
      addon = require(addonPath) as Addon;
    } catch (e) {
      addon = null;
      loadError = (e as Error).message.split('\n')[0];
    }
    if (addon) pathError = forcePath(addon, process.env.EVOLVE_CPU);
  }
  if (pathError) throw pathError;
  return addon;
}

/** Takes the path EVOLVE_CPU names (unset or 'auto': the widest this CPU runs), or says why not. */
function forcePath(a: Addon, wanted: string | undefined): UsageError | undefined {
  if (!wanted || wanted === 'auto') return undefined;
  if (!Object.hasOwn(nativePaths, wanted)) {
    return new UsageError(`EVOLVE_CPU=${wanted}: expected auto, ${Object.keys(nativePaths).join(', ')}`);
  }
  const runs = a.paths();
  if (!runs.includes(wanted)) {
    const needs = nativePaths[wanted as keyof typeof nativePaths];
    return new UsageError(`EVOLVE_CPU=${wanted}: this CPU lacks ${needs}; it runs ${runs.join(', ')}`);
  }
  a.usePath(wanted);
  return undefined;
}

/** The active path's multiply-add peak on `threads` threads, in GFLOP/s; null without the addon. */
export function nativeFmaPeak(threads: number): number | null {
  return nativeAddon()?.fmaPeak(threads) ?? null;
}

export function nativeLoadError(): string | undefined {
  nativeAddon();
  return loadError;
}

let threads = 1;
let registered = false;

/** Whether the current backend computes with the native kernels (wasm, addon registered). */
export function nativeKernelsActive(): boolean {
  return registered && tf.getBackend() === 'wasm';
}

/** Threads each native kernel call uses (this Node thread's setting; results do not depend on it). */
export function setNativeThreads(n: number): void {
  threads = Math.max(1, Math.floor(n));
}

export function nativeThreads(): number {
  return threads;
}

const offset = wasmMemoryOffset;
const heap = wasmHeap;

type Conv2DInfo = backend_util.Conv2DInfo;

function geometry(c: Conv2DInfo): number[] {
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
  ];
}

/** Cases the native kernels cover: float32, NHWC, no dilation. Others go to the kernel replaced. */
function covered(c: Conv2DInfo, ...ts: TensorInfo[]): boolean {
  return (
    ts.every((t) => t.dtype === 'float32') &&
    c.dilationHeight === 1 &&
    c.dilationWidth === 1 &&
    c.dataFormat === 'channelsLast'
  );
}

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

type Shape4 = [number, number, number, number];

/**
 * The three convolution kernels differ only in their operands: which two inputs they read
 * (in the addon's argument order), how the geometry's input and filter shapes are found, and
 * which of the two shapes (or the output's) the result has.
 */
interface ConvSpec {
  inputs: [string, string];
  shapes(
    inputs: Record<string, TensorInfo>,
    attrs: ConvAttrs,
  ): { input: Shape4; filter: Shape4; dilations: ConvAttrs['dilations'] };
  output(c: Conv2DInfo): number[];
  call(a: Addon): (heap: ArrayBuffer, ...args: number[]) => void;
}

function convKernel(original: KernelFunc | undefined, a: Addon, spec: ConvSpec): KernelFunc {
  return ((args: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: ConvAttrs }) => {
    const { inputs, backend, attrs } = args;
    if (attrs.dataFormat === 'NCHW' && original) return original(args as never);
    const [p, q] = spec.inputs.map((name) => inputs[name]);
    const { input, filter, dilations } = spec.shapes(inputs, attrs);
    const c = backend_util.computeConv2DInfo(
      input,
      filter,
      attrs.strides,
      dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    if (!covered(c, p, q) && original) return original(args as never);
    const out = backend.makeOutput(spec.output(c), 'float32');
    spec.call(a)(heap(backend), offset(backend, p), offset(backend, q), offset(backend, out), ...geometry(c), threads);
    return out;
  }) as unknown as KernelFunc;
}

const convSpecs: Record<'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter', ConvSpec> = {
  Conv2D: {
    inputs: ['x', 'filter'],
    shapes: (i, attrs) => ({
      input: i.x.shape as Shape4,
      filter: i.filter.shape as Shape4,
      dilations: attrs.dilations,
    }),
    output: (c) => c.outShape,
    call: (a) => a.conv2d,
  },
  Conv2DBackpropInput: {
    inputs: ['dy', 'filter'],
    shapes: (i, attrs) => ({ input: attrs.inputShape!, filter: i.filter.shape as Shape4, dilations: 1 }),
    output: (c) => [c.batchSize, c.inHeight, c.inWidth, c.inChannels],
    call: (a) => a.conv2dBackpropInput,
  },
  Conv2DBackpropFilter: {
    inputs: ['x', 'dy'],
    shapes: (i, attrs) => ({ input: i.x.shape as Shape4, filter: attrs.filterShape!, dilations: 1 }),
    output: (c) => [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels],
    call: (a) => a.conv2dBackpropFilter,
  },
};

function batchMatMul(original: KernelFunc, a: Addon): KernelFunc {
  return ((args: {
    inputs: { a: TensorInfo; b: TensorInfo };
    backend: BackendWasm;
    attrs: { transposeA: boolean; transposeB: boolean };
  }) => {
    const {
      inputs: { a: ta, b: tb },
      backend,
      attrs: { transposeA, transposeB },
    } = args;
    if (ta.dtype !== 'float32' || tb.dtype !== 'float32') return original(args as never);
    const ra = ta.shape.length,
      rb = tb.shape.length;
    const batchA = util.sizeFromShape(ta.shape.slice(0, -2));
    const batchB = util.sizeFromShape(tb.shape.slice(0, -2));
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return original(args as never);
    const m = transposeA ? ta.shape[ra - 1] : ta.shape[ra - 2];
    const k = transposeA ? ta.shape[ra - 2] : ta.shape[ra - 1];
    const n = transposeB ? tb.shape[rb - 2] : tb.shape[rb - 1];
    const outer = broadcast_util.assertAndGetBroadcastShape(ta.shape.slice(0, -2), tb.shape.slice(0, -2));
    const out = backend.makeOutput([...outer, m, n], 'float32');
    a.matmul(
      heap(backend),
      offset(backend, ta),
      offset(backend, tb),
      offset(backend, out),
      batchA,
      batchB,
      m,
      n,
      k,
      transposeA ? 1 : 0,
      transposeB ? 1 : 0,
      threads,
    );
    return out;
  }) as unknown as KernelFunc;
}

function maxPoolGrad(original: KernelFunc, a: Addon): KernelFunc {
  return ((args: {
    inputs: { dy: TensorInfo; input: TensorInfo };
    backend: BackendWasm;
    attrs: ConvAttrs & { filterSize: [number, number] | number };
  }) => {
    const {
      inputs: { dy, input },
      backend,
      attrs,
    } = args;
    if (dy.dtype !== 'float32' || input.dtype !== 'float32') return original(args as never);
    const p = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const dx = backend.makeOutput(input.shape, 'float32');
    a.maxPoolGrad(
      heap(backend),
      offset(backend, dy),
      offset(backend, input),
      offset(backend, dx),
      p.batchSize,
      p.inHeight,
      p.inWidth,
      p.inChannels,
      p.outHeight,
      p.outWidth,
      p.effectiveFilterHeight,
      p.effectiveFilterWidth,
      p.strideHeight,
      p.strideWidth,
      p.padInfo.top,
      p.padInfo.left,
      threads,
    );
    return dx;
  }) as unknown as KernelFunc;
}

/**
 * Max pool without padding. The WASM backend's (XNNPACK) compares in an order of its own, which
 * decides the result only for NaN and -0 inputs; on those the native kernel gives the input back
 * to it, so the floats are the WASM backend's in every case (~80 us for a compacted LeNet-5's
 * two one-channel pools, to ~10 us).
 */
function maxPool(original: KernelFunc, a: Addon): KernelFunc {
  return ((args: {
    inputs: { x: TensorInfo };
    backend: BackendWasm;
    attrs: ConvAttrs & { filterSize: [number, number] | number };
  }) => {
    const {
      inputs: { x },
      backend,
      attrs,
    } = args;
    if (x.dtype !== 'float32' || x.shape.length !== 4) return original(args as never);
    const p = backend_util.computePool2DInfo(
      x.shape as Shape4,
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const { top, bottom, left, right } = p.padInfo;
    if (top !== 0 || bottom !== 0 || left !== 0 || right !== 0 || p.dilationHeight !== 1 || p.dilationWidth !== 1)
      return original(args as never);
    if (p.outHeight <= 0 || p.outWidth <= 0 || p.batchSize === 0 || p.inChannels === 0) return original(args as never);
    const y = backend.makeOutput(p.outShape, 'float32');
    const exact = a.maxPool(
      heap(backend),
      offset(backend, x),
      offset(backend, y),
      p.batchSize,
      p.inHeight,
      p.inWidth,
      p.inChannels,
      p.outHeight,
      p.outWidth,
      p.filterHeight,
      p.filterWidth,
      p.strideHeight,
      p.strideWidth,
      threads,
    );
    if (exact) return y;
    backend.disposeData(y.dataId);
    return original(args as never);
  }) as unknown as KernelFunc;
}

/**
 * Sum over leading axes (bias gradients: [batch, h, w, c] summed to [c]) or trailing axes; the
 * stock kernel transposes the input first when the axes are not the last ones.
 */
function sum(original: KernelFunc, a: Addon): KernelFunc {
  return ((args: {
    inputs: { x: TensorInfo };
    backend: BackendWasm;
    attrs: { axis: number | number[]; keepDims: boolean };
  }) => {
    const {
      inputs: { x },
      backend,
      attrs,
    } = args;
    if (x.dtype !== 'float32' || x.shape.length === 0) return original(args as never);
    const rank = x.shape.length;
    const axes = util
      .parseAxisParam(attrs.axis, x.shape)
      .slice()
      .sort((p, q) => p - q);
    const leading = axes.every((ax, i) => ax === i);
    const trailing = axes.every((ax, i) => ax === rank - axes.length + i);
    if (axes.length === 0 || (!leading && !trailing)) return original(args as never);
    const split = leading ? axes.length : rank - axes.length;
    const outer = util.sizeFromShape(x.shape.slice(0, split));
    const inner = util.sizeFromShape(x.shape.slice(split));
    const kept = x.shape.filter((_, i) => !axes.includes(i));
    const shape = attrs.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept;
    const out = backend.makeOutput(shape, 'float32');
    a.sum(heap(backend), offset(backend, x), offset(backend, out), outer, inner, leading ? 1 : 0);
    return out;
  }) as unknown as KernelFunc;
}

/**
 * A layer's bias added to its outputs ([..., c] + [c]): the stock kernel broadcasts element by
 * element (~100 us for a compacted conv2's 20k outputs); other additions go to it.
 */
function add(original: KernelFunc, a: Addon): KernelFunc {
  return ((args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm }) => {
    const {
      inputs: { a: x, b },
      backend,
    } = args;
    const cols = b.shape[0];
    const bias =
      x.dtype === 'float32' && b.dtype === 'float32' && b.shape.length === 1 && x.shape.length > 1 && cols > 0;
    const rows = util.sizeFromShape(x.shape) / cols;
    if (!bias || x.shape[x.shape.length - 1] !== cols || rows === 0) return original(args as never);
    const out = backend.makeOutput(x.shape, 'float32');
    a.biasAdd(heap(backend), offset(backend, x), offset(backend, b), offset(backend, out), rows, cols);
    return out;
  }) as unknown as KernelFunc;
}

/**
 * Identity without a copy, as the cpu backend's: the engine clones every tensor a gradient keeps
 * (27 a LeNet-5 step), and the WASM kernel copies each. Tensors are immutable to tfjs; the one
 * writer in place, nativeMaskedStep, runs after the backward pass has disposed those clones and
 * checks that its variable shares its memory with nobody.
 */
function sharedIdentity(original: KernelFunc): KernelFunc {
  return ((args: { inputs: { x: TensorInfo }; backend: BackendWasm }) => {
    const {
      inputs: { x },
      backend,
    } = args;
    if (x.dtype === 'string') return original(args as never);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as unknown as KernelFunc;
}

/**
 * Registers the native kernels over the wasm backend's (after ./index's, which they replace).
 * Returns false, registering nothing, when the addon is not available.
 */
export function registerNativeKernels(): boolean {
  const a = nativeAddon();
  if (!a) return false;
  registered = true;
  for (const [name, spec] of Object.entries(convSpecs))
    overrideWasmKernel(name, (orig) => convKernel(orig, a, spec), 'native');
  overrideWasmKernel('BatchMatMul', (orig) => batchMatMul(orig, a), 'native');
  overrideWasmKernel('MaxPoolGrad', (orig) => maxPoolGrad(orig, a), 'native');
  overrideWasmKernel('MaxPool', (orig) => maxPool(orig, a), 'native');
  overrideWasmKernel('Identity', sharedIdentity, 'native');
  overrideWasmKernel('Sum', (orig) => sum(orig, a), 'native');
  overrideWasmKernel('Add', (orig) => add(orig, a), 'native');
  return true;
}

/** Puts back the kernels registerNativeKernels replaced (a later selection of other kernels). */
export function unregisterNativeKernels(): void {
  for (const name of [
    'Conv2D',
    'Conv2DBackpropInput',
    'Conv2DBackpropFilter',
    'BatchMatMul',
    'MaxPoolGrad',
    'MaxPool',
    'Identity',
    'Sum',
    'Add',
  ]) {
    restoreWasmKernel(name, 'native');
  }
  registered = false;
}

/**
 * One masked SGD(-momentum) step written in place into the variable `w` and the accumulator `v`
 * (null for plain SGD): the same floats as masking the gradient, tfjs's optimizer step and
 * re-applying the mask, in one call instead of ~9 tfjs kernels. Only for tensors that own their
 * memory (a variable never assigned to shares it with nobody).
 */
export function nativeMaskedStep(
  w: TensorInfo,
  g: TensorInfo,
  mask: TensorInfo,
  v: TensorInfo | null,
  learningRate: number,
  momentum: number,
): void {
  const a = nativeAddon();
  if (!a || !nativeKernelsActive()) throw new Error('the native kernels are not active');
  const backend = tf.backend() as unknown as BackendWasm;
  const n = util.sizeFromShape(w.shape);
  for (const t of [g, mask, ...(v ? [v] : [])]) {
    if (util.sizeFromShape(t.shape) !== n || t.dtype !== 'float32')
      throw new Error('nativeMaskedStep: operands differ in size or type');
  }
  // Written in place: a tensor sharing w's or v's memory (a clone, a reshape) would change with it.
  for (const t of [w, ...(v ? [v] : [])]) {
    if (backend.refCount(t.dataId) !== 1) throw new Error('nativeMaskedStep: a tensor shares the memory written');
  }
  a.maskedStep(
    heap(backend),
    offset(backend, w),
    offset(backend, g),
    offset(backend, mask),
    v ? offset(backend, v) : -1,
    n,
    learningRate,
    momentum,
  );
}

/** What nativeImageBatch gathers: samples start..end of `indices` (null: in order), each byte through `table`. */
export interface ByteBatch {
  images: Uint8Array;
  indices: Uint32Array | null;
  start: number;
  end: number;
  /** [height, width, channels] of one image. */
  shape: readonly number[];
  /** 256 floats per channel: the float each byte value becomes (see fillBatch). */
  table: Float32Array;
}

const inOrder = new Uint32Array(0);

/**
 * The batch as a [n, h, w, c] float tensor written straight into the WASM heap, the floats
 * fillBatch gives without augmentation (test/nativeKernels.test.ts compares them); null when the
 * native kernels are not active.
 */
export function nativeImageBatch(b: ByteBatch): tf.Tensor4D | null {
  const a = nativeAddon();
  if (!a || !nativeKernelsActive()) return null;
  const backend = tf.backend() as unknown as BackendWasm;
  const [h, w, c] = b.shape;
  const out = backend.makeOutput([b.end - b.start, h, w, c], 'float32');
  const t = tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor4D;
  try {
    a.gatherImages(
      heap(backend),
      offset(backend, out),
      b.images,
      b.indices ?? inOrder,
      b.start,
      b.end,
      h * w * c,
      c,
      b.table,
    );
  } catch (e) {
    t.dispose();
    throw e;
  }
  return t;
}
