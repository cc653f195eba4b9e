// Cheap, linear checks of untrusted JSON text before (or instead of) JSON.parse:
// the nesting depth and duplicate keys, which JSON.parse does not bound or
// report (it keeps the last of two equal keys). Used for safetensors headers
// (io/safetensors.ts) and the model config in checkpoints (nn/checkpoint.ts).
//
// Work is one pass over the text; memory is the keys of the objects open at a
// position (at most maxDepth of them), never the whole document.

/** What was wrong, at which UTF-8 byte offset of the text (callers add the file name). */
export class JsonScanIssue extends Error {
  constructor(
    readonly expected: string,
    readonly received: string,
  ) {
    super(`Expected ${expected} but received ${received}`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Marks an open object before its first key. */
const NO_KEYS = Symbol('no keys');

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** A cursor over JSON text with the checks above; syntax beyond them is left to JSON.parse of the spans it finds. */
export class JsonScanner {
  pos = 0;

  constructor(
    readonly text: string,
    readonly maxDepth: number,
  ) {}

  /** The UTF-8 byte offset of a position (computed only for error messages). */
  byteOffset(pos = this.pos): number {
    return Buffer.byteLength(this.text.slice(0, pos), 'utf8');
  }

  fail(expected: string, received: string, pos = this.pos): never {
    throw new JsonScanIssue(expected, `${received} at byte ${this.byteOffset(pos)}`);
  }

  invalid(what: string, pos = this.pos): never {
    return this.fail('valid JSON', `invalid JSON (${what})`, pos);
  }

  private duplicate(key: string, pos: number): never {
    return this.fail('each key once in every JSON object', `${JSON.stringify(key.length > 40 ? key.slice(0, 40) + '…' : key)} twice (JSON.parse would keep only the last)`, pos);
  }

  skipWhitespace(): void {
    const t = this.text;
    while (this.pos < t.length && isWhitespace(t.charCodeAt(this.pos))) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): number {
    return this.text.charCodeAt(this.pos);
  }

  /** Consumes `ch` (after whitespace) or fails. */
  expect(ch: string): void {
    this.skipWhitespace();
    if (this.text[this.pos] !== ch) this.invalid(this.atEnd() ? `the text ends where ${JSON.stringify(ch)} should follow` : `${JSON.stringify(this.text[this.pos])} where ${JSON.stringify(ch)} should be`);
    this.pos++;
  }

  /**
   * Skips a string at pos (which is a quote) and returns its end (after the
   * closing quote), and whether it contains escapes. Raw control characters
   * are invalid JSON.
   */
  private skipString(): { end: number; escaped: boolean } {
    const t = this.text;
    const start = this.pos;
    let escaped = false;
    let i = start + 1;
    for (;;) {
      if (i >= t.length) this.invalid('an unterminated string', start);
      const c = t.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        i += 2;
        continue;
      }
      if (c < 0x20) this.invalid('a control character inside a string', i);
      i++;
    }
    this.pos = i + 1;
    return { end: i + 1, escaped };
  }

  /** Reads a string at pos and returns its value (escapes decoded). */
  readString(): string {
    const start = this.pos;
    if (this.peek() !== QUOTE) this.invalid(this.atEnd() ? 'the text ends where a string should follow' : 'a string expected', start);
    const { end, escaped } = this.skipString();
    if (!escaped) return this.text.slice(start + 1, end - 1);
    try {
      return JSON.parse(this.text.slice(start, end)) as string;
    } catch {
      return this.invalid('a bad escape in a string', start);
    }
  }

  /**
   * Skips one value at pos, nested at `depth` (1 for the values of a
   * top-level object), checking nesting depth and duplicate keys inside it.
   * Returns [start, end) of the value. Its syntax is checked only as far as
   * needed to find its end: JSON.parse of the span checks the rest.
   */
  skipValue(depth: number): [number, number] {
    this.skipWhitespace();
    const t = this.text;
    const start = this.pos;
    if (this.atEnd()) this.invalid('the text ends where a value should follow');
    const first = t.charCodeAt(start);
    if (first === QUOTE) {
      this.skipString();
      return [start, this.pos];
    }
    if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
      // A number, true, false or null: up to the next delimiter.
      let i = start;
      while (i < t.length) {
        const c = t.charCodeAt(i);
        if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || c === COLON || isWhitespace(c) || c === QUOTE || c === OPEN_OBJECT || c === OPEN_ARRAY) break;
        i++;
      }
      if (i === start) this.invalid(`${JSON.stringify(t[start])} where a value should be`, start);
      this.pos = i;
      return [start, i];
    }
    // Containers: an explicit stack (no recursion), one entry per open
    // container: null for an array, else the object's keys (a Set made at its
    // second key, so a flood of small objects costs no Sets). The loop keeps
    // its position in a local (this.pos only around string reads): it is the
    // hot path for a hostile header of millions of tiny values.
    const room = this.maxDepth - depth + 1;
    const keys: (Set<string> | string | typeof NO_KEYS | null)[] = [];
    let open = 0;
    let expectKey = false;
    let i = start;
    const n = t.length;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === QUOTE) {
        const top = keys[open - 1];
        this.pos = i;
        if (expectKey && top !== null) {
          const key = this.readString();
          if (top === NO_KEYS) keys[open - 1] = key;
          else if (typeof top === 'string') {
            if (top === key) this.duplicate(key, i);
            keys[open - 1] = new Set([top, key]);
          } else {
            if (top.has(key)) this.duplicate(key, i);
            top.add(key);
          }
          expectKey = false;
        } else {
          this.skipString();
        }
        i = this.pos;
        continue;
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (open >= room) this.fail(`JSON nested at most ${this.maxDepth} deep`, 'deeper nesting', i);
        keys[open++] = c === OPEN_OBJECT ? NO_KEYS : null;
        expectKey = c === OPEN_OBJECT;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (open === 0 || (c === CLOSE_OBJECT) !== (keys[open - 1] !== null)) this.invalid(`a mismatched ${JSON.stringify(t[i])}`, i);
        keys[--open] = null;
        if (open === 0) {
          this.pos = i + 1;
          return [start, this.pos];
        }
        expectKey = false;
      } else if (c === COMMA) {
        expectKey = keys[open - 1] !== null;
      }
      i++;
    }
    this.pos = i;
    return this.invalid('the text ends inside a value');
  }

  /**
   * Iterates the members of the object at pos (nested at `depth`): for each
   * key, `each(key)` must consume the value (e.g. with skipValue(depth
   * + 1)). Fails on a duplicate key, before `each` sees it.
   */
  members(depth: number, each: (key: string) => void): void {
    if (depth > this.maxDepth) this.fail(`JSON nested at most ${this.maxDepth} deep`, 'deeper nesting');
    this.expect('{');
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.peek() === CLOSE_OBJECT) {
      this.pos++;
      return;
    }
    for (;;) {
      this.skipWhitespace();
      const keyPos = this.pos;
      const key = this.readString();
      if (seen.has(key)) this.duplicate(key, keyPos);
      seen.add(key);
      this.expect(':');
      each(key);
      this.skipWhitespace();
      if (this.atEnd()) this.invalid('the text ends inside an object');
      const c = this.peek();
      this.pos++;
      if (c === CLOSE_OBJECT) return;
      if (c !== COMMA) this.invalid(`${JSON.stringify(String.fromCharCode(c))} where "," or "}" should be`, this.pos - 1);
    }
  }

  /** Fails unless only whitespace is left. */
  expectEnd(): void {
    this.skipWhitespace();
    if (!this.atEnd()) this.invalid(`${JSON.stringify(this.text[this.pos])} after the end of the value`);
  }
}

/**
 * Checks one JSON text's nesting depth and keys (linear time), then parses it.
 * Throws JsonScanIssue for a depth or duplicate-key problem and for invalid
 * JSON (JSON.parse's message as the detail).
 */
export function parseJsonChecked(text: string, maxDepth: number): unknown {
  const s = new JsonScanner(text, maxDepth);
  s.skipValue(1);
  s.expectEnd();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonScanIssue('valid JSON', `invalid JSON (${(err as Error).message})`);
  }
}
