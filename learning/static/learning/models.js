// The models page: versions, runs, shadow comparison and drift, with the managers' actions.
// Every piece of data is written with .text(), never as HTML.
import { getJson, postJson } from '/static/frontend/api.js';
import { countAxis } from '/static/frontend/charts/format.js';

const d3 = window.d3;
const num = (v, digits = 3) => (v === null || v === undefined ? '—' : Number(v).toFixed(digits));
const when = (v) => (v ? v.replace('T', ' ').slice(0, 16) : '—');
const statusLine = d3.select('#status');
const say = (message) => statusLine.text(message);

async function act(label, call) {
  say(`${label}…`);
  try {
    await call();
    say(`${label}: done.`);
  } catch (error) {
    say(`${label} failed: ${error.message}`);
  }
  await refresh();
}

function drawBanner(alerts) {
  const banner = d3.select('#drift-banner').attr('hidden', alerts.length ? null : true);
  banner.selectAll('*').remove();
  alerts.forEach((alert) => {
    const line = banner.append('p');
    const drifted = Object.entries(alert.drifted).map(([name, psi]) => `${name} ${num(psi, 2)}`).join(', ');
    line.append('strong').text(`Drift on ${alert.model_version}: `);
    line.append('span').text(`PSI above ${num(alert.threshold, 2)} for ${drifted}. `);
    line.append('span').text(alert.retraining_requested ? 'A retraining was queued. ' : '');
    line.append('button').attr('type', 'button').text('Acknowledge')
      .on('click', () => act('Acknowledging the alert', () => postJson(`/api/drift/alerts/${alert.id}/acknowledge`, {})));
  });
}

function drawVersions(versions) {
  const rows = d3.select('#versions tbody').selectAll('tr').data(versions, (d) => d.id).join('tr')
    .attr('class', (d) => `version-${d.status}`);
  rows.selectAll('td').remove();
  rows.append('td').text((d) => d.name);
  rows.append('td').text((d) => d.status);
  rows.append('td').text((d) => num(d.metrics.average_precision));
  rows.append('td').text((d) => num(d.metrics.roc_auc));
  rows.append('td').text((d) => when(d.created_at));
  rows.append('td').text((d) => when(d.promoted_at));
  rows.append('td').text((d) => (d.shadow ? 'scoring in shadow' : ''));
  const actions = rows.append('td');
  actions.filter((d) => d.status !== 'champion').append('button').attr('type', 'button').attr('class', 'promote')
    .text('Promote')
    .on('click', (event, d) => act(`Promoting ${d.name}`, () => postJson(`/api/models/${d.id}/promote`, {})));
  actions.filter((d) => d.status === 'challenger').append('button').attr('type', 'button').attr('class', 'shadow')
    .text((d) => (d.shadow ? 'Stop shadow' : 'Shadow'))
    .on('click', (event, d) => act(`${d.shadow ? 'Stopping' : 'Starting'} shadow scoring`,
      () => postJson(`/api/models/${d.id}/shadow`, { active: !d.shadow })));
}

function drawShadow(versions) {
  const box = d3.select('#shadow');
  const compared = versions.filter((d) => d.shadow_comparison && d.shadow_comparison.events);
  if (!compared.length) return;
  box.selectAll('*').remove();
  compared.forEach((d) => {
    const c = d.shadow_comparison;
    box.append('h3').text(`${d.name} against the champion on ${c.events} live events`);
    const table = box.append('table').attr('class', 'cases');
    table.append('thead').append('tr').selectAll('th')
      .data(['Champion tier', 'Events', 'Shadow put in the same tier']).join('th').attr('scope', 'col').text((t) => t);
    table.append('tbody').selectAll('tr').data(Object.entries(c.agreement)).join('tr').call((tr) => {
      tr.append('td').text(([tier]) => tier);
      tr.append('td').text(([, a]) => a.events);
      tr.append('td').text(([, a]) => (a.same_tier === null ? '—' : `${Math.round(a.same_tier * 100)}%`));
    });
    const labeled = c.labeled;
    box.append('p').text(labeled.events
      ? `On ${labeled.events} labeled events: average precision champion ${num(labeled.champion.average_precision)}, shadow ${num(labeled.shadow.average_precision)}.`
      : 'None of the shadowed events has a label yet.');
  });
}

