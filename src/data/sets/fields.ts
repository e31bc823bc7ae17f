// Checked reads of a JSON object's fields: every failure is one line naming the file and the field.
import { DataError } from '../idx';

/** A manifest that is not valid JSON or misses or misstates a field. */
export class ManifestError extends DataError {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** The fields of one object in a JSON file; `at` is its path from the root (e.g. 'archive'). */
export class Fields {
  private readonly obj: Record<string, unknown>;

  constructor(
    readonly file: string,
    value: unknown,
    private readonly at = '',
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ManifestError(
        `${file}: ${at ? `field "${at}"` : 'the file'} must be a JSON object, found ${show(value)}`,
      );
    }
    this.obj = value as Record<string, unknown>;
  }

  /** The path of `key` for messages, e.g. 'archive.sha256'. */
  path(key: string): string {
    return this.at ? `${this.at}.${key}` : key;
  }

  fail(key: string, what: string): never {
    throw new ManifestError(`${this.file}: field "${this.path(key)}" ${what}`);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  /** Refuses fields not in `known`, so a misspelt one is not silently ignored. */
  only(known: string[]): void {
    for (const key of Object.keys(this.obj)) {
      if (!known.includes(key)) this.fail(key, `is not a known field (known: ${known.join(', ')})`);
    }
  }

  private value(key: string): unknown {
    if (!Object.hasOwn(this.obj, key) || this.obj[key] === undefined) this.fail(key, 'is missing');
    return this.obj[key];
  }

  /** A non-empty string, matching `pattern` when given (`what` says what it must be). */
  string(key: string, pattern?: RegExp, what = 'a non-empty string'): string {
    const v = this.value(key);
    if (typeof v !== 'string' || v === '' || (pattern && !pattern.test(v)))
      this.fail(key, `must be ${what}, found ${show(v)}`);
    return v;
  }

  /** An integer in [min, max]. */
  integer(key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `in ${min}..${max}`;
      this.fail(key, `must be an integer ${range}, found ${show(v)}`);
    }
    return v;
  }

  /** A finite number of at least `min`. */
  number(key: string, min: number): number {
    const v = this.value(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
      this.fail(key, `must be a number >= ${min}, found ${show(v)}`);
    return v;
  }

  boolean(key: string): boolean {
    const v = this.value(key);
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, found ${show(v)}`);
    return v;
  }

  /** A list of non-empty strings (of exactly `length` when given, else at least one). */
  strings(key: string, length?: number): string[] {
    const v = this.value(key);
    const ok = Array.isArray(v) && v.every((s) => typeof s === 'string' && s !== '');
    if (!ok || (length !== undefined ? v.length !== length : v.length === 0)) {
      const count = length !== undefined ? `${length}` : 'one or more';
      this.fail(key, `must be a list of ${count} non-empty strings, found ${show(v)}`);
    }
    return v as string[];
  }

  /** A list of integers, each checked as by integer(). */
  integers(key: string, length: number, min: number): number[] {
    const v = this.value(key);
    if (!Array.isArray(v) || v.length !== length || !v.every((n) => Number.isInteger(n) && n >= min)) {
      this.fail(key, `must be a list of ${length} integers of at least ${min}, found ${show(v)}`);
    }
    return v as number[];
  }

  object(key: string): Fields {
    return new Fields(this.file, this.value(key), this.path(key));
  }
}
