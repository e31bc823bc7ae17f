/**
 * Reading a run folder back (--resume, export). evolve reads and writes only plain files inside
 * its run folder: a folder holding a symbolic link anywhere, a generations.ndjson with other hard
 * links (it is appended to in place), or a file where a folder belongs (or the reverse), is
 * refused before anything in it is read or written (work/gen-NN/checkpoint.bin too). What is read
 * is then checked against the records: each generation's folder complete, its mask's live
 * synapses per layer those recorded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../errors';
import type { GenerationRecord } from '../evolution/record';
import type { Architecture } from '../models/architecture';
import type { Network } from '../models/network';
import { loadNetwork } from '../engine/modelio';
import { measure } from '../metrics/measure';
import { lockName } from './lock';
import { checkpointName, workName } from './checkpoint';
import { generationDir, survivorDir } from './runFolder';
import { NotAFileError, readFileNoFollow } from '../files';
import { countOnes } from '../encoding/clusters';

/** The files of a generation's folder, all written before its record. */
export const generationFiles = ['model.json', 'weights.bin', 'mask.json', 'mask.bin'];
/** Files at the top of a run folder: they must be plain files. */
const topFiles = new Set(['config.json', 'generations.ndjson', lockName]);
const isGenerationName = (name: string): boolean => /^gen-\d+$/.test(name);

function refuse(file: string, problem: string): never {
  throw new RunError(`${file}: ${problem}; evolve reads and writes only plain files inside its run folder`);
}