function drawRuns(runs) {
  const rows = d3.select('#runs tbody').selectAll('tr').data(runs, (d) => d.id).join('tr')
    .attr('class', (d) => `run-${d.status}`);
  rows.selectAll('td').remove();
  rows.append('td').text((d) => when(d.requested_at));
  rows.append('td').text((d) => d.trigger);
  rows.append('td').text((d) => d.status);
  rows.append('td').text((d) => d.challenger || '—');
  rows.append('td').text((d) => `${num(d.champion_metrics.average_precision)} / ${num(d.challenger_metrics.average_precision)}`);
  rows.append('td').text((d) => `${num(d.champion_metrics.brier, 4)} / ${num(d.challenger_metrics.brier, 4)}`);
  rows.append('td').attr('class', 'reason').text((d) => d.reason);
}

function drawDrift(check) {
  if (!check) return;
  d3.select('#drift-summary').text(
    `${check.model_version}: ${check.rows} scores from ${when(check.window_start)} to ${when(check.window_end)}; ` +
    `score PSI ${num(check.score_psi, 3)}, alert threshold ${num(check.threshold, 2)}.`);
  const data = Object.entries(check.psi).map(([name, psi]) => ({ name, psi })).sort((a, b) => b.psi - a.psi);
  const width = 640;
  const bar = 18;
  const x = d3.scaleLinear().domain([0, Math.max(d3.max(data, (d) => d.psi) || 0, check.threshold * 1.5)])
    .range([0, width - 260]);
  const svg = d3.select('#drift-chart').selectAll('svg').data([null]).join('svg')
    .attr('viewBox', `0 0 ${width} ${data.length * (bar + 4) + 10}`).attr('role', 'img')
    .attr('aria-label', 'PSI per feature');
  const rows = svg.selectAll('g.row').data(data, (d) => d.name).join((enter) => {
    const g = enter.append('g').attr('class', 'row');
    g.append('text').attr('class', 'label').attr('x', 0).attr('y', bar * 0.75);
    g.append('rect').attr('x', 200).attr('height', bar).attr('rx', 2);
    g.append('text').attr('class', 'value').attr('y', bar * 0.75);
    return g;
  });
  rows.attr('transform', (d, i) => `translate(0,${i * (bar + 4)})`);
  rows.select('text.label').text((d) => d.name);
  rows.select('rect').attr('width', (d) => x(d.psi)).attr('class', (d) => (d.psi > check.threshold ? 'drifted' : 'stable'));
  rows.select('text.value').attr('x', (d) => 206 + x(d.psi)).text((d) => num(d.psi, 3));
  svg.selectAll('line.threshold').data([check.threshold]).join('line').attr('class', 'threshold')
    .attr('x1', (t) => 200 + x(t)).attr('x2', (t) => 200 + x(t)).attr('y1', 0).attr('y2', data.length * (bar + 4));
}

