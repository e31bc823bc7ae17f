/**
 * Who an offspring's parents are (docs/method.md, "Several parents"): M distinct members of the
 * previous generation's population, drawn uniformly from the offspring's own random stream, then
 * put fittest first (the population's order). A population no larger than M gives all of itself,
 * drawing nothing: with one parent and a population of one, every offspring has the one parent.
 */
import type { Network } from '../models/network';
import type { Random } from '../random';

/** A member of a generation's population: its offspring number and trained network. */
export interface Survivor {
  number: number;
  net: Network;
}

/** `m` distinct members of `population` (best first), in the population's order. */
export function drawParents(population: Survivor[], m: number, rng: Random): Survivor[] {
  if (population.length <= m) return population;
  const order = population.map((_, i) => i);
  // Partial Fisher-Yates: the first m places end up a uniform draw without replacement.
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng() * (order.length - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order
    .slice(0, m)
    .sort((a, b) => a - b)
    .map((i) => population[i]);
}
