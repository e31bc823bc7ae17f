import type { Architecture } from '../architecture';

/** LeNet-300-100: the fully connected MNIST net of the pruning literature. */
export const lenet300: Architecture = {
  name: 'lenet300',
  description: 'LeNet-300-100 for 28x28x1: dense 300, dense 100, dense 10 (no conv layers)',
  inputShape: [28, 28, 1],
  layers: [
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc1', units: 300, activation: 'relu' },
    { kind: 'dense', name: 'fc2', units: 100, activation: 'relu' },
    { kind: 'dense', name: 'fc3', units: 10, activation: 'linear' },
  ],
};
