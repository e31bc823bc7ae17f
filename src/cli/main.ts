/** The entry point: wires the commands and turns errors into one line and an exit code. */
import { Command, CommanderError, Option } from 'commander';
import { type Options, givenOptions, optionSpecs } from './options';
import { runEvolve } from './evolveCommand';
import { addBenchCommand } from './benchCommand';
import { addExportCommand } from './exportCommand';
import { addDatasetsCommand } from './datasetsCommand';
import { addReportCommand } from './reportCommand';
import { addReproduceCommand } from './reproduceCommand';
import { RunError, UsageError } from '../errors';
import { DataError } from '../data/idx';
import { stderrOpen, watchOutputStreams } from './stopping';

function buildProgram(argv: string[]): Command {
  const program = new Command('evolve')
    .description(
      'Synthesise efficient deep neural networks by evolution (synaptic cluster-driven genetic encoding, Shafiee & ' +
        'Wong, arXiv:1609.01360).',
    )
    .exitOverride()
    .configureOutput({
      outputError: (str, write) =>
        write(
          `evolve: ${str
            .trim()
            .replace(/^error: /, '')
            .replace(/\s*\n\s*/g, ' ')}\n`,
        ),
    })
    .showHelpAfterError(false)
    .allowExcessArguments(false)
    // Options after a subcommand belong to it (export has its own --out).
    .enablePositionalOptions();
  for (const spec of optionSpecs) {
    // Defaults that depend on other options are only described; commander shows them in --help.
    const described =
      spec.defaultValue === undefined && spec.defaultText
        ? `${spec.description} (default: ${spec.defaultText})`
        : spec.description;
    const opt = new Option(spec.flags, described);
    if (spec.choices) opt.choices(spec.choices);
    if (spec.parse) opt.argParser(spec.parse as (v: string) => unknown);
    if (spec.defaultValue !== undefined) opt.default(spec.defaultValue, spec.defaultText);
    program.addOption(opt);
  }
  program.action(async (opts: Options, command: Command) => runEvolve(opts, argv, givenOptions(command)));
  addBenchCommand(program);
  addExportCommand(program);
  addDatasetsCommand(program);
  addReportCommand(program);
  addReproduceCommand(program);
  return program;
}

function fail(message: string, code: number): number {
  if (stderrOpen()) process.stderr.write(`evolve: ${message.split('\n')[0]}\n`);
  return code;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // `evolve --json | head -1`: a closed pipe stops the run quietly, as for any Unix filter (./stopping.ts).
  watchOutputStreams();
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every other commander error is bad usage, already printed.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help'
        ? 0
        : 2;
    }
    if (e instanceof UsageError) return fail(e.message, 2);
    if (e instanceof RunError || e instanceof DataError) return fail(e.message, 1);
    const err = e as Error;
    if (process.env.EVOLVE_DEBUG) process.stderr.write(`${err.stack}\n`);
    return fail(`internal error: ${err.message} (set EVOLVE_DEBUG=1 for the stack)`, 1);
  }
}
