import { readFileSync } from 'node:fs';

/** One history line as written, every `t_*` / `*_at` time as an exact bigint. */
export type Line = Record<string, any>;

/**
 * Reads every line of a history, end and fault lines included, without the
 * reader (which checks the format): tests of what attack wrote look at the
 * raw lines. Times are taken from the text, so no nanosecond is rounded.
 */
export function historyLines(path: string): Line[] {
  const text = readFileSync(path, 'utf8');
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${path} does not end with a newline`);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const record = JSON.parse(line) as Line;
      for (const [, name, digits] of line.matchAll(/"(t_\w+|\w+_at)":(\d+)/g)) record[name!] = BigInt(digits!);
      return record;
    });
}

/** The op lines of a history. */
export function opLines(lines: Line[]): Line[] {
  return lines.filter((line) => line.kind === 'op');
}

/** A line for an assertion message (times are bigints, which JSON.stringify refuses). */
export function show(line: Line | undefined): string {
  return JSON.stringify(line, (_, value) => (typeof value === 'bigint' ? value.toString() : value));
}
