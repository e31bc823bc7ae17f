/**
 * The README.md and usage.json `evolve export` writes beside the model: what the input is, how the
 * run turned image bytes into it (src/data/preprocess.ts: x / 255, then per channel (x - mean) /
 * std when the run normalised), that the output is logits, the class names in output order, and a
 * plain-Node program that uses all of it.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../files';
import type { ChannelStats } from '../data/preprocess';
import { getDataset } from '../data/sets';

export interface UsageFacts {
  run: string;
  generation: number;
  compact: boolean;
  arch: string;
  dataset: string;
  /** The data set's name for people, e.g. CIFAR-10. */
  datasetTitle: string;
  /** [height, width, channels] */
  inputShape: readonly number[];
  classes: number;
  /** The run's per-channel statistics (config.json's data.normalise); undefined: inputs are x / 255. */
  normalise?: ChannelStats;
  /** The generation's recorded top-1 test accuracy in percent, and on how many test images. */
  testAccuracy: number;
  testSamples?: number;
  tfjsVersion: string;
}

export function outputNames(f: Pick<UsageFacts, 'dataset' | 'classes'>): string[] {
  // Class names in label order (the order of the model's outputs), from the data set's manifest.
  const names = getDataset(f.dataset)?.classNames;
  return names?.length === f.classes ? names : Array.from({ length: f.classes }, (_, k) => String(k));
}

/** usage.json: the same facts for programs. */
export function usageJson(f: UsageFacts): object {
  const channels = f.inputShape[2];
  return {
    model: 'model.json',
    arch: f.arch,
    dataset: f.dataset,
    run: f.run,
    generation: f.generation,
    compact: f.compact,
    input: {
      shape: [null, ...f.inputShape],
      layout: 'NHWC',
      dtype: 'float32',
      from: 'image bytes 0..255',
      formula: f.normalise ? '(byte / 255 - mean[c]) / std[c]' : 'byte / 255',
      mean: f.normalise?.mean ?? new Array<number>(channels).fill(0),
      std: f.normalise?.std ?? new Array<number>(channels).fill(1),
    },
    output: { shape: [null, f.classes], kind: 'logits', classes: outputNames(f) },
    testAccuracy: f.testAccuracy,
    testSamples: f.testSamples,
  };
}

function preprocessingText(f: UsageFacts): string {
  if (!f.normalise) return 'each byte `v` (0..255) becomes `v / 255`, a float32 in [0, 1]. Nothing else.';
  return [
    'each byte `v` (0..255) of channel `c` becomes `(v / 255 - mean[c]) / std[c]` (computed in',
    "  double, then stored as float32), with the statistics of the run's training split:",
    `  - mean: ${list(f.normalise.mean)}`,
    `  - std: ${list(f.normalise.std)}`,
  ].join('\n');
}

/** Numbers print in full (JSON's shortest round-trip form), so the program uses exactly the run's values. */
const list = (values: readonly (number | string)[]): string => `[${values.join(', ')}]`;

/** The constants and the byte-to-float line of the program, for this run's preprocessing. */
function programConstants(f: UsageFacts): string[] {
  const lines = [
    `const SHAPE = ${list(f.inputShape)}; // height, width, channels`,
    `const CLASSES = ${list(outputNames(f).map((n) => `'${n}'`))};`,
  ];
  if (!f.normalise) return [...lines, 'const toInput = (v, c) => v / 255;'];
  return [
    ...lines,
    `const MEAN = ${list(f.normalise.mean)};`,
    `const STD = ${list(f.normalise.std)};`,
    'const toInput = (v, c) => (v / 255 - MEAN[c]) / STD[c];',
  ];
}

