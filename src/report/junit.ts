import type { Verdict } from '../verify/verdict.js';

/**
 * JUnit XML, the format CI dashboards read: one test case per check, a
 * failure carrying its witnesses; an UNKNOWN check (it could not run, and
 * the verdict is INCONCLUSIVE) as an error naming the input that would
 * decide it; an N/A check, or one waived by --history-only, as skipped with
 * its reason.
 */
export function verdictJunit(verdict: Verdict, suiteName = 'flashsale verify'): string {
  const failures = verdict.checks.filter((check) => check.status === 'FAIL').length;
  const isError = (check: Verdict['checks'][number]) => check.status === 'UNKNOWN' && !check.waived;
  const errors = verdict.checks.filter(isError).length;
  const skipped = verdict.checks.filter((check) => check.status === 'N/A' || check.waived).length;
  const cases = verdict.checks.map((check) => {
    const name = `${check.id} ${check.name}`;
    const open = `  <testcase classname="flashsale.verify" name="${xml(name)}">`;
    if (check.status === 'PASS') return `${open}\n    <system-out>${xml(check.summary)}</system-out>\n  </testcase>`;
    if (isError(check)) return `${open}\n    <error message="${xml(`UNKNOWN: ${check.reason ?? ''}`)}" type="UNKNOWN"/>\n  </testcase>`;
    if (check.status === 'N/A') return `${open}\n    <skipped message="${xml(`N/A: ${check.reason ?? ''}`)}"/>\n  </testcase>`;
    if (check.waived) return `${open}\n    <skipped message="${xml(check.reason ?? '')}"/>\n  </testcase>`;
    const body = [
      check.summary,
      ...check.witnesses.flatMap((witness) => [
        `- ${witness.message}`,
        ...(witness.operations ?? []).map((op) => `    op  ${op}`),
        ...(witness.rows ?? []).map((row) => `    row ${row}`),
      ]),
    ].join('\n');
    const message = `${check.violations} violation${check.violations === 1 ? '' : 's'}: ${check.witnesses[0]?.message ?? check.summary}`;
    return `${open}\n    <failure message="${xml(message)}" type="${xml(check.name)}">${xml(body)}</failure>\n  </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(suiteName)}" tests="${verdict.checks.length}" failures="${failures}" errors="${errors}" skipped="${skipped}">`,
    `<testsuite name="${xml(suiteName)}" tests="${verdict.checks.length}" failures="${failures}" skipped="${skipped}" errors="${errors}">`,
    ...cases,
    '</testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

function xml(text: string): string {
  // XML 1.0 cannot carry most control characters even escaped; buyer ids can.
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
