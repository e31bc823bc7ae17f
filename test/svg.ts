// vega's SVG read back as the figure tests need it: each drawn element with the classes around it.

/** One drawn element of the SVG, with the classes of the groups around it and its place in drawing order. */
export interface Element {
  tag: string;
  attrs: Record<string, string>;
  text: string;
  classes: string[];
  order: number;
}

/** vega's SVG: nested <g class=...>, leaf path, line and text elements; nothing else is needed here. */
export function parseSvg(svg: string): Element[] {
  const elements: Element[] = [];
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)([^>]*?)(\/?)>|([^<]+)/g)) {
    const [, closing, tag, attrText, selfClosing, text] = m;
    if (text !== undefined) {
      const last = elements[elements.length - 1];
      if (last?.tag === 'text') last.text += text;
      continue;
    }
    if (tag === 'g' && closing) stack.pop();
    else if (tag === 'g' && !selfClosing) stack.push(/class="([^"]*)"/.exec(attrText)?.[1] ?? '');
    else if (!closing && ['path', 'line', 'text'].includes(tag)) {
      const attrs = Object.fromEntries([...attrText.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
      elements.push({ tag, attrs, text: '', classes: [...stack], order: elements.length });
    }
  }
  return elements;
}

export const within = (e: Element, role: string) => e.classes.some((c) => c.split(' ').includes(role));
/** The panel an element is drawn in: its innermost view group (vega-lite names them ..._group). */
export const panelOf = (e: Element) => [...e.classes].reverse().find((c) => /role-scope \S+_group$/.test(c)) ?? '';
export const markKind = (e: Element) => e.classes[e.classes.length - 1].split(' ')[0];

/** "solid", or the dash pattern; a pattern whose gaps are all 0 (vega-lite's [1, 0]) is solid. */
export function dash(e: Element): string {
  const pattern = e.attrs['stroke-dasharray'];
  if (pattern === undefined) return 'solid';
  const parts = pattern.split(/[ ,]+/).map(Number);
  return parts.every((v, i) => i % 2 === 0 || v === 0) ? 'solid' : parts.join(',');
}

/** A symbol's outline scaled to unit size, so a legend's diamond and a plot's diamond compare equal. */
export function shapeOf(e: Element): string {
  const numbers = (e.attrs.d.match(/-?[\d.]+/g) ?? []).map(Number);
  const size = Math.max(...numbers.map(Math.abs));
  return `${e.attrs.d.replace(/[-\d.,\s]+/g, ' ')}|${numbers.map((n) => (n / size).toFixed(1)).join(' ')}`;
}

export function center(e: Element): [number, number] {
  const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(e.attrs.transform ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function radius(e: Element): number {
  return Math.max(...(e.attrs.d.match(/-?[\d.]+/g) ?? ['0']).map((n) => Math.abs(Number(n))));
}