const pct = (v, digits = 1) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(digits)} %`);
const BAND_SCORES = { high: '80–100', medium: '50–79', low: '0–49' };

function drawTierBanner(tiers) {
  const banner = d3.select('#tier-banner').attr('hidden', tiers.alert ? null : true);
  banner.selectAll('*').remove();
  if (!tiers.alert) return;
  const a = tiers.alert;
  const line = banner.append('p');
  line.append('strong').text(`High tier over capacity on ${a.model_version}: `);
  line.append('span').text(
    `${a.high} of ${a.events} live events were high in the hour from ${when(a.hour)} — ${a.high * 24} a day at that ` +
    `pace against a capacity of ${a.capacity_per_day} (${a.hours_over} hour${a.hours_over === 1 ? '' : 's'} over). ` +
    'Re-cut the tiers below, or acknowledge. ');
  line.append('button').attr('type', 'button').text('Acknowledge')
    .on('click', () => act('Acknowledging the tier alert', () => postJson(`/api/models/tiers/alerts/${a.id}/acknowledge`, {})));
}

function drawTierBands(tiers) {
  const table = d3.select('#tier-bands').attr('hidden', tiers.bands && tiers.thresholds ? null : true);
  if (!tiers.bands || !tiers.thresholds) return;
  const from = { high: tiers.thresholds.high, medium: tiers.thresholds.medium, low: 0 };
  const rows = ['high', 'medium', 'low'].map((tier) => ({ tier, ...(tiers.bands[tier] || {}) }));
  table.select('tbody').selectAll('tr').data(rows, (d) => d.tier).join('tr')
    .selectAll('td').data((d) => [d.tier, BAND_SCORES[d.tier], num(from[d.tier], 3), pct(d.share, 2),
      d.precision === null || d.precision === undefined ? '—' : pct(d.precision, 1)])
    .join('td').text((d) => d);
}

function drawTierChart(tiers) {
  const data = tiers.hours;
  const box = d3.select('#tier-chart');
  if (!data.length) { box.selectAll('*').remove(); return; }
  // The legend sits in a row above the plot: in the right margin it collided with the alert
  // line's label whenever the busiest hour was near the alert level.
  const width = 760; const height = 214; const m = { top: 28, right: 150, bottom: 26, left: 44 };
  const x = d3.scaleBand().domain(data.map((d) => d.hour)).range([m.left, width - m.right]).padding(0.15);
  const perHour = tiers.capacity_per_day / 24;
  const y = d3.scaleLinear().domain([0, Math.max(d3.max(data, (d) => d.high + d.medium) || 0, perHour * tiers.alert_multiple * 1.2, 1)])
    .nice().range([height - m.bottom, m.top]);
  const svg = box.selectAll('svg').data([null]).join('svg').attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img').attr('aria-label', 'High and medium live events per hour, against capacity');
  const stack = d3.stack().keys(['high', 'medium'])(data);
  svg.selectAll('g.series').data(stack, (s) => s.key).join('g').attr('class', (s) => `series ${s.key}`)
    .selectAll('rect').data((s) => s).join('rect')
    .attr('x', (d) => x(d.data.hour)).attr('width', x.bandwidth())
    .attr('y', (d) => y(d[1])).attr('height', (d) => y(d[0]) - y(d[1]))
    .selectAll('title').data((d) => [d]).join('title')
    .text((d) => `${when(d.data.hour)}: ${d.data.high} high, ${d.data.medium} medium of ${d.data.events} events`);
  const lines = [{ v: perHour, label: `capacity ${perHour.toFixed(1)} / h`, cls: 'capacity' },
    { v: perHour * tiers.alert_multiple, label: `alert ${(perHour * tiers.alert_multiple).toFixed(1)} / h`, cls: 'alert' }];
  svg.selectAll('line.limit').data(lines).join('line').attr('class', (d) => `limit ${d.cls}`)
    .attr('x1', m.left).attr('x2', width - m.right).attr('y1', (d) => y(d.v)).attr('y2', (d) => y(d.v));
  // The alert label above its line, capacity below its own: the two lines can be close.
  svg.selectAll('text.limit').data(lines).join('text').attr('class', 'limit').attr('x', width - m.right + 6)
    .attr('y', (d) => (d.cls === 'alert' ? y(d.v) - 4 : y(d.v) + 11)).text((d) => d.label);
  svg.selectAll('g.y-axis').data([null]).join('g').attr('class', 'y-axis').attr('transform', `translate(${m.left},0)`)
    .call(countAxis(d3.axisLeft(y), y, 4));
  const ticks = data.filter((d, i) => i % 6 === 0).map((d) => d.hour);
  svg.selectAll('g.x-axis').data([null]).join('g').attr('class', 'x-axis')
    .attr('transform', `translate(0,${height - m.bottom})`)
    .call(d3.axisBottom(x).tickValues(ticks).tickFormat((h) => h.slice(11, 16)));
  svg.selectAll('text.time-caption').data([null]).join('text').attr('class', 'time-caption')
    .attr('x', width - m.right + 6).attr('y', height - 8).text('hour (UTC)');
  const legend = [{ key: 'high', label: 'high' }, { key: 'medium', label: 'medium' }];
  svg.selectAll('g.legend').data(legend).join((enter) => {
    const g = enter.append('g').attr('class', (d) => `legend ${d.key}`);
    g.append('rect').attr('width', 10).attr('height', 10);
    g.append('text').attr('x', 14).attr('y', 9);
    return g;
  }).attr('transform', (d, i) => `translate(${m.left + 8 + i * 80},4)`)
    .select('text').text((d) => d.label);
}

function drawTiers(tiers) {
  drawTierBanner(tiers);
  drawTierBands(tiers);
  drawTierChart(tiers);
  const last24 = tiers.hours.slice(-24);
  const high = d3.sum(last24, (d) => d.high);
  const events = d3.sum(last24, (d) => d.events);
  d3.select('#tier-summary').text(tiers.model_version
    ? `${tiers.model_version}: ${high} of ${events} live events were high in the last 24 hours, against a capacity of ` +
      `${tiers.capacity_per_day} a day (alert above ${tiers.alert_multiple}× for an hour). High from probability ` +
      `${num(tiers.thresholds.high, 3)}, medium from ${num(tiers.thresholds.medium, 3)}. The 0–100 risk score is ` +
      'not a percentage: 80 is where high starts; the table says how often each tier was fraud.'
    : 'No champion yet.');
  const preview = tiers.preview;
  d3.select('#recut').attr('disabled', preview ? null : true);
  d3.select('#recut-preview').text(preview
    ? `A re-cut on the last week of live scores (${preview.scores} scores, events over ` +
      `${preview.days < 1 ? `${num(preview.days * 24, 1)} hours` : `${num(preview.days, 1)} days`}) ` +
      'would start high at ' +
      `${num(preview.after.high, 3)}: ${num(preview.high_per_day_after, 1)} high a day` +
      (preview.after.high === preview.before.high ? ' (unchanged)' : ` instead of ${num(preview.high_per_day_before, 1)}`) +
      `; medium from ${num(preview.after.medium, 3)}.`
    : (tiers.preview_unavailable || ''));
  const cuts = d3.select('#tier-cuts').attr('hidden', tiers.cuts.length ? null : true);
  cuts.select('tbody').selectAll('tr').data(tiers.cuts, (d) => d.id).join('tr')
    .selectAll('td').data((d) => [when(d.created_at), d.model_version, d.made_by || 'system', d.scores,
      `${num(d.before.high, 3)} → ${num(d.after.high, 3)}`, `${num(d.before.medium, 3)} → ${num(d.after.medium, 3)}`,
      `${num(d.high_per_day_before, 1)} → ${num(d.high_per_day_after, 1)} (${d.capacity_per_day})`])
    .join('td').text((d) => d);
}

// Per reason code, the tiers the model had given the cases reviewers decided: a fraud reason
// with little high is fraud the model misses; a legitimate reason mostly high, false alarms.
const TIER_KEYS = ['high', 'medium', 'low'];
function drawByReason(body) {
  const reasons = body.reasons;
  const total = d3.sum(reasons, (r) => r.cases);
  d3.select('#by-reason-summary').text(total
    ? `${total} cases cleared or flagged in the last ${body.days} days (each alert's standing decision), by the reason given. `
      + 'A fraud reason with little in the high tier is fraud the model misses; a legitimate one mostly high, its false alarms.'
    : `No cleared or flagged cases in the last ${body.days} days yet.`);
  const table = d3.select('#by-reason').attr('hidden', total ? null : true);
  const verdictWord = { flag: 'Fraud', clear: 'Legitimate' };
  table.select('tbody').selectAll('tr').data(reasons, (r) => `${r.verdict}:${r.code}`).join('tr')
    .selectAll('td').data((r) => [verdictWord[r.verdict], r.label, r.cases, ...TIER_KEYS.map((t) => pct(r.tiers[t], 0)),
      r.median_risk_score === null ? '—' : String(Math.round(r.median_risk_score))])
    .join('td').text((d) => d);
  const box = d3.select('#by-reason-chart');
  if (!total) { box.selectAll('*').remove(); return; }
  const width = 760; const row = 22; const m = { top: 22, right: 20, bottom: 4, left: 320 };
  const height = m.top + reasons.length * row + m.bottom;
  const x = d3.scaleLinear().domain([0, 1]).range([m.left, width - m.right]);
  const svg = box.selectAll('svg').data([null]).join('svg').attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img').attr('aria-label', "Share of each reason's cases in each tier");
  const bars = svg.selectAll('g.reason').data(reasons, (r) => `${r.verdict}:${r.code}`).join((enter) => {
    const g = enter.append('g').attr('class', 'reason');
    g.append('text').attr('class', 'label').attr('x', m.left - 8).attr('y', row * 0.65).attr('text-anchor', 'end');
    return g;
  }).attr('transform', (r, i) => `translate(0,${m.top + i * row})`);
  bars.select('text.label').text((r) => `${verdictWord[r.verdict]}: ${r.label} (${r.cases})`);
  bars.selectAll('rect').data((r) => {
    let at = 0;
    return TIER_KEYS.map((t) => { const d = { tier: t, from: at, share: r.tiers[t], label: r.label }; at += r.tiers[t]; return d; });
  }).join('rect').attr('class', (d) => `series ${d.tier}`)
    .attr('x', (d) => x(d.from)).attr('width', (d) => Math.max(0, x(d.from + d.share) - x(d.from)))
    .attr('y', 2).attr('height', row - 6)
    .selectAll('title').data((d) => [d]).join('title').text((d) => `${d.label}: ${pct(d.share, 0)} ${d.tier}`);
  const legend = TIER_KEYS.map((t) => ({ key: t }));
  svg.selectAll('g.legend').data(legend).join((enter) => {
    const g = enter.append('g').attr('class', (d) => `legend ${d.key}`);
    g.append('rect').attr('width', 10).attr('height', 10);
    g.append('text').attr('x', 14).attr('y', 9);
    return g;
  }).attr('transform', (d, i) => `translate(${m.left + i * 80},4)`).select('text').text((d) => d.key);
}