/** A kind of folder evolve reads or writes: the plain files it keeps there, and the folders inside it that it uses. */
interface Place {
  files: Set<string>;
  folder: (name: string) => Place | undefined;
}
const none = (): undefined => undefined;
const survivorPlace: Place = { files: new Set(generationFiles), folder: none };
const generationPlace: Place = {
  files: new Set(generationFiles),
  folder: (name) => (/^survivor-\d+$/.test(name) ? survivorPlace : undefined),
};
const progressPlace: Place = { files: new Set([checkpointName]), folder: none };
const workPlace: Place = { files: new Set(), folder: (name) => (isGenerationName(name) ? progressPlace : undefined) };
const runPlace: Place = {
  files: topFiles,
  folder: (name) => (isGenerationName(name) ? generationPlace : name === workName ? workPlace : undefined),
};

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    throw new RunError(`${dir}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/**
 * Refuses a run folder holding links or misplaced kinds of files (see the top of this file): at
 * its top, inside its gen-NN folders and inside work/gen-NN, the only places evolve reads or writes.
 */
export function checkRunTree(run: string): void {
  const visit = (dir: string, place: Place): void => {
    for (const name of entries(dir)) {
      const file = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(file);
      } catch {
        continue; // gone in between: a temporary file of a run that is writing
      }
      if (st.isSymbolicLink()) refuse(file, `a symbolic link (to ${readLink(file)})`);
      const wantFile = place.files.has(name);
      const inner = place.folder(name); // other folders are not evolve's: never read
      if (st.isDirectory()) {
        if (wantFile) refuse(file, 'a folder where evolve keeps a file');
        if (inner) visit(file, inner);
      } else if (inner) {
        refuse(file, 'not a folder');
      } else if (wantFile && !st.isFile()) {
        refuse(file, 'not a plain file');
      } else if (name === 'generations.ndjson' && place === runPlace && st.nlink > 1) {
        // Appending through a second name would change a copy made with `cp -l`, say.
        const links = `has ${st.nlink - 1} other hard link(s)`;
        refuse(file, `${links}, which appending to it would change too (give the run a copy of its own)`);
      }
    }
  };
  visit(run, runPlace);
}

function readLink(file: string): string {
  try {
    return fs.readlinkSync(file);
  } catch {
    return '?';
  }
}

/** Whether generation `g`'s folder holds all its files (a missing or empty one: not finished). */
export function generationComplete(run: string, g: number): boolean {
  return generationFiles.every((f) => {
    try {
      const st = fs.lstatSync(path.join(generationDir(run, g), f));
      return st.isFile() && st.size > 0;
    } catch {
      return false;
    }
  });
}

/** The first record whose generation folder is incomplete, or undefined when all are complete. */
export function firstIncomplete(run: string, records: GenerationRecord[]): number | undefined {
  const i = records.findIndex((r) => !generationComplete(run, r.generation));
  return i < 0 ? undefined : i;
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileNoFollow(file).toString('utf8'));
  } catch (e) {
    if (e instanceof NotAFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunError(`${file}: ${code ? `cannot be read (${code})` : 'not valid JSON'}`);
  }
}

/** The layers of a mask.json, each inside a mask of `bytes` bytes. */
function maskLayers(file: string, bytes: number): { name: string; offset: number; length: number }[] {
  const layers = (readJsonFile(file) as { layers?: unknown } | null)?.layers;
  const fits = (l: { offset?: unknown; length?: unknown }): boolean =>
    Number.isSafeInteger(l.offset) &&
    Number.isSafeInteger(l.length) &&
    (l.offset as number) >= 0 &&
    (l.length as number) >= 0 &&
    (l.offset as number) + (l.length as number) <= bytes;
  if (!Array.isArray(layers) || !layers.every((l) => l !== null && typeof l === 'object' && fits(l))) {
    throw new RunError(`${file}: not a mask manifest of ${bytes} bytes (layers with name, offset and length)`);
  }
  return layers as { name: string; offset: number; length: number }[];
}

/**
 * Generation `record.generation`'s files against its record, without building the network (so
 * before anything else is printed): mask bytes 0 or 1, each layer's live synapses those recorded,
 * finite weights. loadGeneration checks the network as built again.
 */
export function checkGenerationFiles(run: string, record: GenerationRecord): void {
  const dir = generationDir(run, record.generation);
  const maskFile = path.join(dir, 'mask.bin');
  const mask = readFileNoFollow(maskFile);
  const odd = mask.findIndex((v) => v > 1);
  if (odd >= 0) throw new RunError(`${maskFile}: byte ${odd} is ${mask[odd]}; a mask holds only 0 (dead) and 1 (live)`);
  const layers = maskLayers(path.join(dir, 'mask.json'), mask.length);
  const recorded = Array.isArray(record.layers) ? record.layers : [];
  if (layers.length !== recorded.length)
    throw new RunError(
      `${maskFile}: ${layers.length} layers, the record of generation ${record.generation} has ${recorded.length}`,
    );
  layers.forEach((l, i) => {
    const live = countOnes(mask.subarray(l.offset, l.offset + l.length));
    if (live !== recorded[i].synapses) {
      throw new RunError(
        `${maskFile}: layer ${String(l.name)} has ${live} live synapses, ` +
          `the record of generation ${record.generation} says ${String(recorded[i].synapses)}`,
      );
    }
  });
  const weightsFile = path.join(dir, 'weights.bin');
  const bytes = readFileNoFollow(weightsFile);
  const weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length & ~3)));
  const bad = weights.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new RunError(`${weightsFile}: value ${bad} is ${weights[bad]}; weights must be finite numbers`);
}

/** Refuses a network whose live synapses, per layer and in all, are not those of its record. */
export function checkAgainstRecord(net: Network, record: GenerationRecord, maskFile: string): void {
  const m = measure(
    net.layers,
    net.params.map((p) => p.mask),
  );
  const says = `the record of generation ${record.generation} says`;
  const recorded = Array.isArray(record.layers) ? record.layers : [];
  m.layers.forEach((layer, l) => {
    const want = recorded[l]?.synapses;
    if (want !== layer.synapses)
      throw new RunError(
        `${maskFile}: layer ${layer.name} has ${layer.synapses} live synapses, ${says} ${String(want)}`,
      );
  });
  if (m.synapses !== record.synapses)
    throw new RunError(`${maskFile}: ${m.synapses} live synapses, ${says} ${String(record.synapses)}`);
}

/** Generation `record.generation` of `run`, checked against its record. */
export async function loadGeneration(run: string, record: GenerationRecord, arch: Architecture): Promise<Network> {
  const dir = generationDir(run, record.generation);
  const net = await loadNetwork(path.join(dir, 'model.json'), arch);
  checkAgainstRecord(net, record, path.join(dir, 'mask.bin'));
  return net;
}

/**
 * Generation `record.generation`'s runners-up (record.survivors after the first), each checked
 * against its candidate entry's live synapses; none for a population of one.
 */
export async function loadRunnersUp(run: string, record: GenerationRecord, arch: Architecture): Promise<Network[]> {
  const numbers = record.survivors ?? [];
  const nets: Network[] = [];
  for (const k of numbers.slice(1)) {
    const dir = survivorDir(run, record.generation, k);
    const net = await loadNetwork(path.join(dir, 'model.json'), arch);
    const want = record.candidates.find((c) => c.offspring === k)?.synapses;
    const live = measure(
      net.layers,
      net.params.map((p) => p.mask),
    ).synapses;
    if (live !== want) {
      throw new RunError(
        `${path.join(dir, 'mask.bin')}: ${live} live synapses, ` +
          `the record of generation ${record.generation} says offspring ${k} has ${String(want)}`,
      );
    }
    nets.push(net);
  }
  return nets;
}
