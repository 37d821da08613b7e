// A history that knows whether it is whole: the end line after a normal run
// and after Ctrl-C, the fault lines of --fault, and the summary's word on a
// run whose real-time checks have nothing to compare.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAttack } from '../src/attack/coordinator.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { historyLines, opLines, show } from './helpers/history-lines.js';
import { closeNow, listenOnLoopback } from './helpers/loopback.js';

const scratch = mkdtempSync(join(tmpdir(), 'flashsale-attack-end-'));

/**
 * A shop with plenty of stock. `hold` requests are kept unanswered until
 * that many are waiting, then all are answered at once (1: answer at once);
 * `answerFirst`, when set, answers only that many buyers and hangs the rest.
 */
function shop(): { server: Server; set(options: { hold?: number; answerFirst?: number }): void; hanging: ServerResponse[] } {
  let hold = 1;
  let answerFirst = Infinity;
  let answered = 0;
  let stock = 1_000_000;
  let waiting: ServerResponse[] = [];
  const hanging: ServerResponse[] = [];
  const answer = (response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ success: true, purchase_id: stock, remaining_stock: --stock }));
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.on('end', () => {
      if (answered >= answerFirst) return void hanging.push(response);
      answered += 1;
      waiting.push(response);
      if (waiting.length >= hold) {
        for (const held of waiting) answer(held);
        waiting = [];
      }
    });
  });
  return {
    server,
    hanging,
    set(options) {
      hold = options.hold ?? 1;
      answerFirst = options.answerFirst ?? Infinity;
      answered = 0;
    },
  };
}

