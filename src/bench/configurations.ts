/**
 * The engine configurations `evolve bench` compares. Kernel registrations are global to a process,
 * so each one is measured in a fresh child process (see ./runner).
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { type BackendInfo, selectBackend } from '../engine/backend';
import { nativeAddon, nativeLoadError } from '../engine/kernels/native';

export const configurationNames = ['cpu', 'wasm-plain', 'wasm-tuned', 'native', 'tensorflow'] as const;
export type ConfigurationName = (typeof configurationNames)[number];

export const configurationDescriptions: Record<ConfigurationName, string> = {
  cpu: "tfjs's plain-JavaScript backend",
  'wasm-plain': 'WASM backend, only the missing Conv2DBackpropFilter added',
  'wasm-tuned': "WASM backend with evolve's JavaScript kernels, one thread (where the native addon is not built)",
  native: "evolve's default: WASM backend with its native C++ kernels (node-gyp), one thread per core",
  tensorflow: 'tfjs-node(-gpu): libtensorflow',
};

export const nodeBackendPackages = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** The first tfjs-node package that resolves, without loading it (loading registers a backend). */
export function installedNodeBackend(): string | undefined {
  for (const pkg of nodeBackendPackages) {
    try {
      require.resolve(pkg);
      return pkg;
    } catch {
      // not installed
    }
  }
  return undefined;
}

export interface ActiveConfiguration {
  backend: BackendInfo;
  /** Threads the backend computes with (the wasm backend runs single-threaded under Node). */
  threads: number | null;
}

export async function activateConfiguration(name: ConfigurationName): Promise<ActiveConfiguration> {
  switch (name) {
    case 'cpu':
      return { backend: await selectBackend('cpu'), threads: 1 };
    case 'wasm-plain':
    case 'wasm-tuned': {
      const backend = await selectBackend('wasm', { kernels: name === 'wasm-plain' ? 'minimal' : 'tuned' });
      return { backend, threads: wasmThreads() };
    }
    case 'native': {
      const backend = await selectBackend('wasm', { kernels: 'native' });
      if (backend.kernels !== 'native') throw new Error(`the native addon is not built (${nativeLoadError()})`);
      return { backend, threads: os.availableParallelism() };
    }
    case 'tensorflow':
      // libtensorflow sizes its own thread pools; not observable from tfjs.
      return { backend: await selectBackend('tensorflow'), threads: null };
  }
}

function wasmThreads(): number | null {
  return tf.getBackend() === 'wasm' ? getThreadsCount() : null;
}

/** Whether the native addon loads here (the native configuration needs it). */
export function nativeBuilt(): boolean {
  return nativeAddon() !== null;
}
