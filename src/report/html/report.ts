import { writeFile } from 'node:fs/promises';
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
