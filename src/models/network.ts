/** A network's parameters as plain typed arrays: what the encoding reads and the engine trains. */
import { type Architecture, type WeightedLayer, kernelSize, weightedLayers } from './architecture';
import type { Random } from '../random';

export interface LayerParams {
  /** Row-major in the layer's kernel shape (conv [kh, kw, cin, cout], dense [in, out]). */
  kernel: Float32Array;
  bias: Float32Array;
  /** 1 = live synapse, 0 = dead; same layout as `kernel`. */
  mask: Uint8Array;
}

export interface Network {
  arch: Architecture;
  layers: WeightedLayer[];
  params: LayerParams[];
}

/** Glorot-uniform kernels and zero biases, drawn from `rng` so a seed fixes them; masks all live. */
export function initialiseNetwork(arch: Architecture, rng: Random): Network {
  const layers = weightedLayers(arch);
  const params = layers.map((layer) => {
    const n = kernelSize(layer);
    const fanIn = layer.spatial * layer.inUnits;
    const fanOut = layer.spatial * layer.outUnits;
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const kernel = new Float32Array(n);
    for (let i = 0; i < n; i++) kernel[i] = (rng() * 2 - 1) * limit;
    return { kernel, bias: new Float32Array(layer.outUnits), mask: new Uint8Array(n).fill(1) };
  });
  return { arch, layers, params };
}

export function cloneNetwork(net: Network): Network {
  return {
    arch: net.arch,
    layers: net.layers,
    params: net.params.map((p) => ({ kernel: p.kernel.slice(), bias: p.bias.slice(), mask: p.mask.slice() })),
  };
}

/** Zeroes every masked weight, so the arrays hold exactly what the mask says. */
export function applyMask(net: Network): void {
  for (const p of net.params) for (let i = 0; i < p.kernel.length; i++) if (!p.mask[i]) p.kernel[i] = 0;
}