describe('attack: the end line and the fault lines', () => {
  const target = shop();
  let url: string;
  before(async () => {
    url = await listenOnLoopback(target.server);
  });
  after(() => closeNow(target.server));

  test('a normal run ends with {"kind":"end","planned":N,"recorded":N,"reason":"done"}', async () => {
    target.set({});
    const history = join(scratch, 'done.jsonl');
    const run = await runCli(['attack', '--target', url, '--buyers', '200', '--concurrency', '20', '--processes', '2', '--history', history, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const lines = historyLines(history);
    assert.equal(lines[0]!.kind, 'meta');
    assert.deepEqual(lines.at(-1), { kind: 'end', planned: 200, recorded: 200, reason: 'done' });
    assert.equal(opLines(lines).length, 200);
    assert.equal(lines.filter((line) => line.kind === 'end').length, 1);
    assert.equal(JSON.parse(run.stdout).end_reason, 'done');
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) test(`${signal} of attack: what completed is flushed, then an end line that says interrupted`, async () => {
    target.set({ answerFirst: 20 });
    const history = join(scratch, `interrupted-${signal}.jsonl`);
    const attack = spawnCli(['attack', '--target', url, '--buyers', '100', '--concurrency', '10', '--processes', '2', '--timeout', '30s', '--history', history, '--json'], {
      env: { CI: 'true' },
      timeoutMs: 30_000,
    });
    for (let wait = 0; target.hanging.length < 10 && wait < 750; wait++) await sleep(20);
    assert.equal(target.hanging.length, 10, `the attack did not get stuck as planned: ${attack.output().stderr}`);
    attack.child.kill(signal);
    const { code, stdout, stderr } = await attack.done;
    for (const response of target.hanging.splice(0)) response.destroy();

    assert.equal(code, 130, stderr);
    const lines = historyLines(history);
    // 20 answered, 10 cut after being sent (unknown), 70 never sent.
    assert.deepEqual(lines.at(-1), { kind: 'end', planned: 100, recorded: 30, reason: 'interrupted' });
    assert.equal(opLines(lines).length, 30);
    assert.equal(JSON.parse(stdout).end_reason, 'interrupted');
  });

  test('--fault runs each command once at its share, records it, and a failing one does not stop the attack', async () => {
    target.set({});
    const history = join(scratch, 'faults.jsonl');
    const marks = join(scratch, 'fault-marks.txt');
    const buyers = 400;
    const run = await runCli([
      'attack', '--target', url, '--buyers', String(buyers), '--concurrency', '8', '--processes', '2', '--history', history, '--json',
      '--fault', `echo ran >> '${marks}'`, '--fault-at', '40%',
      '--fault', 'echo going down >&2; exit 3', '--fault-at', '60%',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readFileSync(marks, 'utf8'), 'ran\n', 'the command ran exactly once');
    assert.match(run.stderr, /going down/, "a fault's output goes to stderr");
    assert.equal(run.stdout.trim().split('\n').length, 1, 'stdout keeps only the JSON line');

    const lines = historyLines(history);
    const faults = lines.filter((line) => line.kind === 'fault');
    assert.equal(faults.length, 2, lines.filter((line) => line.kind !== 'op').map(show).join('\n'));
    const [first, second] = [faults.find((fault) => /echo ran/.test(fault.detail))!, faults.find((fault) => /exit 3/.test(fault.detail))!];
    assert.equal(first.name, 'command');
    assert.equal(first.error, null);
    assert.equal(second.error, 'exited with code 3');
    const ops = opLines(lines);
    for (const [fault, share] of [[first, 0.4], [second, 0.6]] as const) {
      assert.ok(fault.t_start <= fault.t_end, show(fault));
      const answeredBefore = ops.filter((op) => op.t_cmp <= fault.t_start).length;
      assert.ok(answeredBefore >= share * buyers, `${fault.detail}: started after ${answeredBefore} of ${buyers} answers`);
    }
    assert.deepEqual(lines.at(-1), { kind: 'end', planned: buyers, recorded: buyers, reason: 'done' }, 'the end line comes after the fault lines');
    const summary = JSON.parse(run.stdout);
    assert.deepEqual(summary.faults.map((fault: { ran: boolean; error: string | null }) => [fault.ran, fault.error]), [[true, null], [true, 'exited with code 3']]);
  });

  test('AttackOptions.faults, as prove passes them: a throwing fault is recorded with its error and the attack goes on', async () => {
    target.set({});
    const history = join(scratch, 'api-faults.jsonl');
    let runs = 0;
    const summary = await runAttack({
      target: url, buyers: 100, concurrency: 5, processes: 1, timeoutMs: 5000, quantity: 1, headers: [], method: 'POST',
      okStatus: [200, 201], soldOutStatus: [410, 409], remainingField: 'remaining_stock', purchaseIdField: 'purchase_id', historyPath: history,
      faults: [
        { at: 0.5, name: 'kill', detail: 'a fault that throws', run: async () => { runs += 1; throw new Error('no such process'); } },
        { at: 0.999, name: 'pause', detail: 'its share is the 100th buyer', run: async () => { runs += 1; } },
      ],
    });
    assert.equal(runs, 2, 'each ran once');
    const faults = historyLines(history).filter((line) => line.kind === 'fault');
    assert.deepEqual(faults.map((fault) => [fault.name, fault.detail, fault.error]), [['kill', 'a fault that throws', 'no such process'], ['pause', 'its share is the 100th buyer', null]]);
    assert.equal(summary.end_reason, 'done');
    assert.deepEqual(historyLines(history).at(-1), { kind: 'end', planned: 100, recorded: 100, reason: 'done' });
  });
});

describe('attack: a run whose real-time checks see nothing says so', () => {
  const target = shop();
  let url: string;
  before(async () => {
    url = await listenOnLoopback(target.server);
  });
  after(() => closeNow(target.server));

  const HINT = /real-time checks \(H4, H5\) have nothing to compare: every request was sent before the first answer came;\n.*--concurrency \d+.*--rate/;

  test('every request sent before the first answer: one line, and how to get a run that does', async () => {
    // The server answers nobody until all 40 are waiting: no answer can precede any request.
    target.set({ hold: 40 });
    const run = await runCli(['attack', '--target', url, '--buyers', '40', '--processes', '2', '--history', join(scratch, 'no-overlap.jsonl')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, HINT);
    assert.equal(run.stdout.split('real-time checks').length, 2, 'said once');
    const json = await runCli(['attack', '--target', url, '--buyers', '40', '--processes', '2', '--history', join(scratch, 'no-overlap-json.jsonl'), '--json']);
    assert.equal(JSON.parse(json.stdout).realtime_overlap, false);
  });

  test('buyers that arrive while others are answered: no such line', async () => {
    target.set({ hold: 1 });
    const run = await runCli(['attack', '--target', url, '--buyers', '40', '--concurrency', '2', '--processes', '1', '--history', join(scratch, 'overlap.jsonl')]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /real-time checks/);
  });
});
