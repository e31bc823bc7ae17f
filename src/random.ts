/**
 * Named random streams from one seed. Each consumer (an offspring's DNA draw, its batch order,
 * its initial weights) gets its own stream, so changing how much one of them draws never shifts
 * another's numbers.
 */
import seedrandom from 'seedrandom';
import { Random } from './models/network';

export function stream(seed: number, ...path: (string | number)[]): Random {
  return seedrandom(`evolve:${seed}:${path.join(':')}`);
}
