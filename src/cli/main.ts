/** The entry point: wires the commands and turns errors into one line and an exit code. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { type Options, optionSpecs } from '../run/options';
import { runEvolve } from './evolveCommand';
import { addBenchCommand } from './benchCommand';
import { addExportCommand } from './exportCommand';
import { addDatasetsCommand } from './datasetsCommand';
import { addReportCommand } from './reportCommand';
import { addReproduceCommand } from './reproduceCommand';
import { RunError, UsageError } from '../errors';
import { DataError } from '../data/idx';
import { stderrOpen, watchOutputStreams } from '../run/stopping';

function packageVersion(): string {
  const file = path.join(__dirname, '..', '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/** After the options in --help: how to start a run, and how to read its generation lines. */
const epilogue = `
A bare \`evolve\` prints this help; any option starts a run. The paper's MNIST experiment:
  evolve --dataset mnist --generations 13

Each finished generation prints one line:
  gen  5  synapses 67,319 (6.39x)  clusters 22 (3.18x)  test 99.03% (+0.33)  56.5s  capped
live synapses (ancestor's / now), live conv clusters (hidden neurons for a net without convs),
test accuracy (its change against the ancestor, in points) and wall time. "capped" at its end:
the clusters' draw would have left fewer synapses than F allows, so the fewest dead clusters
were revived to keep the generation at its synapse budget (docs/method.md, "the cap"): a note,
not an overrun.

Off a terminal (a log file, a pipe), training progress is a line every 10% of an epoch, but at
most every 30 s and at least every minute (EVOLVE_PROGRESS_SECONDS=S: at most every S s, at
least every 2S).`;

/**
 * The options typed on the command line, as parsed values, without defaults: commander's value
 * source says where each value came from, so nothing is parsed twice.
 */
function givenOptions(command: Command): Partial<Options> {
  const opts = command.opts() as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(opts).filter(([key]) => command.getOptionValueSource(key) === 'cli'),
  ) as Partial<Options>;
}

/** A word that is no subcommand (`evolve reproduc mnist`): commander's "unknown command", with its suggestion. */
function refuseOperands(command: Command): void {
  if (command.args.length === 0) return;
  (command as unknown as { unknownCommand(): never }).unknownCommand();
}

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
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpCommand(true)
    .showHelpAfterError(false)
    .showSuggestionAfterError(true)
    .allowExcessArguments(true)
    .addHelpText('after', epilogue)
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
  program.action(async (opts: Options, command: Command) => {
    refuseOperands(command);
    // Hours of work start only when asked for: a bare `evolve` is a question, answered with the usage.
    if (argv.length === 0) command.help({ error: true });
    await runEvolve(opts, argv, givenOptions(command));
  });
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
  // `evolve --json | head -1`: a closed pipe stops the run quietly, as for any Unix filter (src/run/stopping.ts).
  watchOutputStreams();
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help asked for and version exit 0; help shown for a bare `evolve` and every other commander error is bad
      // usage, already printed.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) return fail(e.message, 2);
    if (e instanceof RunError || e instanceof DataError) return fail(e.message, 1);
    const err = e as Error;
    if (process.env.EVOLVE_DEBUG) process.stderr.write(`${err.stack}\n`);
    return fail(`internal error: ${err.message} (set EVOLVE_DEBUG=1 for the stack)`, 1);
  }
}
