/**
 * Networks on disk in the TensorFlow.js layers format (model.json + weights.bin, loadable with
 * plain tf.loadLayersModel), with the mask beside them (mask.json + mask.bin, one byte a synapse).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type Architecture, kernelSize, type WeightedLayer, weightedLayers } from '../models/architecture';
import type { Network } from '../models/network';
import { NotAFileError, ensureDir, readRegularFile, writeFileAtomic } from '../files';
import { RunError } from '../errors';
import { opsOf } from './layerOps';

/** The same architecture as a tfjs-layers Sequential model (plain layers, no custom classes). */
export function layersModel(arch: Architecture): tfl.Sequential {
  const model = tfl.sequential({ name: arch.name });
  arch.layers.forEach((spec, i) => {
    model.add(opsOf(spec).layer(spec, i === 0 ? { inputShape: arch.inputShape } : {}));
  });
  return model;
}

interface MaskManifest {
  format: 'evolve-mask';
  layers: { name: string; shape: number[]; offset: number; length: number }[];
}

/** Writes model.json, weights.bin, mask.json and mask.bin into `dir` (created if needed). */
export async function saveNetwork(net: Network, dir: string): Promise<void> {
  ensureDir(dir);
  const model = layersModel(net.arch);
  try {
    const values = net.params.flatMap((p, l) => [tf.tensor(p.kernel, net.layers[l].kernelShape), tf.tensor1d(p.bias)]);
    model.setWeights(values);
    tf.dispose(values);
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = artifacts.weightData as ArrayBuffer;
        writeFileAtomic(path.join(dir, 'weights.bin'), new Uint8Array(data));
        const json = {
          modelTopology: artifacts.modelTopology,
          format: artifacts.format,
          generatedBy: artifacts.generatedBy,
          convertedBy: 'evolve',
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
        };
        writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(json));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
  } finally {
    model.dispose();
  }
  let offset = 0;
  const manifest: MaskManifest = { format: 'evolve-mask', layers: [] };
  for (const [l, p] of net.params.entries()) {
    manifest.layers.push({ name: net.layers[l].name, shape: net.layers[l].kernelShape, offset, length: p.mask.length });
    offset += p.mask.length;
  }
  const bytes = new Uint8Array(offset);
  manifest.layers.forEach((m, l) => {
    bytes.set(net.params[l].mask, m.offset);
  });
  writeFileAtomic(path.join(dir, 'mask.bin'), bytes);
  writeFileAtomic(path.join(dir, 'mask.json'), JSON.stringify(manifest));
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readRegularFile(file).toString('utf8');
  } catch (e) {
    if (e instanceof NotAFileError) throw e;
    throw new RunError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new RunError(`${file}: not valid JSON`);
  }
}

/** Refuses NaN or infinite weights: they would train into a useless network rather than fail. */
function checkFinite(modelJson: string, weights: Float32Array[], specs: tf.io.WeightsManifestEntry[]): void {
  weights.forEach((w, i) => {
    const at = w.findIndex((v) => !Number.isFinite(v));
    if (at >= 0)
      throw new RunError(`${modelJson}: weight ${specs[i].name}[${at}] is ${w[at]}; weights must be finite numbers`);
  });
}

/**
 * Loads a layers-format model into a Network of architecture `arch`. The weights must have the
 * architecture's shapes. The mask comes from mask.bin beside it if present, else from the
 * non-zero weights (a dense ancestor has none at exactly zero).
 */
export async function loadNetwork(modelJson: string, arch: Architecture): Promise<Network> {
  const json = readJson(modelJson) as {
    modelTopology?: unknown;
    weightsManifest?: WeightsGroup[];
  };
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new RunError(`${modelJson}: not a TensorFlow.js layers model (no modelTopology/weightsManifest)`);
  }
  const { specs, weightData } = readWeightFiles(modelJson, json.weightsManifest);
  const layers = weightedLayers(arch);
  checkWeightShapes(modelJson, specs, layers, arch.name);
  // Validate the topology too, by letting tfjs-layers build it.
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology as object,
        weightSpecs: specs,
        weightData: new Uint8Array(weightData).buffer,
      }),
    );
  } catch (e) {
    throw new RunError(`${modelJson}: not a loadable layers model (${(e as Error).message.split('\n')[0]})`);
  }
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  checkFinite(modelJson, weights, specs);
  const mask = readMaskFile(path.join(path.dirname(modelJson), 'mask.bin'), layers, arch.name);
  return { arch, layers, params: maskedParams(layers, weights, mask) };
}

