/** The ancestor registry: one line per architecture (the file beside this one defines it). */
import type { Architecture } from '../architecture';
import { lenet5 } from './lenet5';
import { lenet300 } from './lenet300';
import { alexnet } from './alexnet';
import { stl10net } from './stl10net';

export const ancestors: Record<string, Architecture> = {
  lenet5,
  lenet300,
  alexnet,
  stl10net,
};

export const ancestorNames = Object.keys(ancestors);

/** The architecture named `name`, or undefined (callers say what to do about it). */
export function findAncestor(name: string): Architecture | undefined {
  return Object.hasOwn(ancestors, name) ? ancestors[name] : undefined;
}

export { lenet5, lenet300, alexnet, stl10net };
