import type { Architecture } from '../architecture';

/** Caffe's LeNet as used across the pruning literature: no activation on the conv layers. */
export const lenet5: Architecture = {
  name: 'lenet5',
  description: "LeNet-5 (Caffe's variant) for 28x28x1: conv 20@5x5, pool, conv 50@5x5, pool, dense 500, dense 10",
  inputShape: [28, 28, 1],
  layers: [
    { kind: 'conv', name: 'conv1', kernelSize: 5, filters: 20, stride: 1, padding: 'valid', activation: 'linear' },
    { kind: 'maxpool', name: 'pool1', size: 2 },
    { kind: 'conv', name: 'conv2', kernelSize: 5, filters: 50, stride: 1, padding: 'valid', activation: 'linear' },
    { kind: 'maxpool', name: 'pool2', size: 2 },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc1', units: 500, activation: 'relu' },
    { kind: 'dense', name: 'fc2', units: 10, activation: 'linear' },
  ],
};
