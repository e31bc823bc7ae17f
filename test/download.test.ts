// The downloader against a real HTTP server on 127.0.0.1 started here: full, cut off and
// resumed with Range, servers that cannot resume, a wrong checksum, stalls, refusals, a full disk.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import seedrandom from 'seedrandom';
import { download, type DownloadProgress } from '../src/data/download';
import { CacheLock } from '../src/data/cacheLock';
import { type FileSpec, isVerified, stampPath } from '../src/data/verify';
import { tempDir, smallDisk, unmountDisk } from './helpers';

const SIZE = 2 * 1024 * 1024 + 123;
const body = randomBytes(SIZE, 'download-body');
const sha256 = createHash('sha256').update(body).digest('hex');
const fast = { retries: 0, backoffMs: 5, stallMs: 5000 };

function randomBytes(n: number, seed: string): Buffer {
  const rng = seedrandom(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int32() & 0xff;
  return b;
}

interface Seen {
  url: string;
  range: string | undefined;
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, index: number) => void;

/** A server on 127.0.0.1 whose n-th request goes to handlers[min(n, last)]. */
async function serve(...handlers: Handler[]): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', range: req.headers.range });
    handlers[Math.min(seen.length - 1, handlers.length - 1)](req, res, seen.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://127.0.0.1:${port}/data.bin`, seen, close };
}

/** Serves the file, honouring `Range: bytes=N-` with a 206. */
const full: Handler = (req, res) => {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const from = m ? Number(m[1]) : 0;
  if (m && from >= SIZE) {
    res.writeHead(416, { 'content-range': `bytes */${SIZE}` }).end();
    return;
  }
  const headers: http.OutgoingHttpHeaders = { 'content-length': SIZE - from, 'accept-ranges': 'bytes' };
  if (m) headers['content-range'] = `bytes ${from}-${SIZE - 1}/${SIZE}`;
  res.writeHead(m ? 206 : 200, headers).end(body.subarray(from));
};

/** Ignores Range: always the whole file with a 200. */
const noRanges: Handler = (_req, res) => {
  res.writeHead(200, { 'content-length': SIZE }).end(body);
};

/** Announces the whole file, sends `at` bytes, then drops the connection. */
function cutAt(at: number): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': SIZE });
    res.write(body.subarray(0, at), () => setTimeout(() => res.socket?.destroy(), 20));
  };
}

/** Sends headers and 64 KiB, then nothing, keeping the connection open. */
const stall: Handler = (_req, res) => {
  res.writeHead(200, { 'content-length': SIZE });
  res.write(body.subarray(0, 65536));
};

function spec(url: string, over: Partial<FileSpec> = {}): FileSpec {
  return { name: 'data.bin', url, bytes: SIZE, sha256, ...over };
}

function assertDownloaded(dir: string): void {
  const file = path.join(dir, 'data.bin');
  assert.ok(fs.readFileSync(file).equals(body), 'the final file is the served file');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['data.bin', 'data.bin.verified']);
}

async function failure(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => assert.fail('expected the download to fail'),
    (err: Error) => err,
  );
  assert.equal(e.name, 'DownloadError', e.stack);
  assert.doesNotMatch(e.message, /\n/, 'one line');
  return e.message;
}

test('a full download: checksum ok, file in place, a stamp, no .part, progress to the end', {
  timeout: 20000,
}, async () => {
  const server = await serve(full);
  try {
    const dir = path.join(tempDir(), 'cache', 'cifar10');
    const progress: DownloadProgress[] = [];
    const file = await download(spec(server.url), { dir, ...fast, onProgress: (p) => progress.push(p) });
    assert.equal(file, path.join(dir, 'data.bin'));
    assertDownloaded(dir);
    assert.equal(await isVerified(file, spec(server.url)), true);
    assert.deepEqual(
      server.seen.map((s) => s.range),
      [undefined],
    );
    assert.equal(progress.at(-1)?.done, SIZE);
    assert.ok(progress.every((p, i) => p.total === SIZE && (i === 0 || p.done >= progress[i - 1].done)));
    // Present and verified: a second call asks the server nothing.
    await download(spec(server.url), { dir, ...fast });
    assert.equal(server.seen.length, 1);
  } finally {
    await server.close();
  }
});

