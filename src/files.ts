/** File writes that never leave a half-written file under the final name. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from './errors';

const reasons: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  ELOOP: 'a symbolic link, which evolve does not write through',
  EISDIR: 'a folder where a file belongs',
};

/** What an errno code means, for people: "no space left on device"; the code itself when it has no name here. */
export function errnoReason(code: string): string {
  return reasons[code] ?? code;
}

/** A write that failed (a full disk, say): one line naming the file and the reason. */
export class WriteError extends RunError {
  constructor(
    readonly file: string,
    readonly code: string,
  ) {
    super(`${file}: cannot write (${errnoReason(code)})`);
  }
}

function rethrow(file: string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException).code;
  if (code) throw new WriteError(file, code);
  throw e;
}

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    rethrow(dir, e);
  }
}

/**
 * Writes to a temporary name in the same folder, flushes, then renames into place. The temporary
 * file is created exclusively ('wx' does not follow a link planted under its name), and the rename
 * replaces a link at `file` rather than writing through it.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.rmSync(tmp, { force: true }); // left by a killed process that had this pid
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    rethrow(file, e);
  }
}

const { O_APPEND, O_CREAT, O_WRONLY, O_NOFOLLOW, O_RDONLY, O_NONBLOCK } = fs.constants;

/**
 * Appends one complete line (the record and its newline in a single write). A failure part-way
 * can leave a torn last line, which --resume cuts off. A link at `file` is refused (ELOOP), not
 * appended through.
 */
export function appendLine(file: string, line: string): void {
  try {
    const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o666);
    try {
      fs.writeSync(fd, `${line}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    rethrow(file, e);
  }
}

/** Cuts `file` to `length` bytes, refusing a link at its name. */
export function truncateFile(file: string, length: number): void {
  try {
    const fd = fs.openSync(file, O_WRONLY | O_NOFOLLOW);
    try {
      fs.ftruncateSync(fd, length);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    rethrow(file, e);
  }
}

/** Removes a folder and what it holds if it is there; a link at its name is removed, never followed. */
export function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    rethrow(dir, e);
  }
}

/** A path that is there but is no regular file (a FIFO, a device, a socket): refused before any read can block. */
export class NotAFileError extends RunError {
  constructor(
    readonly file: string,
    readonly kind: string,
  ) {
    super(`${file}: ${kind}, not a plain file; evolve reads only plain files`);
  }
}

function fileKind(stat: fs.Stats): string | undefined {
  if (stat.isFile()) return undefined;
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a plain file';
}

/**
 * The bytes of a regular file. Opened without blocking (a FIFO with no writer would otherwise hang
 * the open, and its read, for ever), then checked: anything but a regular file is a NotAFileError.
 * A folder is an EISDIR ErrnoException, as from a plain read; other errors (ENOENT, ELOOP...) are thrown as they are.
 */
function readRegular(file: string, flags: number): Buffer {
  const fd = fs.openSync(file, flags | O_RDONLY | O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory())
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${file}'`), { code: 'EISDIR' });
    const kind = fileKind(stat);
    if (kind) throw new NotAFileError(file, kind);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The bytes of `file`, refusing a symbolic link at its name (ELOOP) and anything but a regular file
 * (NotAFileError); other failures are the ErrnoException (ENOENT, EISDIR...). Every reader of a run
 * folder's files reads through this.
 */
export function readFileNoFollow(file: string): Buffer {
  return readRegular(file, O_NOFOLLOW);
}

/** The bytes of a regular file the user names (a link is followed); anything else as readFileNoFollow. */
export function readRegularFile(file: string): Buffer {
  return readRegular(file, 0);
}
