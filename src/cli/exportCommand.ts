/** `evolve export RUN --generation N [--compact] --out DIR`: a plain TensorFlow.js layers model. */
import { Command } from 'commander';

export function addExportCommand(program: Command): void {
  void program;
}
