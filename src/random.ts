/**
 * Named random streams from one seed. Each consumer (an offspring's DNA draw, its batch order,
 * its initial weights) gets its own stream, so changing how much one of them draws never shifts
 * another's numbers.
 */
import seedrandom from 'seedrandom';

/** A uniform [0, 1) generator: every random draw in evolve comes from one. */
export type Random = () => number;

export function stream(seed: number, ...path: (string | number)[]): Random {
  return seedrandom(`evolve:${seed}:${path.join(':')}`);
}
