// The download progress bar: redrawn on a terminal, a line per 10 % elsewhere, escape codes only
// on a terminal that is not dumb and without NO_COLOR.
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, ProgressBar, type ProgressStream } from '../src/data/progressBar';

/** A stream that records what is written, as a terminal (isTTY) or a pipe would receive it. */
function sink(isTTY: boolean): ProgressStream & { text: string } {
  const s = {
    text: '',
    isTTY,
    columns: 120,
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s;
}

/** Runs a 100 MiB transfer in 1 MiB steps, 50 ms apart on a fake clock. */
function run(stream: ProgressStream, env: NodeJS.ProcessEnv, startAt = 0): void {
  let clock = 0;
  const total = 100 * 1024 * 1024;
  const bar = new ProgressBar({ label: 'cifar-10-binary.tar.gz', stream, env, now: () => clock });
  for (let mib = startAt; mib <= 100; mib++) {
    clock += 50;
    bar.update({ done: mib * 1024 * 1024, total });
  }
  bar.done();
}

test('not a terminal: a plain line every 10 %, no escape codes or carriage returns', () => {
  const s = sink(false);
  run(s, {});
  const lines = s.text.trimEnd().split('\n');
  assert.equal(lines.length, 11);
  assert.equal(lines[0], 'cifar-10-binary.tar.gz:   0% 0 B of 100.0 MiB, 0 B/s, ETA ?');
  assert.match(lines[4], /^cifar-10-binary\.tar\.gz:  40% 40\.0 MiB of 100\.0 MiB, 19\.[0-9] MiB\/s, ETA 3\.[0-9]s$/);
  assert.equal(lines[10], 'cifar-10-binary.tar.gz: 100% 100.0 MiB of 100.0 MiB, 19.8 MiB/s, done');
  assert.doesNotMatch(s.text, /[\x1b\r]/);
});

test('a resumed transfer on a pipe starts its lines where it resumed', () => {
  const s = sink(false);
  run(s, {}, 43);
  assert.deepEqual(
    s.text
      .trimEnd()
      .split('\n')
      .map((l) => /(\d+%)/.exec(l)?.[1]),
    ['43%', '50%', '60%', '70%', '80%', '90%', '100%'],
  );
});

test('a terminal gets one line redrawn in place, coloured; TERM=dumb gets plain lines; NO_COLOR no escapes', () => {
  const tty = sink(true);
  run(tty, {});
  assert.match(tty.text, /^\r\x1b\[2K/);
  assert.match(tty.text, /\x1b\[36m█+\x1b\[39m/);
  assert.equal(tty.text.split('\n').length, 2, 'one line, ended once');
  const redraws = tty.text.split('\r').length - 1;
  assert.ok(redraws >= 40 && redraws <= 60, `redrawn ${redraws} times, about every 100 ms`);
  assert.match(
    tty.text,
    /\r\x1b\[2Kcifar-10-binary\.tar\.gz \x1b\[36m█{24}\x1b\[39m 100% 100\.0 MiB of 100\.0 MiB, .* done\n$/,
  );
  assert.equal(tty.text.match(/100%/g)?.length, 1, 'the last state drawn once');
  assert.match(tty.text, /\x1b\[36m█{23}░\x1b\[39m  98%/);

  const dumb = sink(true);
  run(dumb, { TERM: 'dumb' });
  assert.equal(dumb.text.trimEnd().split('\n').length, 11);
  assert.doesNotMatch(dumb.text, /[\x1b\r]/);

  const plain = sink(true);
  run(plain, { NO_COLOR: '1' });
  assert.doesNotMatch(plain.text, /\x1b/);
  assert.match(plain.text, /^\r/);
  assert.match(
    plain.text,
    /\r\S+ █{24} 100% 100\.0 MiB of 100\.0 MiB, .* done *\n$/,
    'spaces wipe a longer previous line',
  );
});

test('sizes and durations read as a person expects', () => {
  assert.deepEqual([0, 1023, 1536, 170052171, 2640397119].map(formatBytes), [
    '0 B',
    '1023 B',
    '1.5 KiB',
    '162.2 MiB',
    '2.5 GiB',
  ]);
  assert.deepEqual([0.005, 0.4, 2.5, 59, 59.96, 75, 3599, 3600 * 2 + 61, Infinity, -1].map(formatDuration), [
    '5ms',
    '400ms',
    '2.5s',
    '59.0s',
    '1m00s',
    '1m15s',
    '59m59s',
    '2h01m',
    '?',
    '?',
  ]);
});

test('off a terminal, a paced bar writes a line when both its step and its interval have passed', () => {
  const s = sink(false);
  let clock = 0;
  // 100 batches an epoch, a line every 10 batches and at most every 30 s; a batch every 2 s.
  const bar = new ProgressBar({
    label: 'ancestor',
    stream: s,
    env: {},
    now: () => clock,
    pace: { every: 10, ms: 30000 },
  });
  for (let done = 1; done <= 100; done++) {
    clock += 2000;
    bar.show(done, 100, `batch ${done}/100`);
  }
  // The 30 s are the rarer: batches 15, 30, 45, 60, 75, 90.
  assert.equal(s.text, [15, 30, 45, 60, 75, 90].map((b) => `ancestor: batch ${b}/100\n`).join(''));
  // A slow epoch: a step every 50 batches (100 s), yet a line at the latest every 60 s.
  const slow = sink(false);
  clock = 0;
  const paced = new ProgressBar({
    label: 'ancestor',
    stream: slow,
    env: {},
    now: () => clock,
    pace: { every: 50, ms: 30000, maxMs: 60000 },
  });
  for (let done = 1; done <= 100; done++) {
    clock += 2000;
    paced.show(done, 100, `batch ${done}/100`);
  }
  assert.equal(slow.text, [15, 45, 60, 90].map((b) => `ancestor: batch ${b}/100\n`).join(''));
  // Without an interval, one line per step, the first at once.
  const fast = sink(false);
  const every = new ProgressBar({ label: 'x', stream: fast, env: {}, now: () => 0, pace: { every: 10, ms: 0 } });
  for (let done = 1; done <= 100; done++) every.show(done, 100, String(done));
  assert.deepEqual(
    fast.text.trimEnd().split('\n'),
    [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((b) => `x: ${b}`),
  );
});
