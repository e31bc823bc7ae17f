/**
 * The layer kinds an ancestor is built from, described once: each kind says how it changes the
 * activation shape and, for the weighted kinds, how many units it has. Architectures, compaction
 * and the engine's forward pass all go through this table (the engine's half is
 * engine/layerOps.ts), so a new kind is one entry here and one there.
 */
export type Activation = 'linear' | 'relu';
export type Padding = 'valid' | 'same';

export interface ConvSpec {
  kind: 'conv';
  name: string;
  kernelSize: number;
  filters: number;
  stride: number;
  padding: Padding;
  activation: Activation;
}
/** Max-pooling; `stride` defaults to `size` (non-overlapping), `padding` to 'valid'. */
export interface MaxPoolSpec {
  kind: 'maxpool';
  name: string;
  size: number;
  stride?: number;
  padding?: Padding;
}
export interface FlattenSpec {
  kind: 'flatten';
  name: string;
}
export interface DenseSpec {
  kind: 'dense';
  name: string;
  units: number;
  activation: Activation;
}

export type LayerSpec = ConvSpec | MaxPoolSpec | FlattenSpec | DenseSpec;
export type LayerKindName = LayerSpec['kind'];
type SpecOf<K extends LayerKindName> = Extract<LayerSpec, { kind: K }>;

/** An activation's shape as the layer walk sees it; `flat` once a flatten has run. */
export interface ActivationShape {
  h: number;
  w: number;
  c: number;
  flat: boolean;
}

export interface LayerKind<S extends LayerSpec> {
  /** The shape this layer outputs for input shape `s`; throws for a layer that cannot follow it. */
  outShape(spec: S, s: ActivationShape, arch: string): ActivationShape;
  /** Weighted kinds: the units (filters/neurons) it has, and the same spec with `units` of them. */
  weighted?: { kind: 'conv' | 'dense'; units(spec: S): number; withUnits(spec: S, units: number): S };
}

/** Output side of a window of `k` with `stride` over `n` (tfjs's and Caffe's rule for each padding). */
export function windowOut(n: number, k: number, stride: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - k) / stride) + 1;
}

function spatial(arch: string, name: string, s: ActivationShape): void {
  if (s.flat) throw new Error(`${arch}: layer ${name} needs an image-shaped input but follows a flatten`);
}

const conv: LayerKind<ConvSpec> = {
  outShape: (spec, s, arch) => {
    spatial(arch, spec.name, s);
    const h = windowOut(s.h, spec.kernelSize, spec.stride, spec.padding);
    const w = windowOut(s.w, spec.kernelSize, spec.stride, spec.padding);
    if (h < 1 || w < 1) throw new Error(`${arch}: layer ${spec.name} leaves no output (input ${s.h}x${s.w})`);
    return { h, w, c: spec.filters, flat: false };
  },
  weighted: { kind: 'conv', units: (spec) => spec.filters, withUnits: (spec, filters) => ({ ...spec, filters }) },
};

const maxpool: LayerKind<MaxPoolSpec> = {
  outShape: (spec, s, arch) => {
    spatial(arch, spec.name, s);
    const stride = spec.stride ?? spec.size;
    const padding = spec.padding ?? 'valid';
    const h = windowOut(s.h, spec.size, stride, padding);
    const w = windowOut(s.w, spec.size, stride, padding);
    if (h < 1 || w < 1) throw new Error(`${arch}: layer ${spec.name} leaves no output (input ${s.h}x${s.w})`);
    return { h, w, c: s.c, flat: false };
  },
};

const flatten: LayerKind<FlattenSpec> = {
  outShape: (_spec, s) => ({ h: 1, w: 1, c: s.h * s.w * s.c, flat: true }),
};

const dense: LayerKind<DenseSpec> = {
  outShape: (spec, s, arch) => {
    if (!s.flat && (s.h !== 1 || s.w !== 1))
      throw new Error(`${arch}: dense layer ${spec.name} needs a flatten before it`);
    return { h: 1, w: 1, c: spec.units, flat: true };
  },
  weighted: { kind: 'dense', units: (spec) => spec.units, withUnits: (spec, units) => ({ ...spec, units }) },
};

export const layerKinds: { [K in LayerKindName]: LayerKind<SpecOf<K>> } = { conv, maxpool, flatten, dense };

/** The table's entry for a spec, typed for that spec. */
export function kindOf<S extends LayerSpec>(spec: S): LayerKind<S> {
  const kind = layerKinds[spec.kind] as unknown as LayerKind<S> | undefined;
  if (!kind) throw new Error(`unknown layer kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  return kind;
}
