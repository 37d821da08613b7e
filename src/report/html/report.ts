import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import type { ReportData } from './data.js';
import { DRAWN_OUTCOMES } from './data.js';
import { page } from './template.js';

/**
 * The HTML report of one verify run, or of a whole prove run (one section per
 * scenario, the failing ones first, so the anomaly is what the page opens on).
 */
export function renderHtmlReport(title: string, sections: readonly ReportData[]): string {
  const ordered = [...sections.filter((section) => section.status === 'FAIL'), ...sections.filter((section) => section.status !== 'FAIL')];
  return page(title, { sections: ordered, outcomes: DRAWN_OUTCOMES });
}

/** Writes the report; a path that cannot be written is the user's one-line error. */
export async function writeHtmlReport(file: string, title: string, sections: readonly ReportData[]): Promise<void> {
  const html = renderHtmlReport(title, sections);
  try {
    await writeFile(file, html);
  } catch (error) {
    throw new ConfigError(`cannot write the HTML report ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * Fails as writeHtmlReport would, before a long run (prove) rather than after it: the file's
 * folder must exist and be writable, and the file, if it exists, must be a writable file.
 */
export async function checkHtmlReportPath(file: string): Promise<void> {
  const path = resolve(file);
  try {
    const existing = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (existing?.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    await access(existing ? path : dirname(path), constants.W_OK);
  } catch (error) {
    throw new ConfigError(`cannot write the HTML report ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