test('a transfer cut off mid-way keeps its .part; the next run resumes it with Range', { timeout: 20000 }, async () => {
  const server = await serve(cutAt(700_000), full);
  try {
    const dir = tempDir();
    const msg = await failure(download(spec(server.url), { dir, ...fast }));
    assert.match(
      msg,
      new RegExp(
        String.raw`^data\.bin: download failed after 1 attempt \(connection closed.*\); ` +
          String.raw`download http://127\.0\.0\.1:\d+/data\.bin by hand and put data\.bin in .* ` +
          String.raw`\(or run again to resume from byte \d+\)$`,
      ),
    );
    const kept = fs.statSync(path.join(dir, 'data.bin.part')).size;
    assert.ok(kept > 0 && kept <= 700_000, `kept ${kept}`);
    assert.ok(!fs.existsSync(path.join(dir, 'data.bin')));
    await download(spec(server.url), { dir, ...fast });
    assert.equal(server.seen[1].range, `bytes=${kept}-`);
    assertDownloaded(dir);
  } finally {
    await server.close();
  }
});

test('a cut-off transfer is retried within one call with a Range request', { timeout: 20000 }, async () => {
  const server = await serve(cutAt(1_000_000), full);
  try {
    const dir = tempDir();
    const lines: string[] = [];
    await download(spec(server.url), { dir, ...fast, retries: 2, log: (l) => lines.push(l) });
    assertDownloaded(dir);
    assert.equal(server.seen.length, 2);
    const from = Number(/^bytes=(\d+)-$/.exec(server.seen[1].range ?? '')?.[1]);
    assert.ok(from > 0 && from <= 1_000_000, `resumed from ${server.seen[1].range}`);
    assert.match(lines[0], /^evolve: data\.bin: connection closed.*; retry 1 of 2 in 5ms$/);
  } finally {
    await server.close();
  }
});

test('resuming from a server that ignores Range (200), or refuses it (416), or an over-long .part, starts from zero', {
  timeout: 20000,
}, async () => {
  const refuses: Handler = (req, res) => {
    if (req.headers.range) res.writeHead(416, { 'content-range': `bytes */${SIZE}` }).end();
    else full(req, res, 0);
  };
  for (const [handler, partBytes, ranges] of [
    [noRanges, 300_000, ['bytes=300000-']],
    [refuses, 300_000, ['bytes=300000-', undefined]],
    [full, SIZE + 10, [undefined]],
  ] as [Handler, number, (string | undefined)[]][]) {
    const server = await serve(handler);
    try {
      const dir = tempDir();
      // Garbage, not the file's prefix: a kept byte of it would spoil the checksum.
      fs.writeFileSync(path.join(dir, 'data.bin.part'), randomBytes(partBytes, 'garbage'));
      await download(spec(server.url), { dir, ...fast, retries: 1 });
      assertDownloaded(dir);
      assert.deepEqual(
        server.seen.map((s) => s.range),
        ranges,
      );
    } finally {
      await server.close();
    }
  }
});

test('a file already in place that is not the published one is replaced, saying so', { timeout: 20000 }, async () => {
  const server = await serve(full);
  try {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'data.bin'), randomBytes(SIZE, 'not-the-file'));
    const lines: string[] = [];
    await download(spec(server.url), { dir, ...fast, log: (l) => lines.push(l) });
    assertDownloaded(dir);
    assert.deepEqual(lines, [
      `evolve: data.bin: the file in ${dir} is not the published one (wrong-checksum); downloading it again`,
    ]);
  } finally {
    await server.close();
  }
});

