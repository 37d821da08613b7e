import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { reportClient } from './client.js';

// The page skeleton. Everything the page needs is inside it: uPlot's script
// and stylesheet are read from node_modules and inlined, the data is a JSON
// block, and a Content-Security-Policy forbids every network request, so the
// file opens the same from a CI artifact, an e-mail or a laptop offline.

const require = createRequire(import.meta.url);

/** uPlot's built script and stylesheet, read once per process. */
let uplot: { script: string; style: string } | undefined;
function uplotAssets(): { script: string; style: string } {
  uplot ??= {
    script: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    style: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplot;
}

/** JSON safe inside a <script> element: no `</script>` or `<!--` can end it early. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Text safe inside HTML. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1440px; padding: 12px 20px 60px; color: #1d1d1d; }
h1 { font-size: 20px; margin: 8px 0; }
h2 { font-size: 18px; margin: 28px 0 4px; border-top: 1px solid #ddd; padding-top: 16px; }
h3 { font-size: 15px; margin: 22px 0 4px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 3px; color: #fff; font-size: 13px; vertical-align: 2px; }
.badge.pass { background: #2e7d32; } .badge.fail { background: #c62828; } .badge.inconclusive { background: #8d6e00; }
.headline { margin: 4px 0 10px; font-weight: 500; }
table.checks { border-collapse: collapse; width: 100%; }
table.checks th, table.checks td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: left; vertical-align: top; }
tr.check td:first-child { white-space: nowrap; font-family: ui-monospace, monospace; }
tr.check.fail { background: #fde7e9; } tr.check.fail td.result { color: #b00020; font-weight: 700; }
tr.check.pass td.result { color: #2e7d32; } tr.check.unknown td.result, tr.check.na td.result { color: #8d6e00; }
tr.witness-row.fail { background: #fff5f6; }
ol.witnesses { margin: 2px 0 6px; padding-left: 22px; }
ol.witnesses .message { font-weight: 600; }
ol.witnesses .op, ol.witnesses .row { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
a.witness-link { color: #b00020; }
a.witness-link.active { background: #ffe08a; }
.note { color: #555; font-size: 12.5px; margin: 2px 0 6px; }
.legend span { margin-right: 14px; font-size: 12.5px; white-space: nowrap; }
.legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; }
pre.selected { background: #f5f5f5; padding: 6px 8px; white-space: pre-wrap; font-size: 12px; margin: 4px 0; }
table.inputs th { text-align: left; padding-right: 12px; font-weight: 500; color: #444; }
details { margin: 8px 0; }
`;

/** The whole page, for one or more runs' data (data.ts's, as `sections`). */
export function page(title: string, data: { sections: unknown[]; outcomes: readonly string[] }): string {
  const { script, style } = uplotAssets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${style}${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<main id="report"></main>
<script type="application/json" id="report-data">${scriptSafeJson(data)}</script>
<script>${script}</script>
<script>(${reportClient.toString()})();</script>
</body>
</html>
`;
}
