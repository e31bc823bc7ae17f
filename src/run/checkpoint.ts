/**
 * RUN/work/gen-NN/checkpoint.bin: the progress of generation NN while it trains
 * (src/evolution/checkpoint.ts), replaced atomically after each finished epoch (and each finished
 * offspring but the last); RUN/work/ is removed once the generation's record is written.
 *
 * Layout: the magic "EVOCKPT1", the header's length (uint32 little-endian), the header (UTF-8 JSON
 * of the checkpoint, each typed array replaced by {"$f32" or "$u8": [offset, length]} into the
 * data section, each non-finite number by {"$num": "NaN"}), zero padding to a multiple of 4, the
 * data section (each array at a multiple of 4 bytes, float32 little-endian), and last the SHA-256
 * of everything before it, so a torn or corrupt file is recognised rather than half used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { type TrainingCheckpoint, upgradeCheckpoint } from '../evolution/checkpoint';
import { RunError } from '../errors';
import { NotAFileError, ensureDir, readFileNoFollow, removeTree, writeFileAtomic } from '../files';

export const checkpointName = 'checkpoint.bin';
/** The folder of the generations in progress; never named gen-NN, which only finished generations are. */
export const workName = 'work';
const MAGIC = Buffer.from('EVOCKPT1', 'ascii');
const DIGEST = 32;

/** RUN/work/gen-NN: generation g's work in progress. */
export function workDir(run: string, g: number): string {
  return path.join(run, workName, `gen-${String(g).padStart(2, '0')}`);
}

export function checkpointFile(run: string, g: number): string {
  return path.join(workDir(run, g), checkpointName);
}

const pad4 = (n: number) => (n + 3) & ~3;

export function encodeCheckpoint(cp: TrainingCheckpoint): Buffer {
  const arrays: (Float32Array | Uint8Array)[] = [];
  let offset = 0;
  const header = JSON.stringify(cp, (_key, value: unknown) => {
    if (value instanceof Float32Array || value instanceof Uint8Array) {
      const at = offset;
      arrays.push(value);
      offset = pad4(offset + value.byteLength);
      return { [value instanceof Float32Array ? '$f32' : '$u8']: [at, value.length] };
    }
    if (typeof value === 'number' && !Number.isFinite(value)) return { $num: String(value) };
    return value;
  });
  const head = Buffer.from(header, 'utf8');
  const dataStart = pad4(MAGIC.length + 4 + head.length);
  const out = Buffer.alloc(dataStart + offset + DIGEST);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(head.length, MAGIC.length);
  head.copy(out, MAGIC.length + 4);
  let at = dataStart;
  for (const a of arrays) {
    // Float32Array bytes are little-endian on every platform Node.js runs on.
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(out, at);
    at += pad4(a.byteLength);
  }
  createHash('sha256')
    .update(out.subarray(0, out.length - DIGEST))
    .digest()
    .copy(out, out.length - DIGEST);
  return out;
}

/** The checkpoint in `bytes`; throws an Error saying what is wrong with them. */
export function decodeCheckpoint(bytes: Buffer): TrainingCheckpoint {
  if (bytes.length < MAGIC.length + 4 + DIGEST || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('not an evolve checkpoint');
  }
  const body = bytes.subarray(0, bytes.length - DIGEST);
  if (
    !createHash('sha256')
      .update(body)
      .digest()
      .equals(bytes.subarray(bytes.length - DIGEST))
  ) {
    throw new Error('corrupt (checksum mismatch)');
  }
  const headLength = bytes.readUInt32LE(MAGIC.length);
  const dataStart = pad4(MAGIC.length + 4 + headLength);
  if (dataStart > body.length) throw new Error('corrupt (header overruns the file)');
  const data = body.subarray(dataStart);
  const slice = (at: unknown, bytesPer: number): [number, number] => {
    const [offset, length] = Array.isArray(at) ? at : [];
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length * bytesPer > data.length
    ) {
      throw new Error('corrupt (an array lies outside the file)');
    }
    return [offset, length];
  };
  const header = JSON.parse(
    body.subarray(MAGIC.length + 4, MAGIC.length + 4 + headLength).toString('utf8'),
    (_key, value: unknown) => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const v = value as Record<string, unknown>;
        if ('$f32' in v) {
          const [offset, length] = slice(v.$f32, 4);
          const out = new Float32Array(length);
          Buffer.from(out.buffer).set(data.subarray(offset, offset + 4 * length));
          return out;
        }
        if ('$u8' in v) {
          const [offset, length] = slice(v.$u8, 1);
          return Uint8Array.from(data.subarray(offset, offset + length));
        }
        if ('$num' in v) return Number(v.$num);
      }
      return value;
    },
  ) as TrainingCheckpoint;
  return upgradeCheckpoint(header);
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

export function writeCheckpoint(run: string, cp: TrainingCheckpoint): void {
  const dir = workDir(run, cp.generation);
  // A link planted since the folder was checked is refused, never written through.
  for (const d of [path.dirname(dir), dir]) {
    if (isLink(d)) throw new RunError(`${d}: a symbolic link; evolve writes only inside its run folder`);
  }
  ensureDir(dir);
  writeFileAtomic(checkpointFile(run, cp.generation), encodeCheckpoint(cp));
}

/** Generation g's checkpoint: none when there is no file, else the checkpoint or what is wrong with the file. */
export function readCheckpoint(run: string, g: number): { checkpoint?: TrainingCheckpoint; problem?: string } {
  let bytes: Buffer;
  try {
    bytes = readFileNoFollow(checkpointFile(run, g));
  } catch (e) {
    if (e instanceof NotAFileError) return { problem: e.kind };
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? {} : { problem: `cannot be read (${code ?? String(e)})` };
  }
  try {
    return { checkpoint: decodeCheckpoint(bytes) };
  } catch (e) {
    return { problem: e instanceof Error ? e.message : String(e) };
  }
}

/** Removes RUN/work/: the progress of every generation (all finished, or to start afresh). */
export function removeWork(run: string): void {
  removeTree(path.join(run, workName));
}

/** Where a checkpoint stands, for people: "generation 2, offspring 1 after epoch 2 of 3". */
export function describeCheckpoint(c: TrainingCheckpoint): string {
  if (c.offspring === null) return `the ancestor after epoch ${c.epochsDone} of ${c.epochs}`;
  if (c.epochsDone === 0) return `generation ${c.generation} after offspring ${c.offspring - 1}`;
  return `generation ${c.generation}, offspring ${c.offspring} after epoch ${c.epochsDone} of ${c.epochs}`;
}
