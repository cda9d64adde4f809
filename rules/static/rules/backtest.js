// A rule backtest: polls the run until it is done, then draws its figures, a bar chart of
// hits per day (fraud hits in the darker part) and example hits linking to their cases.
import { getJson } from '/static/frontend/api.js';
import { countAxis, countTick, moneyTick } from '/static/frontend/charts/format.js';

const d3 = window.d3;
const section = document.getElementById('backtest');
const runId = section.dataset.run;
const status = d3.select('#run-status');
const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const num = (v, digits = 1) => (v === null || v === undefined ? '—' : d3.format(`,.${digits}f`)(v));

async function poll() {
  let run;
  try {
    run = await getJson(`/api/rules/backtests/${runId}`);
  } catch (error) {
    status.attr('class', 'status error').text(`Could not read the backtest: ${error.message}`);
    return;
  }
  if (run.status === 'queued' || run.status === 'running') {
    status.text(run.status === 'queued' ? 'Waiting for a worker…' : 'Replaying the stored events…');
    setTimeout(poll, 1000);
    return;
  }
  if (run.status === 'failed') {
    status.attr('class', 'status error').text(`The backtest failed: ${run.error}`);
    return;
  }
  const took = run.figures.seconds.total;
  status.text(`Done in ${took < 0.1 ? 'under 0.1' : num(took, 1)} s.${run.figures.capped ? ' The period held more events than a backtest reads; the most recent were used.' : ''}`);
  draw(run.figures);
}

function draw(f) {
  d3.select('#figures').attr('hidden', null);
  const s = f.set;
  d3.select('#totals').text(
    `${countTick(f.events)} events over ${f.days} day${f.days === 1 ? '' : 's'}, ${countTick(f.labeled)} with a label, ${countTick(f.fraud)} fraud. `
    + `The rule set hits ${countTick(s.hits)} (${pct(s.hit_rate)}, ${num(s.hits_per_day)} a day): precision ${pct(s.precision)}, `
    + `recall ${pct(s.recall)}, money caught ${moneyTick(s.money_caught)}, ${num(s.reviews_added_per_day)} reviews added a day.`,
  );
  const rows = [...f.rules, { rule: 'All rules (first deciding hit)', action: '', ...s }];
  const tr = d3.select('#rule-figures tbody').selectAll('tr').data(rows).join('tr').attr('class', (d, i) => (i === rows.length - 1 ? 'total' : null));
  tr.selectAll('td').data((d) => [
    d.rule, d.action, countTick(d.hits), num(d.hits_per_day), countTick(d.labeled_hits), countTick(d.fraud_hits), pct(d.precision),
    pct(d.recall), moneyTick(d.money_caught), moneyTick(d.legitimate_money_hit), num(d.reviews_added_per_day), pct(d.overlap_with_model_high),
  ]).join('td').attr('class', (d, i) => (i >= 2 ? 'num' : null)).text((d) => d);
  drawDays(f.by_day);
  const ex = d3.select('#examples tbody').selectAll('tr').data(f.examples.length ? f.examples : [null]).join('tr');
  ex.selectAll('*').remove();
  ex.each(function (d) {
    const row = d3.select(this);
    if (d === null) { row.append('td').attr('colspan', 7).text('No hits.'); return; }
    row.append('td').append('a').attr('href', `/cases/${d.transaction_id}/`).text(d.event_id);
    row.append('td').text(d.account_id);
    row.append('td').text(d.timestamp.slice(0, 16).replace('T', ' '));
    row.append('td').attr('class', 'num').text(d.amount === null ? '—' : moneyTick(d.amount));
    row.append('td').text(d.label || 'none yet');
    row.append('td').text(d.model_tier);
    row.append('td').text(d.rule);
  });
}

function drawDays(days) {
  const box = d3.select('#by-day');
  box.selectAll('*').remove();
  if (!days.length) { box.append('p').attr('class', 'hint').text('No events in the period.'); return; }
  const width = Math.max(480, box.node().clientWidth || 720);
  const height = 220;
  const m = { top: 28, right: 12, bottom: 28, left: 48 };
  const x = d3.scaleBand().domain(days.map((d) => d.day)).range([m.left, width - m.right]).padding(0.15);
  const y = d3.scaleLinear().domain([0, Math.max(1, d3.max(days, (d) => d.hits))]).nice().range([height - m.bottom, m.top]);
  const svg = box.append('svg').attr('viewBox', `0 0 ${width} ${height}`).attr('width', '100%');
  const every = Math.ceil(days.length / 10);
  svg.append('g').attr('transform', `translate(0,${height - m.bottom})`)
    .call(d3.axisBottom(x).tickValues(x.domain().filter((d, i) => i % every === 0)).tickFormat((d) => d.slice(5)));
  svg.append('g').attr('transform', `translate(${m.left},0)`).call(countAxis(d3.axisLeft(y), y));
  const g = svg.append('g').selectAll('g').data(days).join('g');
  g.append('rect').attr('class', 'bar-hits').attr('x', (d) => x(d.day)).attr('width', x.bandwidth())
    .attr('y', (d) => y(d.hits)).attr('height', (d) => y(0) - y(d.hits)).attr('fill', '#98a2b3');
  g.append('rect').attr('class', 'bar-fraud').attr('x', (d) => x(d.day)).attr('width', x.bandwidth())
    .attr('y', (d) => y(d.fraud_hits)).attr('height', (d) => y(0) - y(d.fraud_hits)).attr('fill', '#b42318');
  g.append('title').text((d) => `${d.day}: ${countTick(d.hits)} hits of ${countTick(d.events)} events, ${countTick(d.fraud_hits)} fraud`);
  const legend = svg.append('g').attr('transform', `translate(${m.left + 8},6)`);
  [['#98a2b3', 'hits'], ['#b42318', 'fraud among them']].forEach(([color, label], i) => {
    legend.append('rect').attr('x', i * 110).attr('width', 10).attr('height', 10).attr('fill', color);
    legend.append('text').attr('x', i * 110 + 14).attr('y', 9).attr('font-size', 11).text(label);
  });
}

poll();
