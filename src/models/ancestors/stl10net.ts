import type { Architecture } from '../architecture';

/**
 * A small conv net for STL-10's 96x96x3 images (ours: the paper does not publish its STL-10
 * ancestor). Three conv blocks halve the image to 12x12 before two dense layers.
 */
export const stl10net: Architecture = {
  name: 'stl10net',
  description:
    'conv net for 96x96x3: conv 32@5x5, 64@5x5, 128@3x3 (same, relu), ' +
    'each followed by a 2x2 max-pool, dense 256, dense 10',
  inputShape: [96, 96, 3],
  layers: [
    { kind: 'conv', name: 'conv1', kernelSize: 5, filters: 32, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool1', size: 2 },
    { kind: 'conv', name: 'conv2', kernelSize: 5, filters: 64, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool2', size: 2 },
    { kind: 'conv', name: 'conv3', kernelSize: 3, filters: 128, stride: 1, padding: 'same', activation: 'relu' },
    { kind: 'maxpool', name: 'pool3', size: 2 },
    { kind: 'flatten', name: 'flatten' },
    { kind: 'dense', name: 'fc1', units: 256, activation: 'relu' },
    { kind: 'dense', name: 'fc2', units: 10, activation: 'linear' },
  ],
};
