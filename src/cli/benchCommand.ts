/** `evolve bench`: training throughput per backend, side by side. */
import { Command } from 'commander';

export function addBenchCommand(program: Command): void {
  void program;
}
