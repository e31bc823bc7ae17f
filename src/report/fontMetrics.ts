/**
 * Text widths in DejaVu Sans, the font the figure is drawn in. Headless vega has no canvas to
 * measure text and guesses 0.8 em a character, a third too wide: long axis titles then push the
 * panels apart. These are the font's own advance widths (hmtx of DejaVuSans.ttf), in 1/1000 em.
 */

/** Printable ASCII, space (32) to tilde (126). */
const ascii = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863,
  748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635,
  615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636,
  337, 636, 838,
];
/** The other characters the figure uses: ×, −, en dash, ◆. */
const others: Record<string, number> = { '\u00d7': 838, '\u2212': 838, '\u2013': 500 };
/** DejaVu Sans Bold is this much wider on average over printable ASCII. */
const boldRatio = 1.116;

/** Width in pixels of `text` at `fontSize` pixels. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    em += code >= 32 && code <= 126 ? ascii[code - 32] : (others[ch] ?? 700);
  }
  return (em / 1000) * fontSize * (bold ? boldRatio : 1);
}

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: string | number;
}

/** A replacement for vega's `textMetrics.width(item, text)`. */
export function vegaTextWidth(item: TextItem, text?: unknown): number {
  const value = text ?? item.text;
  const s = Array.isArray(value) ? value.join(' ') : value == null ? '' : String(value);
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
  return textWidth(s, item.fontSize ?? 11, bold);
}
