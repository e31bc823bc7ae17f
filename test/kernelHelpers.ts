// Shared by the kernel tests: deterministic inputs, so both backends see bit-identical data.

export type Shape4 = [number, number, number, number];
export type Pad = 'valid' | 'same' | number;

/** Mulberry32. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randArray(n: number, rand: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; ++i) a[i] = rand() * 2 - 1;
  return a;
}

export const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