/** A complete CommonJS program: `node predict.js MODEL_DIR IMAGES.bin` prints one class name per image. */
export function program(f: UsageFacts): string {
  return [
    '// predict.js: node predict.js MODEL_DIR IMAGES.bin',
    "const fs = require('node:fs');",
    "const path = require('node:path');",
    "const tf = require('@tensorflow/tfjs-core');",
    "require('@tensorflow/tfjs-backend-cpu');",
    "const tfl = require('@tensorflow/tfjs-layers');",
    '',
    ...programConstants(f),
    '',
    '// tf.loadLayersModel("file://...") needs @tensorflow/tfjs-node; without it, read the files and load from memory.',
    'async function loadModel(dir) {',
    "  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));",
    '  const groups = json.weightsManifest;',
    '  const bytes = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));',
    '  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);',
    '  const weightSpecs = groups.flatMap((g) => g.weights);',
    '  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));',
    '}',
    '',
    'async function main() {',
    '  const [dir, file] = process.argv.slice(2);',
    '  const model = await loadModel(dir);',
    '  const bytes = fs.readFileSync(file);',
    '  const n = bytes.length / (SHAPE[0] * SHAPE[1] * SHAPE[2]);',
    '  const x = Float32Array.from(bytes, (v, i) => toInput(v, i % SHAPE[2]));',
    '  const logits = model.predict(tf.tensor4d(x, [n, ...SHAPE]));',
    '  const predicted = await tf.argMax(logits, 1).data();',
    '  for (const k of predicted) console.log(CLASSES[k]);',
    '}',
    '',
    'main();',
  ].join('\n');
}

function pixel(channels: number): string {
  if (channels === 1) return 'one grey value per pixel';
  if (channels === 3) {
    return "the R, G and B values of a pixel together; CIFAR-10's and STL-10's files store three planes instead";
  }
  return `the ${channels} values of a pixel together`;
}

function testImages(f: UsageFacts): string {
  return f.testSamples === undefined
    ? `the run's ${f.datasetTitle} test images`
    : `the first ${f.testSamples} ${f.datasetTitle} test images`;
}

function readme(f: UsageFacts): string {
  const [h, w, c] = f.inputShape;
  const what = f.compact ? 'compacted (dead filters and neurons removed)' : 'with its pruned synapses as zeros';
  return [
    `# ${f.arch}: generation ${f.generation} of ${f.run}`,
    '',
    `A TensorFlow.js layers model (\`model.json\` + \`weights.bin\`), ${what}, trained on ${f.datasetTitle} by evolve.`,
    `\`mask.json\` + \`mask.bin\` hold its synapse mask (one byte a weight). \`usage.json\` holds what follows.`,
    '',
    `- **Input**: float32, shape \`[N, ${h}, ${w}, ${c}]\` (NHWC: row by row, ${pixel(c)}).`,
    `- **Preprocessing**: ${preprocessingText(f)}`,
    `- **Output**: shape \`[N, ${f.classes}]\`, **logits** (no softmax); the predicted class is the largest.`,
    `- **Classes**, in output order: ${outputNames(f).join(', ')}.`,
    `- **Accuracy**: ${f.testAccuracy}% top-1 on ${testImages(f)}, as the run recorded it.`,
    '',
    '## Using it from Node',
    '',
    'In plain Node, `tf.loadLayersModel("file://...")` fails: it needs `@tensorflow/tfjs-node`. The program',
    'below reads the files itself and needs only the pure-JavaScript packages:',
    '',
    '```sh',
    `npm install @tensorflow/tfjs-core@${f.tfjsVersion} @tensorflow/tfjs-layers@${f.tfjsVersion} ` +
      `@tensorflow/tfjs-backend-cpu@${f.tfjsVersion}`,
    '```',
    '',
    `\`IMAGES.bin\` holds N images of ${h * w * c} bytes each, in the input's order above; the program`,
    'prints one class name per image.',
    '',
    '```js',
    program(f),
    '```',
    '',
  ].join('\n');
}

/** Writes README.md and usage.json into `dir`; returns the README's path. */
export function writeUsage(dir: string, f: UsageFacts): string {
  const file = path.join(dir, 'README.md');
  writeFileAtomic(path.join(dir, 'usage.json'), `${JSON.stringify(usageJson(f), null, 2)}\n`);
  writeFileAtomic(file, readme(f));
  return file;
}