async function refresh() {
  try {
    drawTiers(await getJson('/api/models/tiers'));
    drawByReason(await getJson('/api/models/by-reason'));
    const overview = await getJson('/api/models');
    drawBanner(overview.alerts);
    drawVersions(overview.versions);
    drawShadow(overview.versions);
    drawRuns(overview.runs);
    // A run started elsewhere (the schedule, another manager, before a reload) is followed too.
    const active = overview.runs.find((run) => run.status === 'queued' || run.status === 'running');
    if (active) followRun(active.id);
    drawDrift(overview.latest_check);
    d3.select('#rollback').attr('disabled', overview.can_roll_back ? null : true);
    d3.select('#since-run').text(`${overview.decisions_since_last_run} reviewer decisions since the last retraining.`);
  } catch (error) {
    say(`Could not load the models: ${error.message}`);
  }
}

// ------------------------------------------------------------------ a retraining, followed

const RUN_POLL_MS = 2000;
let followed = null; // the id of the run being polled, so a refresh does not start a second poller
const seconds = (v) => {
  if (v === null || v === undefined) return '—';
  if (v < 90) return `${Math.round(v)} s`;
  if (v < 5400) return `${Math.floor(v / 60)} min ${Math.round(v % 60)} s`;
  return `${(v / 3600).toFixed(1)} h`;
};
const signed = (v, digits = 4) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

