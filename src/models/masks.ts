/**
 * Dead units and the synapses that die with them (docs/method.md, sampling steps 2 and 4, and
 * compaction): a hidden unit with no live input, or none of whose outgoing synapses is live,
 * contributes nothing, so its incoming and outgoing synapses are masked too. Output units never die.
 */
import { type WeightedLayer, feedingUnit } from './architecture';

/*
 * A kernel is rows of outUnits entries, one row per (tap, input index), so entry k belongs to output
 * unit k % outUnits (outUnitOf) and its row r = floor(k / outUnits) reads unit
 * feedingUnit(r % inUnits) (inIndexOf). The loops below walk it row by row, counting instead of
 * dividing: they run several times per offspring drawn. (A layer has at least one unit, so every
 * row advances.)
 */

/** 1 for every unit of layer `l` that has at least one live incoming synapse. */
export function unitsWithInput(layer: WeightedLayer, mask: Uint8Array): Uint8Array {
  const units = layer.outUnits;
  const has = new Uint8Array(units);
  for (let row = 0; row < mask.length; row += units) {
    for (let o = 0; o < units; o++) if (mask[row + o]) has[o] = 1;
  }
  return has;
}

/** The unit of the layer before `layer` that row `r` of its kernel reads. */
const rowUnit = (layer: WeightedLayer, r: number): number => feedingUnit(layer, r % layer.inUnits);

/** 1 for every unit of the layer before `next` that feeds at least one live synapse of `next`. */
export function unitsWithOutput(next: WeightedLayer, nextMask: Uint8Array): Uint8Array {
  const has = new Uint8Array(next.prevUnits);
  const units = next.outUnits;
  for (let r = 0, row = 0; row < nextMask.length; r++, row += units) {
    const u = rowUnit(next, r);
    if (has[u]) continue;
    for (let o = 0; o < units; o++) {
      if (nextMask[row + o]) {
        has[u] = 1;
        break;
      }
    }
  }
  return has;
}

/** Masks every synapse into or out of a dead unit of layer `l`; returns how many it removed. */
export function killUnits(layers: WeightedLayer[], masks: Uint8Array[], l: number, dead: Uint8Array): number {
  let removed = 0;
  const own = masks[l];
  const units = layers[l].outUnits;
  for (let row = 0; row < own.length; row += units) {
    for (let o = 0; o < units; o++) {
      if (own[row + o] && dead[o]) {
        own[row + o] = 0;
        removed++;
      }
    }
  }
  const next = layers[l + 1];
  if (!next) return removed;
  const m = masks[l + 1];
  for (let r = 0, row = 0; row < m.length; r++, row += next.outUnits) {
    if (!dead[rowUnit(next, r)]) continue;
    for (let k = row; k < row + next.outUnits; k++) {
      if (m[k]) {
        m[k] = 0;
        removed++;
      }
    }
  }
  return removed;
}

/** Repeats the dead-unit rule until nothing changes; returns the synapses it removed. */
export function pruneDeadUnits(layers: WeightedLayer[], masks: Uint8Array[]): number {
  let total = 0;
  for (;;) {
    let removed = 0;
    for (let l = 0; l < layers.length - 1; l++) {
      const hasIn = unitsWithInput(layers[l], masks[l]);
      const hasOut = unitsWithOutput(layers[l + 1], masks[l + 1]);
      const dead = new Uint8Array(layers[l].outUnits);
      let any = false;
      for (let u = 0; u < dead.length; u++)
        if (!hasIn[u] || !hasOut[u]) {
          dead[u] = 1;
          any = true;
        }
      if (any) removed += killUnits(layers, masks, l, dead);
    }
    total += removed;
    if (removed === 0) return total;
  }
}

/**
 * Live units per layer: a hidden unit lives while it has a live input (after pruneDeadUnits that
 * also means a live output); output units always live. A dead unit's bias is held at 0.
 */
export function liveUnits(layers: WeightedLayer[], masks: Uint8Array[]): Uint8Array[] {
  return layers.map((layer, l) =>
    layer.isOutput ? new Uint8Array(layer.outUnits).fill(1) : unitsWithInput(layer, masks[l]),
  );
}
