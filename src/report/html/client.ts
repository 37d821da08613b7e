/// <reference lib="dom" />
// The script inside the HTML report. template.ts embeds `reportClient` by its
// source text and calls it once: nothing outside its body exists in the page,
// so every helper is nested in it. It reads the JSON that data.ts made, builds
// the check table and draws the charts with uPlot (inlined beside it), and
// leaves `window.flashsaleReport` for people's consoles and the browser test.

/* eslint-disable @typescript-eslint/no-explicit-any -- the data is data.ts's JSON and uPlot's API is untyped here */
export function reportClient(): void {
  const uPlot = (window as any).uPlot;
  const page = JSON.parse(document.getElementById('report-data')!.textContent!);
  const COLOURS: Record<string, string> = {
    bought: '#2e9d4a',
    sold_out: '#3b78c4',
    refused: '#d9a400',
    rejected: '#8a8a8a',
    http_5xx: '#9b59b6',
    timeout: '#e67e22',
    conn_reset: '#8e44ad',
    conn_refused: '#5d6d7e',
    bad_body: '#a0522d',
    unrecorded: '#444444',
    all: '#222222',
  };
  const ANOMALY = '#e0003c';
  // timelineX: the time range the timeline shows now (uPlot applies a new scale at its next commit, not at once).
  const report: any = { ready: false, renderMs: null, charts: [], selected: null, zoomTo, timelineX: (s: number) => ({ min: sections[s].timeline.scales.x.min, max: sections[s].timeline.scales.x.max }) };
  (window as any).flashsaleReport = report;
  const sections: any[] = [];

  for (const [s, data] of page.sections.entries()) sections.push(renderSection(data, s));
  // Two frames: the first paints what was built, the second starts after it.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      report.renderMs = Math.round(performance.now());
      report.ready = true;
      document.body.dataset.ready = 'true';
    }),
  );

  function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string | null>): HTMLElement {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) if (child !== null) node.append(child);
    return node;
  }

  function renderSection(data: any, s: number): any {
    const root = el('section', { class: `run ${data.status.toLowerCase()}`, id: `s${s}` });
    document.getElementById('report')!.append(root);
    root.append(
      el('h2', {}, el('span', { class: `badge ${data.status.toLowerCase()}` }, data.status), ' ', data.title),
      el('p', { class: 'headline' }, data.headline),
    );
    root.append(checkTable(data, s));
    root.append(inputsList(data.inputs));
    const section: any = { data, charts: [], timeline: null, selected: null, syncing: false };
    const width = Math.max(600, Math.min(1400, root.clientWidth || 1100));
    const tl = data.timeline;
    root.append(el('h3', {}, 'Timeline of operations by attacking process'));
    root.append(
      el('p', { class: 'note' }, `each bar is one request, from invoke to complete, coloured by outcome; red outlines are the witnesses of failed checks. ${tl.shown === tl.total ? `All ${tl.total} operations drawn.` : `${tl.shown} of ${tl.total} operations drawn: an even sample of each common outcome, every operation of a rare one, every witness.`} Drag to zoom, double-click to zoom out, click a bar for its details.`),
    );
    root.append(legend(tl.ops.outcome, page.outcomes));
    const timelineBox = el('div', { class: 'chart timeline', id: `s${s}-timeline` });
    root.append(timelineBox);
    const selectedBox = el('pre', { class: 'selected', id: `s${s}-selected` }, 'no operation selected');
    root.append(selectedBox);
    section.selectedBox = selectedBox;
    section.timeline = timelineChart(section, timelineBox, width);

    const over = data.overTime;
    const outcomes = Object.keys(over.throughput);
    /** A heading (and a note) over an empty chart box. */
    const chartBox = (name: string, heading: string, note?: string) => {
      root.append(el('h3', {}, heading));
      if (note) root.append(el('p', { class: 'note' }, note));
      const box = el('div', { class: 'chart', id: `s${s}-${name}` });
      root.append(box);
      return box;
    };
    /** Options of a chart over the run's time axis, the faults shaded. */
    const overTime = (height: number, y: any, yLabel: string, series: any[], plugins: any[] = []) => ({
      width,
      height,
      scales: { x: { time: false }, y },
      axes: [{ label: 'ms since the first request' }, { label: yLabel, size: 80 }],
      series: [{ label: 'ms' }, ...series],
      plugins: [faultPlugin(data.faults), ...plugins],
    });

    addChart(
      section,
      'throughput',
      chartBox('throughput', 'Throughput over time, per outcome'),
      overTime(
        220,
        { range: (_u: any, _min: number, max: number) => [0, Math.max(1, max) * 1.05] },
        'answers / s',
        outcomes.map((o) => ({ label: o, stroke: COLOURS[o], width: 1.5, paths: uPlot.paths.stepped({ align: 1 }) })),
      ),
      [over.t, ...outcomes.map((o) => over.throughput[o])],
      true,
    );

    const latencySeries = outcomes.flatMap((o) => [
      { label: `${o} p50`, stroke: COLOURS[o], width: 2, spanGaps: false },
      { label: `${o} p99`, stroke: COLOURS[o], width: 1.5, dash: [6, 4], spanGaps: false },
    ]);
    addChart(
      section,
      'latency',
      chartBox('latency', 'Latency over time, per outcome (p50 solid, p99 dashed)'),
      overTime(220, { distr: 3 }, 'latency, ms', latencySeries),
      [over.t, ...outcomes.flatMap((o) => [over.latency[o].p50, over.latency[o].p99])],
      true,
    );

    const curve = data.percentiles;
    const curveNames = Object.keys(curve.series);
    const percent = (v: number) => `${+(100 - 100 / v).toPrecision(6)}%`;
    const decades = (max: number) => Array.from({ length: Math.floor(Math.log10(Math.max(1, max))) + 1 }, (_, k) => 10 ** k);
    addChart(section, 'percentiles', chartBox('percentiles', 'Latency percentile curve (HdrHistogram)'), {
      width,
      height: 260,
      scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [
        // Ticks at 0, 90, 99, 99.9 %…: a log scale's own splits (2, 3 … 9 between) would crowd the axis.
        { label: 'percentile', splits: (u: any) => decades(u.scales.x.max), values: (_u: any, splits: number[]) => splits.map(percent) },
        { label: 'latency, ms', size: 80 },
      ],
      series: [
        { label: 'percentile', value: (_u: any, v: number) => (v == null ? '' : percent(v)) },
        ...curveNames.map((name) => ({ label: `${name} (${curve.counts[name]})`, stroke: COLOURS[name] ?? '#222', width: name === 'all' ? 2.5 : 1.5 })),
      ],
    }, [curve.percentiles.map((p: number) => 1 / (1 - p / 100)), ...curveNames.map((name) => curve.series[name])], false);

    const stock = data.stock;
    const stockHeading = "Remaining stock: what the answers said, against the ledger's stock_after";
    if (stock.total === 0) {
      root.append(el('h3', {}, stockHeading), el('p', { class: 'note' }, 'no ok answer reported a remaining stock'));
    } else {
      const note = `${stock.shown === stock.total ? `all ${stock.total}` : `${stock.shown} of ${stock.total}`} ok answers, at their completion; ${stock.joined ? `each beside its ledger row's stock_after (joined on ${stock.joined}): a ledger dot apart from its answer is a D4 mismatch` : 'no ledger with stock_after was read'}. Witness answers are circled red.`;
      // Dots drawn by dotPlugin: one per answer, no line between them.
      const dots = (colour: string) => ({ stroke: colour, fill: colour, paths: () => null, points: { show: false } });
      addChart(
        section,
        'stock',
        chartBox('stock', stockHeading, note),
        overTime(240, {}, 'remaining stock', [{ label: 'answer: remaining', ...dots('#2e9d4a') }, { label: 'ledger: stock_after', ...dots('#3b78c4') }], [dotPlugin([5, 3]), markPlugin(stock.witnesses)]),
        [stock.t, stock.reported, stock.ledger],
        true,
      );
    }
    if (data.faults.length > 0) {
      root.append(el('h3', {}, 'Faults'));
      root.append(
        el('ul', {}, ...data.faults.map((f: any) => el('li', {}, `${f.name}${f.detail ? ` (${f.detail})` : ''}: ${f.startMs.toFixed(1)}–${f.endMs.toFixed(1)} ms${f.error ? `, failed: ${f.error}` : ''}`))),
      );
    }
    return section;
  }

  function checkTable(data: any, s: number): HTMLElement {
    const body = el('tbody');
    for (const check of data.checks) {
      const result = check.status === 'FAIL' ? `FAIL ×${check.violations}` : check.waived ? 'UNKNOWN (waived)' : check.status;
      const undecided = check.status === 'UNKNOWN' || check.status === 'N/A';
      const detail = undecided ? `${check.reason ?? ''}${check.summary ? ` (${check.summary})` : ''}` : check.summary;
      const status = check.status === 'N/A' ? 'na' : check.status.toLowerCase();
      body.append(el('tr', { class: `check ${status}`, 'data-check': check.id }, el('td', {}, `${check.id} ${check.name}`), el('td', { class: 'result' }, result), el('td', {}, detail)));
      if (check.witnesses.length === 0) continue;
      const list = el('ol', { class: 'witnesses' });
      for (const witness of check.witnesses) {
        const item = el('li', {}, el('div', { class: 'message' }, witness.message));
        for (const operation of witness.operations) {
          if (operation.op === null) {
            item.append(el('div', { class: 'op' }, operation.text, el('span', { class: 'note' }, ' (not on the timeline: no answer time recorded)')));
            continue;
          }
          const link = el('a', { href: `#s${s}-timeline`, class: 'witness-link', 'data-section': String(s), 'data-op': String(operation.op) }, operation.text);
          link.addEventListener('click', (event) => {
            event.preventDefault();
            zoomTo(s, operation.op);
          });
          item.append(el('div', { class: 'op' }, link));
        }
        for (const row of witness.rows) item.append(el('div', { class: 'row' }, `ledger: ${row}`));
        list.append(item);
      }
      body.append(el('tr', { class: `witness-row ${status}` }, el('td', { colspan: '3' }, list)));
    }
    return el('table', { class: 'checks' }, el('thead', {}, el('tr', {}, el('th', {}, 'check'), el('th', {}, 'result'), el('th', {}, 'detail'))), body);
  }

  function inputsList(inputs: Record<string, unknown>): HTMLElement {
    const rows = Object.entries(inputs)
      .filter(([, value]) => value !== null && typeof value !== 'object')
      .map(([key, value]) => el('tr', {}, el('th', {}, key), el('td', {}, String(value))));
    const outcomes = inputs.outcomes as Record<string, number> | undefined;
    if (outcomes) rows.push(el('tr', {}, el('th', {}, 'outcomes'), el('td', {}, Object.entries(outcomes).map(([k, v]) => `${k} ${v}`).join(', '))));
    return el('details', {}, el('summary', {}, 'what was audited'), el('table', { class: 'inputs' }, el('tbody', {}, ...rows)));
  }

  function legend(outcomeColumn: number[], names: string[]): HTMLElement {
    const present = [...new Set(outcomeColumn)].sort((a, b) => a - b).map((i) => names[i]!);
    const box = el('div', { class: 'legend' });
    for (const name of present) box.append(el('span', {}, el('i', { style: `background:${COLOURS[name]}` }), name));
    box.append(el('span', {}, el('i', { style: `background:none;outline:2px solid ${ANOMALY}` }), 'witness'));
    return box;
  }

  /** A uPlot chart whose x scale follows the section's other time charts when zoomed. */
  function addChart(section: any, name: string, box: HTMLElement, opts: any, data: any[], timeAxis: boolean): any {
    if (timeAxis) {
      opts.hooks = { ...(opts.hooks ?? {}), setScale: [(u: any, key: string) => syncX(section, u, key)] };
    }
    const chart = new uPlot(opts, data, box);
    chart.timeAxis = timeAxis;
    section.charts.push(chart);
    report.charts.push({ section: section.data.title, name, series: opts.series.length - 1, points: data[0].length, canvas: chart.ctx.canvas });
    return chart;
  }

  function syncX(section: any, from: any, key: string): void {
    if (key !== 'x' || section.syncing) return;
    section.syncing = true;
    const { min, max } = from.scales.x;
    for (const chart of section.charts) if (chart !== from && chart.timeAxis) chart.setScale('x', { min, max });
    section.syncing = false;
  }

  /** A plugin that draws on the plot area after uPlot, clipped to it. */
  function drawPlugin(draw: (u: any, ctx: CanvasRenderingContext2D, bbox: any) => void): any {
    const hook = (u: any) => {
      const { ctx, bbox } = u;
      ctx.save();
      ctx.beginPath();
      ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
      ctx.clip();
      draw(u, ctx, bbox);
      ctx.restore();
    };
    return { hooks: { draw: [hook] } };
  }

  /** Fault records as shaded spans across the plot, named at the top. */
  function faultPlugin(faults: any[]): any {
    return drawPlugin((u, ctx, bbox) => {
      for (const fault of faults) {
        const x0 = u.valToPos(fault.startMs, 'x', true);
        const x1 = Math.max(u.valToPos(fault.endMs, 'x', true), x0 + 2 * devicePixelRatio);
        ctx.fillStyle = 'rgba(230, 126, 34, 0.18)';
        ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
        ctx.fillStyle = '#b35900';
        ctx.font = `${11 * devicePixelRatio}px sans-serif`;
        ctx.textAlign = 'left';
        ctx.fillText(`fault: ${fault.name}`, x0 + 3, bbox.top + 12 * devicePixelRatio);
      }
    });
  }

  /** Each series drawn as dots of its colour (sizes in CSS px, per series): a scatter, as uPlot leaves to plugins. */
  function dotPlugin(sizes: number[]): any {
    return drawPlugin((u, ctx) => {
      for (const [k, size] of sizes.entries()) {
        const series = u.series[k + 1];
        if (!series.show) continue;
        const ys = u.data[k + 1];
        const d = size * devicePixelRatio;
        ctx.fillStyle = series._fill ?? series.fill;
        for (let i = 0; i < ys.length; i++) {
          if (ys[i] == null) continue;
          ctx.fillRect(u.valToPos(u.data[0][i], 'x', true) - d / 2, u.valToPos(ys[i], 'y', true) - d / 2, d, d);
        }
      }
    });
  }

  /** Red circles around the given points of series 1 (the stock chart's witness answers). */
  function markPlugin(indices: number[]): any {
    return drawPlugin((u, ctx) => {
      ctx.strokeStyle = ANOMALY;
      ctx.lineWidth = 2 * devicePixelRatio;
      for (const i of indices) {
        ctx.beginPath();
        ctx.arc(u.valToPos(u.data[0][i], 'x', true), u.valToPos(u.data[1][i], 'y', true), 7 * devicePixelRatio, 0, 2 * Math.PI);
        ctx.stroke();
      }
    });
  }

  function timelineChart(section: any, box: HTMLElement, width: number): any {
    const tl = section.data.timeline;
    const ops = tl.ops;
    const count = ops.invoke.length;
    const rows = Math.max(1, tl.rows);
    const height = Math.max(240, Math.min(560, rows * 6 + 60));
    // Drawn by outcome, one fill colour at a time; witnesses last, on top.
    const byOutcome = new Map<number, number[]>();
    const witnesses: number[] = [];
    for (let i = 0; i < count; i++) {
      if (ops.witness[i]) witnesses.push(i);
      const list = byOutcome.get(ops.outcome[i]) ?? [];
      list.push(i);
      byOutcome.set(ops.outcome[i], list);
    }
    const dpr = devicePixelRatio;
    const draw = (u: any, ctx: CanvasRenderingContext2D, bbox: any) => {
      const rowH = bbox.height / rows;
      const barH = Math.max(1, rowH * 0.8);
      const y = (i: number) => bbox.top + ops.lane[i] * rowH;
      const x = (v: number) => u.valToPos(v, 'x', true);
      ctx.strokeStyle = '#ccc';
      ctx.fillStyle = '#666';
      ctx.font = `${10 * dpr}px sans-serif`;
      // uPlot leaves the context centred for its axis labels.
      ctx.textAlign = 'left';
      ctx.textBaseline = 'alphabetic';
      for (const band of tl.bands) {
        const top = bbox.top + band.first * rowH;
        ctx.beginPath();
        ctx.moveTo(bbox.left, top);
        ctx.lineTo(bbox.left + bbox.width, top);
        ctx.stroke();
        ctx.fillText(`process ${band.process}`, bbox.left + 4, top + 11 * dpr);
      }
      const min = u.scales.x.min;
      const max = u.scales.x.max;
      for (const [outcome, list] of byOutcome) {
        ctx.fillStyle = COLOURS[page.outcomes[outcome]] ?? '#000';
        for (const i of list) {
          if (ops.complete[i] < min || ops.invoke[i] > max) continue;
          const x0 = x(ops.invoke[i]);
          ctx.fillRect(x0, y(i), Math.max(dpr, x(ops.complete[i]) - x0), barH);
        }
      }
      ctx.lineWidth = 2 * dpr;
      for (const i of witnesses) {
        const x0 = x(ops.invoke[i]);
        const w = Math.max(4 * dpr, x(ops.complete[i]) - x0);
        const h = Math.max(4 * dpr, barH);
        ctx.strokeStyle = ANOMALY;
        ctx.strokeRect(x0 - dpr, y(i) - dpr, w + 2 * dpr, h + 2 * dpr);
        // A tick above the plot: a one-pixel bar among thousands is still found.
        ctx.fillStyle = ANOMALY;
        ctx.beginPath();
        ctx.moveTo(x0, bbox.top + 8 * dpr);
        ctx.lineTo(x0 - 5 * dpr, bbox.top);
        ctx.lineTo(x0 + 5 * dpr, bbox.top);
        ctx.fill();
      }
      if (section.selected !== null) {
        const i = section.selected;
        const x0 = x(ops.invoke[i]);
        ctx.strokeStyle = '#111';
        ctx.lineWidth = 3 * dpr;
        ctx.setLineDash([4 * dpr, 3 * dpr]);
        ctx.strokeRect(x0 - 4 * dpr, y(i) - 4 * dpr, Math.max(4 * dpr, x(ops.complete[i]) - x0) + 8 * dpr, Math.max(4 * dpr, barH) + 8 * dpr);
      }
    };
    const opts = {
      width,
      height,
      legend: { show: false },
      cursor: { y: false, points: { show: false }, drag: { x: true, y: false, setScale: true } },
      scales: { x: { time: false }, y: { range: [0, rows] } },
      axes: [{ label: 'ms since the first request' }, { show: false }],
      series: [{}, { stroke: 'transparent' }],
      plugins: [drawPlugin(draw), faultPlugin(section.data.faults)],
    };
    const xs = [0, Math.max(section.data.durationMs, 1e-3)];
    const chart = addChart(section, 'timeline', box, opts, [xs, [null, null]], true);
    chart.over.addEventListener('click', (event: MouseEvent) => {
      const rect = chart.over.getBoundingClientRect();
      const value = chart.posToVal(event.clientX - rect.left, 'x');
      const lane = Math.floor(((event.clientY - rect.top) / rect.height) * rows);
      const slack = (chart.scales.x.max - chart.scales.x.min) / 200;
      let found = -1;
      for (let i = 0; i < count; i++) {
        if (ops.lane[i] === lane && ops.invoke[i] - slack <= value && value <= ops.complete[i] + slack) found = i;
      }
      if (found >= 0) select(section, found);
    });
    return chart;
  }

  function describe(tl: any, i: number): string {
    if (tl.descriptions[i] !== undefined) return `witness: ${tl.descriptions[i]}`;
    const ops = tl.ops;
    const parts = [
      `${page.outcomes[ops.outcome[i]]}`,
      ops.status[i] !== null ? `status ${ops.status[i]}` : null,
      ops.remaining[i] !== null ? `remaining ${ops.remaining[i]}` : null,
      `process ${ops.process[i]}`,
      `invoked ${ops.invoke[i].toFixed(3)} ms, completed ${ops.complete[i].toFixed(3)} ms (${(ops.complete[i] - ops.invoke[i]).toFixed(3)} ms)`,
      `[${tl.files[ops.file[i]]}:${ops.line[i]}]`,
    ];
    return parts.filter((part) => part !== null).join('; ');
  }

  function select(section: any, i: number): void {
    section.selected = i;
    section.selectedBox.textContent = describe(section.data.timeline, i);
    section.timeline.redraw(false);
  }

  /** Scrolls to the timeline, zooms onto operation `op` (a timeline column) and marks it. */
  function zoomTo(s: number, op: number): void {
    const section = sections[s];
    const ops = section.data.timeline.ops;
    const span = ops.complete[op] - ops.invoke[op];
    const pad = Math.max(span * 0.5, section.data.durationMs * 0.002, 0.01);
    // Padded, but never past the run's ends: "ms since the first request" has no negative time.
    section.timeline.setScale('x', {
      min: Math.max(ops.invoke[op] - pad, Math.min(0, ops.invoke[op])),
      max: Math.min(ops.complete[op] + pad, Math.max(section.data.durationMs, ops.complete[op])),
    });
    select(section, op);
    report.selected = { section: s, op, text: section.selectedBox.textContent, invoke: ops.invoke[op], complete: ops.complete[op], durationMs: section.data.durationMs };
    document.querySelectorAll('.witness-link.active').forEach((link) => link.classList.remove('active'));
    document.querySelectorAll(`.witness-link[data-section="${s}"][data-op="${op}"]`).forEach((link) => link.classList.add('active'));
    section.timeline.root.parentElement.scrollIntoView({ block: 'center' });
  }
}