type WeightsGroup = { paths: string[]; weights: tf.io.WeightsManifestEntry[] };

/** The manifest's weight entries and the bytes of its weights files, checked against each other. */
function readWeightFiles(
  modelJson: string,
  manifest: WeightsGroup[],
): { specs: tf.io.WeightsManifestEntry[]; weightData: Buffer } {
  const dir = path.dirname(modelJson);
  const specs = manifest.flatMap((g) => g.weights);
  const buffers = manifest.flatMap((g) =>
    g.paths.map((p) => {
      // Weights files lie beside model.json or below it, never elsewhere.
      if (typeof p !== 'string' || path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
        throw new RunError(`${modelJson}: weights path ${JSON.stringify(p)} leaves the model's folder`);
      }
      try {
        return readRegularFile(path.join(dir, p));
      } catch (e) {
        if (e instanceof NotAFileError) throw e;
        throw new RunError(`${modelJson}: weights file ${p} cannot be read`);
      }
    }),
  );
  const weightData = Buffer.concat(buffers);
  const expectedBytes = specs.reduce((a, s) => a + 4 * s.shape.reduce((x, y) => x * y, 1), 0);
  if (specs.some((s) => s.dtype !== 'float32' || s.quantization))
    throw new RunError(`${modelJson}: only float32 weights are supported`);
  if (weightData.length !== expectedBytes) {
    throw new RunError(`${modelJson}: weights are ${weightData.length} bytes, the manifest needs ${expectedBytes}`);
  }
  return { specs, weightData };
}

/** The weights must be the architecture's kernels and biases, in its order and shapes. */
function checkWeightShapes(
  modelJson: string,
  specs: tf.io.WeightsManifestEntry[],
  layers: WeightedLayer[],
  archName: string,
): void {
  const want = layers.flatMap((l) => [l.kernelShape, [l.outUnits]]);
  const got = specs.map((s) => s.shape);
  if (got.length !== want.length || got.some((s, i) => s.join('x') !== want[i].join('x'))) {
    const shapes = (list: number[][]) => list.map((s) => s.join('x')).join(', ');
    throw new RunError(`${modelJson}: weight shapes [${shapes(got)}] do not match ${archName} [${shapes(want)}]`);
  }
}

/** mask.bin beside the model, checked (one 0 or 1 byte per synapse), or undefined when there is none. */
function readMaskFile(maskFile: string, layers: WeightedLayer[], archName: string): Buffer | undefined {
  const mask = fs.existsSync(maskFile) ? readRegularFile(maskFile) : undefined;
  const total = layers.reduce((a, l) => a + kernelSize(l), 0);
  if (mask && mask.length !== total)
    throw new RunError(`${maskFile}: ${mask.length} bytes, ${archName} has ${total} synapses`);
  const odd = mask ? mask.findIndex((v) => v > 1) : -1;
  if (odd >= 0)
    throw new RunError(`${maskFile}: byte ${odd} is ${mask![odd]}; a mask holds only 0 (dead) and 1 (live)`);
  return mask;
}

/** Each layer's kernel, bias and mask (from `mask`, else the non-zero weights), masked weights at 0. */
function maskedParams(layers: WeightedLayer[], weights: Float32Array[], mask: Buffer | undefined): Network['params'] {
  let offset = 0;
  return layers.map((layer, l) => {
    const kernel = Float32Array.from(weights[2 * l]);
    const n = kernelSize(layer);
    const m = mask
      ? Uint8Array.from(mask.subarray(offset, offset + n))
      : Uint8Array.from(kernel, (w) => (w !== 0 ? 1 : 0));
    offset += n;
    for (let k = 0; k < n; k++) if (!m[k]) kernel[k] = 0;
    return { kernel, bias: Float32Array.from(weights[2 * l + 1]), mask: m };
  });
}
