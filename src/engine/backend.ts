/**
 * Backend selection: tfjs-node-gpu (CUDA), then tfjs-node, then WebAssembly, then plain JS.
 * The node packages are optional dependencies: they install only where libtensorflow can be
 * downloaded, so every path here must work without them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { silenceCpuNotice } from './tfjsInternals';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmConv2DBackpropFilter, registerWasmTrainingKernels } from './kernels';
import { nativeAddon, registerNativeKernels, unregisterNativeKernels } from './kernels/native';
import { UsageError } from '../errors';

/** The version of TensorFlow.js in use, for config.json. */
export function tfjsVersion(): string {
  return tf.version_core;
}

export const backendChoices = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof backendChoices)[number];

export interface BackendInfo {
  /** The tfjs backend that runs: 'tensorflow', 'wasm' or 'cpu'. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** The package that provides it. */
  package: string;
  /** For tensorflow: 'GPU (CUDA)' or 'CPU'; otherwise 'CPU'. */
  device: string;
  /** wasm: whether the SIMD binary was loaded. */
  simd?: boolean;
  /** wasm: the training kernels in use ('native': the C++ addon over the WASM heap). */
  kernels?: WasmKernels;
  /** wasm with native kernels: their path, the instructions they use ('avx512', 'avx2', 'baseline'). */
  nativeSimd?: string;
}

/**
 * wasm's training kernels: 'native' (C++ addon built by node-gyp, on several threads), 'tuned'
 * (./kernels, JavaScript and XNNPACK, one thread), 'minimal' (only the Conv2DBackpropFilter the
 * backend lacks, to measure what the others add).
 */
export type WasmKernels = 'native' | 'tuned' | 'minimal';

const nodePackages = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

function tryLoadNodeBackend(): BackendInfo | undefined {
  for (const pkg of nodePackages) {
    try {
      require(pkg); // registers the 'tensorflow' backend as a side effect
      return { name: 'tensorflow', package: pkg, device: pkg.endsWith('-gpu') ? 'GPU (CUDA)' : 'CPU' };
    } catch {
      // not installed (the usual case here: its install script needs a download host)
    }
  }
  return undefined;
}

export interface BackendSettings {
  /** wasm only; by default 'native' where the addon was built (and EVOLVE_NATIVE is not 0), else 'tuned'. */
  kernels?: WasmKernels;
}

/** The wasm kernels `settings` ask for, falling back from 'native' to 'tuned' when the addon is missing. */
export function wasmKernelsFor(settings: BackendSettings = {}): WasmKernels {
  if (settings.kernels === 'minimal' || settings.kernels === 'tuned') return settings.kernels;
  if (settings.kernels === undefined && process.env.EVOLVE_NATIVE === '0') return 'tuned';
  return nativeAddon() ? 'native' : 'tuned';
}

async function activate(name: BackendInfo['name'], settings: BackendSettings = {}): Promise<void> {
  if (name === 'wasm') {
    const kernels = wasmKernelsFor(settings);
    if (kernels === 'minimal') registerWasmConv2DBackpropFilter();
    else registerWasmTrainingKernels();
    if (kernels === 'native') registerNativeKernels();
    else unregisterNativeKernels(); // registrations are process-wide: an earlier selection's must go
  }
  if (!(await tf.setBackend(name))) throw new Error(`the ${name} backend failed to initialise`);
  await tf.ready();
  if (name === 'cpu') {
    // The cpu backend nags on stderr to install tfjs-node; we already told the user which backend runs.
    silenceCpuNotice(tf.backend());
  }
}

export async function selectBackend(choice: BackendChoice, settings: BackendSettings = {}): Promise<BackendInfo> {
  if (choice === 'tensorflow' || choice === 'auto') {
    const node = tryLoadNodeBackend();
    if (node) {
      await activate('tensorflow');
      return node;
    }
    if (choice === 'tensorflow') {
      throw new UsageError(
        "--backend tensorflow: not installed; run 'npm install @tensorflow/tfjs-node' " +
          '(or @tensorflow/tfjs-node-gpu with CUDA), or use --backend wasm',
      );
    }
  }
  if (choice === 'cpu') {
    await activate('cpu');
    return { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', device: 'CPU' };
  }
  await activate('wasm', settings);
  const simd = Boolean(tf.env().getAsync ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : false);
  const kernels = wasmKernelsFor(settings);
  return {
    name: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    device: 'CPU',
    simd,
    kernels,
    ...(kernels === 'native' ? { nativeSimd: nativeAddon()!.simd() } : {}),
  };
}