test('a wrong checksum leaves no final file, no .part and no stamp, and names the checksum', {
  timeout: 20000,
}, async () => {
  const server = await serve(full);
  try {
    const dir = tempDir();
    const wrong = 'ab'.repeat(32);
    const msg = await failure(download(spec(server.url, { sha256: wrong }), { dir, ...fast }));
    assert.equal(
      msg,
      `data.bin: wrong checksum: expected sha256 ${wrong}, downloaded ${sha256} from ${server.url}; ` +
        'the download was deleted',
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    await server.close();
  }
});

test('a server that offers another size is refused before anything is kept', { timeout: 20000 }, async () => {
  const server = await serve(full);
  try {
    const dir = tempDir();
    const msg = await failure(download(spec(server.url, { bytes: SIZE - 1 }), { dir, ...fast, retries: 3 }));
    assert.match(msg, new RegExp(`offers ${SIZE} bytes, expected ${SIZE - 1}`));
    assert.equal(server.seen.length, 1, 'not retried');
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    await server.close();
  }
});

test('a stalled transfer is aborted and retried: it fails with one line, or resumes when the server recovers', {
  timeout: 20000,
}, async () => {
  const stuck = await serve(stall);
  try {
    const dir = tempDir();
    const msg = await failure(download(spec(stuck.url), { dir, ...fast, stallMs: 150, retries: 1 }));
    assert.match(
      msg,
      /^data\.bin: download failed after 2 attempts \(no data for 150ms\); download .* by hand and put data\.bin in /,
    );
    assert.equal(stuck.seen.length, 2);
    assert.equal(stuck.seen[1].range, 'bytes=65536-');
  } finally {
    await stuck.close();
  }
  const recovers = await serve(stall, full);
  try {
    const dir = tempDir();
    // Generous here: a loaded machine must not mistake the healthy second transfer for a stall.
    await download(spec(recovers.url), { dir, ...fast, stallMs: 1000, retries: 1 });
    assertDownloaded(dir);
    assert.deepEqual(
      recovers.seen.map((s) => s.range),
      [undefined, 'bytes=65536-'],
    );
  } finally {
    await recovers.close();
  }
});

test('a refused connection names the URL, the file and the folder to put it in', { timeout: 20000 }, async () => {
  const gone = await serve(full);
  const url = gone.url;
  await gone.close(); // nothing listens on that port now
  const dir = tempDir();
  const msg = await failure(download(spec(url), { dir, ...fast, retries: 1 }));
  assert.equal(
    msg,
    'data.bin: download failed after 2 attempts (connection refused); ' +
      `download ${url} by hand and put data.bin in ${dir}`,
  );
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('redirects are followed (at most 5); a 404 fails at once naming the folder', { timeout: 20000 }, async () => {
  const redirect: Handler = (req, res) => {
    if (req.url === '/data.bin') res.writeHead(302, { location: '/moved/data.bin' }).end();
    else if (req.url === '/loop') res.writeHead(301, { location: '/loop' }).end();
    else if (req.url === '/moved/data.bin') full(req, res, 0);
    else res.writeHead(404).end();
  };
  const server = await serve(redirect);
  try {
    const dir = tempDir();
    await download(spec(server.url), { dir, ...fast });
    assertDownloaded(dir);
    const base = server.url.replace('/data.bin', '');
    const other = tempDir();
    assert.match(await failure(download(spec(`${base}/loop`), { dir: other, ...fast })), /more than 5 redirects/);
    const before = server.seen.length;
    const msg = await failure(download(spec(`${base}/nothing`), { dir: other, ...fast, retries: 3 }));
    assert.equal(
      msg,
      `data.bin: ${base}/nothing answered HTTP 404 Not Found; download it by hand and put data.bin in ${other}`,
    );
    assert.equal(server.seen.length, before + 1, 'a 404 is not retried');
    assert.deepEqual(fs.readdirSync(other), []);
  } finally {
    await server.close();
  }
});

test('a full disk during download: one line naming the file, nothing half-written', { timeout: 20000 }, async (t) => {
  const disk = smallDisk(t, '1m');
  if (!disk) return;
  const server = await serve(full);
  try {
    const dir = path.join(disk, 'cifar10');
    const msg = await failure(download(spec(server.url), { dir, ...fast, retries: 2 }));
    assert.equal(
      msg,
      `data.bin: cannot write ${path.join(dir, 'data.bin.part')} (no space left on device); ` +
        'the partial download was deleted',
    );
    assert.equal(server.seen.length, 1, 'a full disk is not retried');
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(fs.existsSync(stampPath(path.join(dir, 'data.bin'))), false);
  } finally {
    await server.close();
    unmountDisk(disk);
  }
});

/** Sends the first half of the file, then the rest only once `release` is called. */
function held(): { handler: Handler; release: () => void; started: Promise<void> } {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = (): void => undefined;
  const begun = new Promise<void>((resolve) => {
    started = resolve;
  });
  const handler: Handler = (_req, res) => {
    res.writeHead(200, { 'content-length': SIZE });
    res.write(body.subarray(0, SIZE / 2), () => started());
    void gate.then(() => res.end(body.subarray(SIZE / 2)));
  };
  return { handler, release, started: begun };
}

/** Resolves once `lines` has a line matching `pattern` (checked as lines arrive). */
function lineSeen(lines: string[], pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const look = (): void => {
      if (lines.some((l) => pattern.test(l))) resolve();
      else setTimeout(look, 20);
    };
    look();
  });
}

test('two downloads at once, in this process and another: one transfer, the right file, one stamp', {
  timeout: 30000,
}, async () => {
  const gate = held();
  const server = await serve(gate.handler, full);
  try {
    const dir = tempDir();
    const first = download(spec(server.url), { dir, ...fast });
    await gate.started;
    const lines: string[] = [];
    const second = download(spec(server.url), { dir, ...fast, log: (l) => lines.push(l) });
    const script =
      `require(${JSON.stringify(path.resolve(__dirname, '../src/data/download.js'))})` +
      `.download(${JSON.stringify(spec(server.url))}, { dir: ${JSON.stringify(dir)}, retries: 0, ` +
      'log: (l) => console.error(l) }).then((f) => console.log(f))';
    const other = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const otherLines: string[] = [];
    other.stderr.on('data', (d: Buffer) => otherLines.push(...d.toString().split('\n')));
    const otherEnd = new Promise<number | null>((resolve) => other.on('close', resolve));
    await lineSeen(
      lines,
      /^evolve: waiting for process \d+ \(since .*\), downloading data\.bin \(.*data\.bin\.lock\)$/,
    );
    await lineSeen(otherLines, new RegExp(`^evolve: waiting for process ${process.pid} `));
    gate.release();
    assert.deepEqual(await Promise.all([first, second]), [path.join(dir, 'data.bin'), path.join(dir, 'data.bin')]);
    assert.equal(await otherEnd, 0, otherLines.join('\n'));
    assert.equal(server.seen.length, 1, 'one transfer: the waiters used its file');
    assertDownloaded(dir);
    assert.equal(await isVerified(path.join(dir, 'data.bin'), spec(server.url)), true);
  } finally {
    await server.close();
  }
});

test('a lock left by a dead process, or untouched for minutes on another host, is removed', {
  timeout: 20000,
}, async () => {
  const server = await serve(full);
  try {
    const dead = spawnSync('true').pid;
    const holders = [
      { host: os.hostname(), pidNamespace: fs.readlinkSync('/proc/self/ns/pid'), pid: dead, age: 0 },
      { host: 'another-node', pidNamespace: 'pid:[1]', pid: process.pid, age: 120 },
    ];
    for (const h of holders) {
      const dir = tempDir();
      const lock = path.join(dir, 'data.bin.lock');
      fs.writeFileSync(lock, JSON.stringify({ ...h, token: 'old', since: '2026-01-01T00:00:00.000Z' }));
      const past = new Date(Date.now() - h.age * 1000);
      fs.utimesSync(lock, past, past);
      const lines: string[] = [];
      await download(spec(server.url), { dir, ...fast, log: (l) => lines.push(l) });
      assertDownloaded(dir);
      assert.match(lines.join('\n'), new RegExp(`removed the abandoned lock of process ${h.pid}`));
    }
  } finally {
    await server.close();
  }
});

test('a lock held elsewhere is waited for, saying so once, and taken when it goes', { timeout: 20000 }, async () => {
  const dir = tempDir();
  const file = path.join(dir, 'data.bin');
  const other = { host: 'another-node', pidNamespace: 'pid:[1]', pid: 1, token: 't', since: 'then' };
  fs.writeFileSync(`${file}.lock`, JSON.stringify(other));
  const lines: string[] = [];
  const taking = CacheLock.acquire(file, { purpose: 'testing', log: (l) => lines.push(l), pollMs: 10 });
  await lineSeen(lines, /waiting for process 1 on another-node \(since then\), testing/);
  fs.rmSync(`${file}.lock`);
  const lock = await taking;
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.equal(JSON.parse(fs.readFileSync(`${file}.lock`, 'utf8')).pid, process.pid);
  lock.release();
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a redirect to ftp://, file:// or a malformed address is one line, not a crash', { timeout: 20000 }, async () => {
  const targets: Record<string, string> = {
    '/ftp': 'ftp://127.0.0.1/data.bin',
    '/file': 'file:///etc/passwd',
    '/bad': 'http://[not-an-address/data.bin',
  };
  const server = await serve((req, res) => res.writeHead(302, { location: targets[req.url ?? ''] }).end());
  try {
    const base = server.url.replace('/data.bin', '');
    for (const [from, to] of Object.entries(targets)) {
      const dir = tempDir();
      const msg = await failure(download(spec(`${base}${from}`), { dir, ...fast, retries: 2 }));
      assert.ok(msg.startsWith('data.bin: '), msg);
      assert.ok(msg.includes(to) && msg.includes(`a redirect from ${base}${from}`), msg);
    }
  } finally {
    await server.close();
  }
});

test('a server that trickles a byte at a time ends with one line (the minimum rate)', { timeout: 20000 }, async () => {
  const trickle: Handler = (_req, res) => {
    res.writeHead(200, { 'content-length': SIZE });
    let sent = 0;
    const timer = setInterval(() => res.write(body.subarray(sent, ++sent)), 100);
    res.on('close', () => clearInterval(timer));
  };
  const server = await serve(trickle);
  try {
    const dir = tempDir();
    // 10 bytes/s at most, whatever the machine: far below 1000 bytes/s.
    const minRate = { bytesPerSec: 1000, windowMs: 300 };
    const msg = await failure(download(spec(server.url), { dir, ...fast, stallMs: 60_000, minRate }));
    assert.match(
      msg,
      /^data\.bin: download failed after 1 attempt \(less than 1000 bytes\/s over 300ms \(\d+ bytes\)\)/,
    );
  } finally {
    await server.close();
  }
});

test('a read-only cache: one line saying what could not be written where, and what to do', {
  timeout: 20000,
}, async (t) => {
  const disk = smallDisk(t, '1m');
  if (!disk) return;
  const server = await serve(full);
  try {
    fs.mkdirSync(path.join(disk, 'cifar10'));
    execFileSync('mount', ['-o', 'remount,ro', disk]);
    const hint = 'the data cache must be writable: choose another folder with --data-dir or EVOLVE_DATA_DIR';
    const missing = path.join(disk, 'stl10');
    assert.equal(
      await failure(download(spec(server.url), { dir: missing, ...fast })),
      `data.bin: cannot create the folder ${missing} (read-only file system); ${hint}`,
    );
    const present = path.join(disk, 'cifar10');
    const e = await download(spec(server.url), { dir: present, ...fast }).then(assert.fail, (err: Error) => err);
    assert.equal(
      e.message,
      `cannot create the lock ${path.join(present, 'data.bin.lock')} (read-only file system); ${hint}`,
    );
    assert.equal(server.seen.length, 0);
  } finally {
    await server.close();
    unmountDisk(disk);
  }
});

test('a server that does not speak HTTP is one line naming what went wrong', { timeout: 20000 }, async () => {
  const server = net.createServer((socket) => socket.end('garbage\r\n\r\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data.bin`;
    const msg = await failure(download(spec(url), { dir: tempDir(), ...fast }));
    assert.match(msg, /^data\.bin: download failed after 1 attempt \(the server's answer is not HTTP \(HPE_\w+\)\); /);
  } finally {
    server.close(); // not awaited: its callback waits on the half-closed socket, which keeps nothing alive
  }
});
