/** The encodings an offspring can be drawn with: a name, a line for --help, and the sampler. */
import { clusterEncoding } from './cluster';
import { synapseEncoding } from './synapse';
import { magnitudeEncoding } from './magnitude';
import type { Encoding } from './encoding';

export type { Encoding } from './encoding';

export const encodings = {
  cluster: clusterEncoding,
  synapse: synapseEncoding,
  magnitude: magnitudeEncoding,
} satisfies Record<string, Encoding>;

export type EncodingName = keyof typeof encodings;

export const encodingNames = Object.keys(encodings) as EncodingName[];
