/**
 * Development's starting point: an offspring's weights before training (docs/method.md,
 * "Development and selection").
 */
import { type Network, applyMask, cloneNetwork, initialiseNetwork } from '../models/network';
import type { Random } from '../random';
import type { OffspringGenome } from './types';

export const initModes = ['inherit', 'random', 'rewind'] as const;
export type InitMode = (typeof initModes)[number];

/** The offspring's starting weights under the chosen initialisation, with its mask applied. */
export function developFrom(
  genome: OffspringGenome,
  parent: Network,
  ancestorInit: Network,
  mode: InitMode,
  rng: Random,
): Network {
  const base =
    mode === 'inherit'
      ? cloneNetwork(parent)
      : mode === 'rewind'
        ? cloneNetwork(ancestorInit)
        : initialiseNetwork(parent.arch, rng);
  base.params.forEach((p, l) => {
    p.mask = genome.masks[l].slice();
    for (let u = 0; u < p.bias.length; u++) if (!genome.units[l][u]) p.bias[u] = 0;
  });
  applyMask(base);
  return base;
}
