// The tape-free training step gives tf.variableGrads' loss and gradients, bit for bit, with and
// without weight decay: LeNet-5, LeNet-300, a compacted LeNet-5 offspring (few filters: the native
// direct kernels) and a small net of the larger ancestors' layer kinds, on the native kernels and
// on the cpu backend.
import test from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../src/engine/backend';
import { lossAndGradients } from '../src/engine/backprop';
import { bind, forward, unbind } from '../src/engine/network';
import { withDecay } from '../src/engine/loss';
import { type Architecture, weightedLayers } from '../src/models/architecture';
import { lenet300, lenet5 } from '../src/models/ancestors';
import { initialiseNetwork } from '../src/models/network';

/** LeNet-5 as a 100x offspring compacts it: 1 and 5 filters, 54 neurons. */
const compacted: Architecture = {
  ...lenet5,
  name: 'lenet5-compacted',
  layers: lenet5.layers.map((l) => {
    if (l.kind === 'conv') return { ...l, filters: l.name === 'conv1' ? 1 : 5 };
    return l.kind === 'dense' && l.units === 500 ? { ...l, units: 54 } : l;
  }),
};

/** tfjs's own loss, as training used it before the tape-free step. */
const stockLoss = (y: tf.Tensor2D, logits: tf.Tensor2D) => tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);

/** Loss and gradients both ways, as bytes: [tape-free, tape]. */
function bothWays(arch: Architecture, batch: number, seed: string, weightDecay = 0): Buffer[][] {
  const rng = seedrandom(seed);
  const net = initialiseNetwork(arch, rng);
  const b = bind(net);
  const [h, w, c] = arch.inputShape;
  const classes = weightedLayers(arch).at(-1)!.outUnits;
  try {
    return tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from({ length: batch * h * w * c }, () => rng()),
        [batch, h, w, c],
      );
      const labels = Int32Array.from({ length: batch }, () => Math.floor(rng() * classes));
      const y = tf.cast(tf.oneHot(labels, classes), 'float32') as tf.Tensor2D;
      const ours = lossAndGradients(net, b.kernels, b.biases, x, y, weightDecay);
      const tape = tf.variableGrads(
        () => withDecay(stockLoss(y, forward(net, b.kernels, b.biases, x)), b.kernels, weightDecay),
        [...b.kernels, ...b.biases],
      );
      return [
        [ours.loss, ...ours.kernels, ...ours.biases].map(bytes),
        [tape.value, ...[...b.kernels, ...b.biases].map((v) => tape.grads[v.name])].map(bytes),
      ];
    });
  } finally {
    unbind(b);
  }
}

/** The larger ancestors' layer kinds, small: 'same' padding, strides, ReLU on convs, 3x3 pools at stride 2. */
const alexLike: Architecture = {
  name: 'alexnet-like',
  inputShape: [13, 13, 3],
  layers: [
    { kind: 'conv', name: 'conv1', kernelSize: 3, filters: 4, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool1', size: 3, stride: 2 },
    { kind: 'conv', name: 'conv2', kernelSize: 3, filters: 20, stride: 2, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool2', size: 2, padding: 'same' },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc1', units: 12, activation: 'relu' },
    { kind: 'dense', name: 'fc2', units: 5, activation: 'linear' },
  ],
};

// [architecture, batch, weight decay]: CIFAR-10's and STL-10's default decay on the AlexNet-like net.
const cases: [Architecture, number, number][] = [
  [compacted, 4, 0],
  [alexLike, 3, 0],
  [alexLike, 3, 0.0005],
  [lenet300, 4, 0.01],
];
for (const backend of ['wasm', 'cpu'] as const) {
  test(`the tape-free step gives tf.variableGrads' floats on ${backend}`, async () => {
    await selectBackend(backend);
    for (const [arch, batch, decay] of backend === 'wasm' ? [[lenet5, 8, 0] as (typeof cases)[0], ...cases] : cases) {
      const [ours, tape] = bothWays(arch, batch, `${arch.name} ${backend}`, decay);
      assert.equal(ours.length, tape.length);
      for (const [i, o] of ours.entries()) {
        assert.ok(o.equals(tape[i]), `${arch.name}, decay ${decay}: ${i === 0 ? 'the loss' : `gradient ${i}`} differs`);
      }
    }
  });
}
