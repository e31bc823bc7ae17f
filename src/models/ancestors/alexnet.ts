import type { Architecture } from '../architecture';

/**
 * AlexNet's five conv and three dense layers adapted to CIFAR-10's 32x32x3 (our shapes: the paper
 * does not publish its own). Against Krizhevsky et al. (2012): conv1 is 64@5x5 stride 1 instead of
 * 96@11x11 stride 4 (a 32-pixel image has no room for the large stride), conv2..conv5 keep
 * AlexNet's 5x5/3x3 kernels with 192/384/256/256 filters (the single-GPU widths of the "one weird
 * trick" AlexNet), the three overlapping 3x3 stride-2 max-pools stay, there is no local response
 * normalisation and no dropout, and the dense layers are 1024/1024/10 instead of 4096/4096/1000.
 */
export const alexnet: Architecture = {
  name: 'alexnet',
  description:
    'AlexNet adapted to 32x32x3: conv 64@5x5, 192@5x5, 384@3x3, 256@3x3, 256@3x3 (same, relu), ' +
    '3 max-pools 3x3/2, dense 1024, 1024, 10',
  inputShape: [32, 32, 3],
  layers: [
    { kind: 'conv', name: 'conv1', kernelSize: 5, filters: 64, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool1', size: 3, stride: 2 },
    { kind: 'conv', name: 'conv2', kernelSize: 5, filters: 192, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool2', size: 3, stride: 2 },
    { kind: 'conv', name: 'conv3', kernelSize: 3, filters: 384, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'conv', name: 'conv4', kernelSize: 3, filters: 256, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'conv', name: 'conv5', kernelSize: 3, filters: 256, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool5', size: 3, stride: 2 },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc6', units: 1024, activation: 'relu' },
    { kind: 'dense', name: 'fc7', units: 1024, activation: 'relu' },
    { kind: 'dense', name: 'fc8', units: 10, activation: 'linear' },
  ],
};