function verdictLines(run) {
  const v = run.verdict;
  if (!v) return [];
  const lines = [];
  if (v.deciding_metric) {
    const need = v.rule === 'gain at least'
      ? `the rule needs a gain of at least ${signed(v.required)}`
      : `the rule allows at most ${signed(v.required)}`;
    lines.push({ cls: 'deciding', text: `Deciding metric: ${v.deciding_metric}, challenger ${signed(v.margin)} against the champion; ${need} — ${v.passed ? 'met' : 'not met'}.` });
  }
  if (v.metrics.length) {
    const better = v.metrics.filter((m) => m.challenger_better).length;
    lines.push({
      cls: 'metrics',
      text: `Challenger better on ${better} of ${v.metrics.length} metrics: ` + v.metrics.map((m) =>
        `${m.name} ${num(m.challenger, 4)} vs ${num(m.champion, 4)} (${m.challenger_better ? 'better' : 'not better'})`).join('; ') + '.',
    });
  }
  return lines;
}

function drawRunProgress(run) {
  const box = d3.select('#run-progress').attr('hidden', null).attr('data-stage', run.progress.stage)
    .attr('data-run', run.id).attr('class', `run-progress stage-${run.progress.stage} run-${run.status}`);
  box.selectAll('*').remove();
  const p = run.progress;
  const head = box.append('p').attr('class', 'head');
  if (p.stage === 'queued') {
    head.text(`Retraining run ${run.id}: queued at ${when(p.since)} UTC, waiting for a worker (${seconds(p.elapsed_seconds)}).`);
    return;
  }
  if (p.stage === 'running') {
    head.text(`Retraining run ${run.id}: running since ${when(p.since)} UTC (${seconds(p.elapsed_seconds)}); ` +
      'training a challenger and judging it on the holdout.');
    return;
  }
  const outcome = {
    promoted: `promoted ${run.challenger} to champion`,
    kept: `kept the champion ${run.champion || ''}; ${run.challenger || 'the challenger'} stays a challenger`,
    failed: 'failed',
  }[run.status] || run.status;
  head.append('strong').text(`Retraining run ${run.id} finished at ${when(p.since)} UTC after ${seconds(p.took_seconds)}: ${outcome}.`);
  verdictLines(run).forEach((line) => box.append('p').attr('class', line.cls).text(line.text));
  if (run.reason) box.append('p').attr('class', 'reason-text').text(`Verdict: ${run.reason}`);
}

async function followRun(id) {
  if (followed === id) return;
  followed = id;
  d3.select('#retrain').attr('disabled', true);
  try {
    for (;;) {
      const run = await getJson(`/api/models/runs/${id}`);
      drawRunProgress(run);
      if (run.progress.stage === 'finished') break;
      await new Promise((resolve) => { setTimeout(resolve, RUN_POLL_MS); });
    }
  } catch (error) {
    say(`Could not follow the retraining: ${error.message}`);
  } finally {
    followed = null;
    d3.select('#retrain').attr('disabled', null);
  }
  await refresh();
}

d3.select('#retrain').on('click', async () => {
  say('Queueing a retraining…');
  try {
    const run = await postJson('/api/models/retrain', {});
    say('');
    followRun(run.id);
  } catch (error) {
    say(`Retraining not queued: ${error.message}`);
    await refresh();
  }
});
d3.select('#rollback').on('click', () => act('Rolling back', () => postJson('/api/models/rollback', {})));
d3.select('#recut').on('click', () => act('Re-cutting the tiers', () => postJson('/api/models/tiers/recut',
  { days: Number(d3.select('#recut-days').property('value')) })));
refresh();
setInterval(refresh, 15000);
