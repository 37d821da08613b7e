// What `npm pack` ships (README "Install from anywhere"): the entry, the
// built code, and the sources its source maps point at; no tests. Without
// the network: the file list of a dry run, never an install.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('npm pack ships bin, dist and every source a shipped source map names', { timeout: 90_000 }, async () => {
  // --ignore-scripts: dist was built by `npm test`'s pretest; prepare would build it again.
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, timeout: 60_000 });
  const files = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((file) => file.path));
  for (const needed of ['bin/flashsale', 'package.json', 'README.md', 'dist/src/cli/main.js', 'dist/src/attack/buyer-process.js', 'dist/adapters/sqlite.js', 'dist/reference-server/server.js']) {
    assert.ok(files.has(needed), `${needed} is shipped`);
  }
  assert.ok(![...files].some((path) => path.startsWith('dist/test/') || path.startsWith('test/')), 'no tests shipped');
  const maps = [...files].filter((path) => path.endsWith('.js.map'));
  assert.ok(maps.length > 50, `${maps.length} source maps`);
  for (const map of maps) {
    for (const source of (JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as { sources: string[] }).sources) {
      const path = normalize(join(dirname(map), source));
      assert.ok(files.has(path), `${map} points at ${path}, which must be shipped`);
    }
  }
});
