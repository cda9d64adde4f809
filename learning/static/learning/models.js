// The models page: versions, runs, shadow comparison and drift, with the managers' actions.
// Every piece of data is written with .text(), never as HTML.
import { getJson, postJson } from '/static/frontend/api.js';

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

async function refresh() {
  try {
    const overview = await getJson('/api/models');
    drawBanner(overview.alerts);
    drawVersions(overview.versions);
    drawShadow(overview.versions);
    drawRuns(overview.runs);
    drawDrift(overview.latest_check);
    d3.select('#rollback').attr('disabled', overview.can_roll_back ? null : true);
    d3.select('#since-run').text(`${overview.decisions_since_last_run} reviewer decisions since the last retraining.`);
  } catch (error) {
    say(`Could not load the models: ${error.message}`);
  }
}

d3.select('#retrain').on('click', () => act('Queueing a retraining', () => postJson('/api/models/retrain', {})));
d3.select('#rollback').on('click', () => act('Rolling back', () => postJson('/api/models/rollback', {})));
refresh();
setInterval(refresh, 15000);
