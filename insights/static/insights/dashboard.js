// The managers' dashboard: every panel is drawn with D3 from the insights API.
// Data is written with .text() / .attr(), never as HTML. Tiers are told apart by shape and
// dash pattern as well as colour.
import { getJson, postJson } from '../frontend/api.js';
import { countAxis, moneyAxis } from '../frontend/charts/format.js';

const d3 = window.d3;
const API = '/api/insights';
const TIERS = ['high', 'medium', 'low', 'unscored'];
const TIER_LABEL = { high: '▲ High', medium: '◆ Medium', low: '○ Low', unscored: '□ Not scored' };
const TIER_SYMBOL = { high: d3.symbolTriangle, medium: d3.symbolDiamond, low: d3.symbolCircle, unscored: d3.symbolSquare };
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const METRICS = [
  { key: 'events', title: 'Events' },
  { key: 'flagged', title: 'Flagged by reviewers' },
  { key: 'confirmed_fraud', title: 'Confirmed fraud' },
  { key: 'money_at_risk', title: 'Money at risk (expected loss)' },
];
const count = d3.format(',d');
// Every money figure is in the reporting currency, and says so.
const CURRENCY = document.querySelector('meta[name="reporting-currency"]')?.content || '';
const money = (value) => `${d3.format(',.2f')(value)} ${CURRENCY}`.trim();
const pct = d3.format('.1%');
const parseDay = d3.utcParse('%Y-%m-%d');
const plural = (n, word) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;
const dayLabel = d3.utcFormat('%b %d');

const root = document.querySelector('.dashboard');
const statusLine = d3.select('#status');
const say = (message) => statusLine.text(message);
const tooltip = d3.select('#tooltip');

// ------------------------------------------------------------------ state in the URL

const params = new URLSearchParams(window.location.search);
const periodSelect = document.getElementById('period');
const tzInput = document.getElementById('tz');
periodSelect.value = params.get('period') || '30d';
tzInput.value = params.get('tz') || root.dataset.defaultTz || 'UTC';
if (Intl.supportedValuesOf) {
  d3.select('#tz-list').selectAll('option').data(['UTC', ...Intl.supportedValuesOf('timeZone')]).join('option')
    .attr('value', (zone) => zone);
}

// `end` is only set when the manager chose to look at the days up to the newest event;
// otherwise every period ends today.
let periodEnd = params.get('end') || '';
const query = () => {
  const q = { period: periodSelect.value, tz: tzInput.value.trim() || 'UTC' };
  if (periodEnd) q.end = periodEnd;
  return new URLSearchParams(q).toString();
};
const periodName = () => periodSelect.options[periodSelect.selectedIndex].text.replace(/^Last /, '');

function showTip(event, lines) {
  tooltip.attr('hidden', null).text(lines.join('\n'))
    .style('left', `${Math.min(event.clientX + 14, window.innerWidth - 300)}px`)
    .style('top', `${event.clientY + 14}px`);
}
const hideTip = () => tooltip.attr('hidden', '');

function svgFor(selector, width, height, label) {
  return d3.select(selector).selectAll('svg').data([null]).join('svg')
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img')
    .attr('aria-label', label);
}

// ------------------------------------------------------------------ ROI

function drawRoi(roi) {
  const c = roi.counts;
  const a = roi.assumptions;
  const figures = [
    { id: 'money_stopped', label: 'Money stopped', value: roi.money_stopped, basis: `${plural(c.caught, 'confirmed fraud')} caught` },
    { id: 'review_cost', label: 'Review cost', value: -roi.review_cost, basis: `${plural(c.reviews, 'review')} × ${money(a.cost_per_review)}` },
    { id: 'friction_cost', label: 'Friction cost', value: -roi.friction_cost, basis: `${plural(c.false_positives, 'false positive')} × ${money(a.friction_cost_per_false_positive)}` },
    { id: 'net_savings', label: 'Net savings', value: roi.net_savings, basis: 'stopped − review − friction' },
    { id: 'roi', label: 'ROI', value: roi.roi, basis: 'net ÷ (review + friction)', format: (v) => (v === null ? '—' : pct(v)) },
  ];
  const items = d3.select('#roi-figures').selectAll('div').data(figures, (d) => d.id).join((enter) => {
    const div = enter.append('div');
    div.append('dt');
    const dd = div.append('dd');
    dd.append('span').attr('class', 'value');
    dd.append('span').attr('class', 'basis');
    return div;
  });
  items.select('dt').text((d) => d.label);
  items.select('dd')
    .attr('id', (d) => `roi-${d.id}`)
    .attr('data-value', (d) => (d.value === null ? '' : d.value))
    .attr('class', (d) => (d.id === 'net_savings' || d.id === 'roi') && d.value !== null ? (d.value < 0 ? 'negative' : 'positive') : null);
  items.select('.value').text((d) => (d.format ? d.format(d.value) : money(d.value)));
  items.select('.basis').text((d) => d.basis);
  const form = document.getElementById('roi-assumptions');
  for (const name of ['cost_per_review', 'friction_cost_per_false_positive', 'value_of_unpriced_event']) {
    if (document.activeElement !== form.elements[name]) form.elements[name].value = a[name];
  }
}

document.getElementById('roi-assumptions').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = Object.fromEntries(['cost_per_review', 'friction_cost_per_false_positive', 'value_of_unpriced_event']
    .map((name) => [name, Number(form.elements[name].value)]));
  try {
    await postJson(`${API}/roi/assumptions`, body);
    say('Assumptions saved.');
    drawRoi(await getJson(`${API}/roi?${query()}`));
  } catch (error) {
    say(`Could not save the assumptions: ${error.message}`);
  }
});

// ------------------------------------------------------------------ heatmap

function drawHeatmap(data) {
  const cell = 30;
  const margin = { top: 56, right: 90, bottom: 36, left: 40 };
  const width = margin.left + 24 * cell + margin.right;
  const height = margin.top + 7 * cell + margin.bottom;
  const svg = svgFor('#heatmap', width, height, 'Fraud rate by day of week and hour');
  const cells = data.cells;
  // Scale colour to cells with a few labels, so one fraud among two events does not wash out the rest.
  const maxRate = d3.max(cells.filter((d) => d.labeled >= 5), (d) => d.fraud_rate) || d3.max(cells, (d) => d.fraud_rate) || 0.01;
  const color = d3.scaleSequential(d3.interpolateOrRd).domain([0, maxRate]).clamp(true);
  // Opacity shows how sure we are: a 95% interval 20 points wide (or more) is faint.
  const confidence = (d) => (d.labeled ? 0.25 + 0.75 * Math.max(0, 1 - (d.ci_high - d.ci_low) / 0.2) : 1);
  const byHour = d3.rollup(cells, (v) => d3.sum(v, (d) => d.events), (d) => d.hour);
  const byDay = d3.rollup(cells, (v) => d3.sum(v, (d) => d.events), (d) => d.day_of_week);
  const vHour = d3.scaleLinear().domain([0, d3.max(byHour.values()) || 1]).range([0, 34]);
  const vDay = d3.scaleLinear().domain([0, d3.max(byDay.values()) || 1]).range([0, margin.right - 40]);

  const grid = svg.selectAll('g.grid').data([null]).join('g').attr('class', 'grid')
    .attr('transform', `translate(${margin.left},${margin.top})`);
  grid.selectAll('rect.heat-cell').data(cells, (d) => `${d.day_of_week}-${d.hour}`).join('rect')
    .attr('class', 'heat-cell')
    .attr('x', (d) => d.hour * cell)
    .attr('y', (d) => (d.day_of_week - 1) * cell)
    .attr('width', cell)
    .attr('height', cell)
    .attr('tabindex', 0)
    .attr('data-dow', (d) => d.day_of_week)
    .attr('data-hour', (d) => d.hour)
    .attr('data-events', (d) => d.events)
    .attr('data-fraud', (d) => d.fraud)
    .attr('data-labeled', (d) => d.labeled)
    .attr('fill', (d) => (d.labeled ? color(d.fraud_rate) : '#eef0f4'))
    .attr('fill-opacity', confidence)
    .attr('aria-label', (d) => cellText(d).join(', '))
    .on('mousemove focus', (event, d) => showTip(event.type === 'focus' ? { clientX: event.target.getBoundingClientRect().right, clientY: event.target.getBoundingClientRect().top } : event, cellText(d)))
    .on('mouseleave blur', hideTip);
  svg.selectAll('text.day').data(DAYS).join('text').attr('class', 'day')
    .attr('x', margin.left - 6).attr('y', (d, i) => margin.top + i * cell + cell * 0.65).attr('text-anchor', 'end').text((d) => d);
  svg.selectAll('text.hour').data(d3.range(0, 24, 3)).join('text').attr('class', 'hour')
    .attr('x', (h) => margin.left + h * cell + cell / 2).attr('y', margin.top - 4).attr('text-anchor', 'middle')
    .text((h) => `${String(h).padStart(2, '0')}h`);
  // Volume: events per hour of day above the grid, per day of week to its right.
  svg.selectAll('rect.vol-hour').data(d3.range(24)).join('rect').attr('class', 'vol-hour')
    .attr('x', (h) => margin.left + h * cell + 3).attr('width', cell - 6)
    .attr('y', (h) => margin.top - 18 - vHour(byHour.get(h) || 0)).attr('height', (h) => vHour(byHour.get(h) || 0))
    .attr('fill', '#9aa3b2')
    .on('mousemove', (event, h) => showTip(event, [`${String(h).padStart(2, '0')}:00 — ${count(byHour.get(h) || 0)} events`]))
    .on('mouseleave', hideTip);
  svg.selectAll('rect.vol-day').data(d3.range(1, 8)).join('rect').attr('class', 'vol-day')
    .attr('x', margin.left + 24 * cell + 6).attr('height', cell - 8)
    .attr('y', (d) => margin.top + (d - 1) * cell + 4).attr('width', (d) => vDay(byDay.get(d) || 0))
    .attr('fill', '#9aa3b2')
    .on('mousemove', (event, d) => showTip(event, [`${DAYS[d - 1]} — ${count(byDay.get(d) || 0)} events`]))
    .on('mouseleave', hideTip);
  svg.selectAll('text.vol-label').data(['volume']).join('text').attr('class', 'vol-label')
    .attr('x', margin.left + 24 * cell + 6).attr('y', margin.top - 6).text('events');
  const legendScale = d3.scaleLinear().domain([0, maxRate]).range([0, 200]);
  const legend = svg.selectAll('g.legend').data([null]).join('g').attr('class', 'legend')
    .attr('transform', `translate(${margin.left},${margin.top + 7 * cell + 12})`);
  legend.selectAll('rect').data(d3.range(0, 1.0001, 0.05)).join('rect')
    .attr('x', (t) => t * 190).attr('width', 11).attr('height', 8).attr('fill', (t) => color(t * maxRate));
  legend.selectAll('text').data([0, maxRate]).join('text')
    .attr('x', (v) => legendScale(v) + (v ? 20 : 0)).attr('y', 18).attr('text-anchor', (v) => (v ? 'end' : 'start'))
    .text((v, i) => (i ? `${pct(v)}+ fraud rate` : '0%'));
}

function cellText(d) {
  const when = `${DAYS[d.day_of_week - 1]} ${String(d.hour).padStart(2, '0')}:00–${String((d.hour + 1) % 24).padStart(2, '0')}:00`;
  const rate = d.labeled
    ? `fraud ${count(d.fraud)} of ${count(d.labeled)} labeled: ${pct(d.fraud_rate)} (95% CI ${pct(d.ci_low)}–${pct(d.ci_high)})`
    : 'no labeled events';
  return [when, `${count(d.events)} events`, rate];
}

// ------------------------------------------------------------------ daily trends

function drawLegend() {
  const items = d3.select('#tier-legend').selectAll('span.item').data(TIERS).join((enter) => {
    const span = enter.append('span').attr('class', (t) => `item tier-${t}`);
    const svg = span.append('svg').attr('viewBox', '0 0 28 14').attr('aria-hidden', 'true');
    svg.append('line').attr('class', (t) => `line tier-${t}`).attr('x1', 0).attr('x2', 28).attr('y1', 7).attr('y2', 7);
    svg.append('path').attr('class', (t) => `marker tier-${t}`).attr('transform', 'translate(14,7)')
      .attr('d', (t) => d3.symbol(TIER_SYMBOL[t], 40)());
    span.append('span').attr('class', 'name');
    return span;
  });
  items.select('span.name').text((t) => TIER_LABEL[t]);
}

function drawTrends(data) {
  const days = data.days.map(parseDay);
  const byKey = d3.index(data.series, (d) => d.tier, (d) => d.day);
  const panels = d3.select('#trends').selectAll('div.panel').data(METRICS, (m) => m.key).join((enter) => {
    const div = enter.append('div').attr('class', 'panel').attr('id', (m) => `trend-${m.key}`);
    div.append('h3');
    return div;
  });
  panels.select('h3').text((m) => m.title);
  const width = 540;
  const height = 190;
  const margin = { top: 8, right: 24, bottom: 24, left: 56 };  // room for the last day's label
  panels.each(function drawPanel(metric) {
    const lines = TIERS.map((tier) => ({
      tier,
      values: data.days.map((day, i) => ({ day: days[i], value: byKey.get(tier)?.get(day)?.[metric.key] || 0 })),
    })).filter((line) => d3.sum(line.values, (v) => v.value) > 0);
    const svg = d3.select(this).selectAll('svg').data([null]).join('svg')
      .attr('viewBox', `0 0 ${width} ${height}`).attr('role', 'img').attr('aria-label', `${metric.title} per day by tier`);
    const x = d3.scaleUtc().domain(d3.extent(days)).range([margin.left, width - margin.right]);
    const y = d3.scaleLinear().domain([0, d3.max(lines, (l) => d3.max(l.values, (v) => v.value)) || 1]).nice()
      .range([height - margin.bottom, margin.top]);
    svg.selectAll('g.x').data([null]).join('g').attr('class', 'axis x').attr('transform', `translate(0,${height - margin.bottom})`)
      // Whole days only: a short period would otherwise get noon ticks labelled as the same day twice.
      .call(d3.axisBottom(x).tickValues(x.ticks(Math.min(days.length, 6)).filter((t) => +d3.utcDay.floor(t) === +t)).tickFormat(dayLabel));
    svg.selectAll('g.y').data([null]).join('g').attr('class', 'axis y').attr('transform', `translate(${margin.left},0)`)
      .call(metric.key === 'money_at_risk' ? moneyAxis(d3.axisLeft(y), 4) : countAxis(d3.axisLeft(y), y, 4));
    const line = d3.line().x((v) => x(v.day)).y((v) => y(v.value));
    const groups = svg.selectAll('g.series').data(lines, (l) => l.tier).join('g').attr('class', (l) => `series tier-${l.tier}`);
    groups.selectAll('path.line').data((l) => [l]).join('path')
      .attr('class', (l) => `line tier-${l.tier}`)
      .attr('data-metric', metric.key)
      .attr('data-tier', (l) => l.tier)
      .attr('data-total', (l) => d3.sum(l.values, (v) => v.value))
      .attr('d', (l) => line(l.values));
    groups.selectAll('path.marker').data((l) => l.values.map((v) => ({ ...v, tier: l.tier }))).join('path')
      .attr('class', (v) => `marker tier-${v.tier}`)
      .attr('transform', (v) => `translate(${x(v.day)},${y(v.value)})`)
      .attr('d', (v) => d3.symbol(TIER_SYMBOL[v.tier], days.length > 60 ? 10 : 28)())
      .on('mousemove', (event, v) => showTip(event, [
        `${dayLabel(v.day)} · ${TIER_LABEL[v.tier]}`,
        `${metric.title}: ${metric.key === 'money_at_risk' ? money(v.value) : count(v.value)}`,
      ]))
      .on('mouseleave', hideTip);
    if (!lines.length) {
      svg.selectAll('text.empty').data([null]).join('text').attr('class', 'empty')
        .attr('x', width / 2).attr('y', height / 2).attr('text-anchor', 'middle').text('nothing in this period');
    } else {
      svg.selectAll('text.empty').remove();
    }
  });
}

// ------------------------------------------------------------------ model health

function drawPrecision(rows) {
  const width = 520;
  const rowHeight = 30;
  const left = 90;
  const svg = svgFor('#precision', width, rows.length * rowHeight + 20, 'Precision of each tier');
  const x = d3.scaleLinear().domain([0, 1]).range([left, width - 215]);
  const g = svg.selectAll('g.row').data(rows, (d) => d.tier).join((enter) => {
    const row = enter.append('g').attr('class', 'row');
    row.append('text').attr('class', 'label').attr('x', 0).attr('y', 18);
    row.append('rect').attr('class', (d) => `bar tier-${d.tier}`).attr('y', 6).attr('height', 16).attr('x', left);
    row.append('line').attr('class', 'whisker');
    row.append('text').attr('class', 'value').attr('y', 18);
    return row;
  });
  g.attr('transform', (d, i) => `translate(0,${i * rowHeight})`).attr('data-tier', (d) => d.tier)
    .attr('data-precision', (d) => (d.precision === null ? '' : d.precision));
  g.select('text.label').text((d) => TIER_LABEL[d.tier]);
  g.select('rect').attr('width', (d) => (d.precision === null ? 0 : x(d.precision) - left));
  g.select('line.whisker')
    .attr('x1', (d) => x(d.ci_low)).attr('x2', (d) => x(d.ci_high)).attr('y1', 14).attr('y2', 14)
    .attr('visibility', (d) => (d.precision === null ? 'hidden' : 'visible'));
  g.select('text.value').attr('x', width - 208)
    .text((d) => (d.precision === null
      ? 'no decisions yet'
      : `${pct(d.precision)} of ${count(d.flagged + d.cleared)} (95% CI ${d3.format('.0%')(d.ci_low)}–${d3.format('.0%')(d.ci_high)})`));
}

// Every day of the period has its column, scored or not: days with data only, side by
// side, drew Oct 13 next to Nov 23 as if they followed each other.
function periodDays(period, days) {
  const formatDay = d3.utcFormat('%Y-%m-%d');
  const all = new Set(days.map((d) => d.day));
  if (period && period.start && period.end) {
    d3.utcDay.range(parseDay(period.start.slice(0, 10)), d3.utcDay.offset(parseDay(period.end.slice(0, 10)), 1))
      .forEach((day) => all.add(formatDay(day)));
  }
  return [...all].sort();
}

function drawScoreDistribution(days, period) {
  const width = 520;
  const height = 170;
  const margin = { top: 6, right: 8, bottom: 22, left: 40 };
  const svg = svgFor('#score-distribution', width, height, 'Share of scores in each band per day');
  const x = d3.scaleBand().domain(periodDays(period, days)).range([margin.left, width - margin.right]);
  const y = d3.scaleBand().domain(d3.range(11)).range([height - margin.bottom, margin.top]);
  const cells = days.flatMap((d) => {
    const total = d3.sum(d.bands) || 1;
    return d.bands.map((n, band) => ({ day: d.day, band, n, share: n / total }));
  });
  const color = d3.scaleSequential(d3.interpolateBlues).domain([0, d3.max(cells, (c) => c.share) || 1]);
  svg.selectAll('rect.band').data(cells, (c) => `${c.day}-${c.band}`).join('rect').attr('class', 'band')
    .attr('x', (c) => x(c.day)).attr('width', Math.max(1, x.bandwidth()))
    .attr('y', (c) => y(c.band)).attr('height', y.bandwidth())
    .attr('fill', (c) => color(c.share))
    .on('mousemove', (event, c) => showTip(event, [`${c.day}`, `scores ${c.band * 10}–${Math.min(100, c.band * 10 + 9)}: ${count(c.n)} (${pct(c.share)})`]))
    .on('mouseleave', hideTip);
  svg.selectAll('g.y').data([null]).join('g').attr('class', 'axis y').attr('transform', `translate(${margin.left},0)`)
    .call(d3.axisLeft(y).tickValues([0, 5, 8, 10]).tickFormat((b) => `${b * 10}`));
  const ticks = x.domain().filter((d, i, all) => i % Math.ceil(all.length / 6) === 0);
  svg.selectAll('text.empty').data(days.length ? [] : [null]).join('text').attr('class', 'empty')
    .attr('x', width / 2).attr('y', height / 2).attr('text-anchor', 'middle').text('no scored events in this period');
  svg.selectAll('g.x').data([null]).join('g').attr('class', 'axis x').attr('transform', `translate(0,${height - margin.bottom})`)
    .call(d3.axisBottom(x).tickValues(ticks).tickFormat((d) => dayLabel(parseDay(d))));
}

function drawDrift(drift) {
  const p = d3.select('#drift');
  p.selectChildren().remove();
  if (drift.psi === null || drift.psi === undefined) {
    p.append('span').text(drift.message || 'no reference');
    return;
  }
  p.append('span').attr('class', `psi-${drift.status}`).text(`PSI ${drift.psi.toFixed(3)} — ${drift.status}`);
  if (drift.source === 'learning') {
    // The learning loop's latest hourly check: a recent window, not the chosen period.
    p.append('span').text(` (score distribution of the last ${drift.window_hours} h vs ${drift.model_version}'s training data; < 0.1 stable, > 0.25 shifted)`);
    const top = drift.top_features || [];
    if (top.length) {
      p.append('span').text(` · most moved features: ${top.map((f) => `${f.name} ${f.psi.toFixed(2)}`).join(', ')}`);
    }
    return;
  }
  if (drift.source === 'reference') {
    p.append('span').text(` (${count(drift.scores)} scores ${drift.model_version} made in this period vs its training scores; < 0.1 stable, > 0.25 shifted)`);
    return;
  }
  p.append('span').text(` (score distribution of this period vs ${drift.model_version || 'the training data'}; < 0.1 stable, > 0.25 shifted)`);
}

function drawVersions(versions) {
  const fmt = (v) => (v === null || v === undefined ? '—' : v.toFixed(3));
  const rows = d3.select('#versions tbody').selectAll('tr').data(versions, (v) => v.name).join((enter) => {
    const tr = enter.append('tr');
    for (let i = 0; i < 6; i += 1) tr.append('td');
    return tr;
  });
  rows.select('td:nth-child(1)').text((v) => v.name);
  rows.select('td:nth-child(2)').text((v) => v.status);
  rows.select('td:nth-child(3)').attr('class', 'num').text((v) => fmt(v.test.roc_auc));
  rows.select('td:nth-child(4)').attr('class', 'num').text((v) => fmt(v.test.average_precision));
  rows.select('td:nth-child(5)').attr('class', 'num').text((v) => fmt(v.test.high_precision));
  rows.select('td:nth-child(6)').text((v) => (v.created_at || '').slice(0, 10));
}

// ------------------------------------------------------------------ team

const duration = (seconds) => {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
};

// Says what the age counts from: the event, which may be far older than its arrival in the queue.
function oldestBasis(oldest) {
  if (!oldest.event_time) return 'no open high cases';
  return `since its event on ${oldest.event_time.slice(0, 10)}; in the queue ${duration(oldest.queued_seconds)}`;
}

function drawTeam(team) {
  const figures = [
    { id: 'decisions', label: 'Decisions', value: count(team.time_to_decision.decisions) },
    { id: 'median', label: 'Median score → decision', value: duration(team.time_to_decision.median_seconds) },
    { id: 'p90', label: '90th percentile', value: duration(team.time_to_decision.p90_seconds) },
    {
      id: 'oldest',
      label: `Oldest open high case (${count(team.oldest_open_high.open_high_cases)} open)`,
      value: duration(team.oldest_open_high.age_seconds),
      basis: oldestBasis(team.oldest_open_high),
    },
    {
      id: 'sla',
      label: 'Undecided cases past due now',
      value: count(['high', 'medium', 'low'].reduce((sum, t) => sum + team.sla[t].breached, 0)),
      basis: ['high', 'medium', 'low'].map((t) => `${t} ${count(team.sla[t].breached)}${team.sla[t].capped ? '+' : ''} (due in ${team.sla[t].hours} h)`).join(' · '),
    },
  ];
  const items = d3.select('#team-figures').selectAll('div').data(figures, (d) => d.id).join((enter) => {
    const div = enter.append('div');
    div.append('dt');
    const dd = div.append('dd');
    dd.append('span').attr('class', 'value');
    dd.append('span').attr('class', 'basis');
    return div;
  });
  items.select('dt').text((d) => d.label);
  items.select('dd').attr('id', (d) => `team-${d.id}`);
  items.select('.value').text((d) => d.value);
  items.select('.basis').text((d) => d.basis || '');

  const reviewers = Array.from(new Set(team.decisions.map((d) => d.reviewer))).sort();
  const days = Array.from(new Set(team.decisions.map((d) => d.day))).sort();
  const width = 520;
  const height = 180;
  const margin = { top: 8, right: 8, bottom: 40, left: 36 };
  const svg = svgFor('#team-chart', width, height, 'Decisions per reviewer per day');
  const stacked = d3.stack().keys(reviewers)(days.map((day) => {
    const row = { day };
    for (const r of reviewers) row[r] = 0;
    for (const d of team.decisions.filter((item) => item.day === day)) row[d.reviewer] = d.decisions;
    return row;
  }));
  const x = d3.scaleBand().domain(days).range([margin.left, width - margin.right]).padding(0.2);
  const y = d3.scaleLinear().domain([0, d3.max(stacked.at(-1) || [], (d) => d[1]) || 1]).nice().range([height - margin.bottom, margin.top]);
  const color = d3.scaleOrdinal(d3.schemeTableau10).domain(reviewers);
  svg.selectAll('g.layer').data(stacked, (s) => s.key).join('g').attr('class', 'layer').attr('fill', (s) => color(s.key))
    // A reviewer with no decisions that day gets no bar, not an invisible zero-height one.
    .selectAll('rect').data((s) => s.filter((d) => d[1] > d[0]).map((d) => ({ ...d, reviewer: s.key }))).join('rect')
    .attr('x', (d) => x(d.data.day)).attr('width', x.bandwidth())
    .attr('y', (d) => y(d[1])).attr('height', (d) => y(d[0]) - y(d[1]))
    .on('mousemove', (event, d) => showTip(event, [`${d.data.day}`, `${d.reviewer}: ${count(d[1] - d[0])} decisions`]))
    .on('mouseleave', hideTip);
  svg.selectAll('g.x').data([null]).join('g').attr('class', 'axis x').attr('transform', `translate(0,${height - margin.bottom})`)
    .call(d3.axisBottom(x).tickValues(days.filter((d, i) => i % Math.ceil(days.length / 6 || 1) === 0)).tickFormat((d) => dayLabel(parseDay(d))));
  svg.selectAll('g.y').data([null]).join('g').attr('class', 'axis y').attr('transform', `translate(${margin.left},0)`)
    .call(countAxis(d3.axisLeft(y), y, 4));
  const legend = svg.selectAll('g.who').data(reviewers).join((enter) => {
    const g = enter.append('g').attr('class', 'who');
    g.append('rect').attr('width', 10).attr('height', 10);
    g.append('text').attr('x', 14).attr('y', 9);
    return g;
  });
  legend.attr('transform', (r, i) => `translate(${margin.left + i * 120},${height - 12})`);
  legend.select('rect').attr('fill', (r) => color(r));
  legend.select('text').text((r) => r);
  svg.selectAll('text.empty').data(days.length ? [] : [null]).join('text').attr('class', 'empty')
    .attr('x', width / 2).attr('y', height / 2).attr('text-anchor', 'middle').text('no decisions in this period');
  drawReasonsChart(team.dispositions);
}

// Clears and flags of the period by their reason, fraud reasons first, longest bar first.
function drawReasonsChart(rows) {
  const data = [...rows].sort((a, b) => (a.verdict === b.verdict ? b.decisions - a.decisions : a.verdict === 'flag' ? -1 : 1));
  const barHeight = 18;
  const margin = { top: 4, right: 56, bottom: 4, left: 310 };
  const width = 640;
  const height = Math.max(1, data.length) * (barHeight + 6) + margin.top + margin.bottom;
  const svg = svgFor('#reasons-chart', width, height, 'Decisions of the period by reason');
  const x = d3.scaleLinear().domain([0, d3.max(data, (d) => d.decisions) || 1]).range([0, width - margin.left - margin.right]);
  const rowsSel = svg.selectAll('g.reason').data(data, (d) => `${d.verdict}:${d.code}`).join((enter) => {
    const g = enter.append('g').attr('class', 'reason');
    g.append('text').attr('class', 'label').attr('x', margin.left - 6).attr('y', barHeight * 0.75).attr('text-anchor', 'end');
    g.append('rect').attr('x', margin.left).attr('height', barHeight).attr('rx', 2);
    g.append('text').attr('class', 'value').attr('y', barHeight * 0.75);
    return g;
  });
  rowsSel.attr('transform', (d, i) => `translate(0,${margin.top + i * (barHeight + 6)})`);
  const short = (text) => (text.length > 44 ? `${text.slice(0, 43)}…` : text);
  rowsSel.select('text.label').text((d) => short(`${d.verdict === 'flag' ? 'Fraud' : 'Legitimate'}: ${d.label}`))
    .append('title').text((d) => d.label);
  rowsSel.select('rect').attr('class', (d) => `verdict-${d.verdict}`).attr('width', (d) => Math.max(2, x(d.decisions)));
  rowsSel.select('text.value').attr('x', (d) => margin.left + Math.max(2, x(d.decisions)) + 4).text((d) => count(d.decisions));
  svg.selectAll('text.empty').data(data.length ? [] : [null]).join('text').attr('class', 'empty')
    .attr('x', width / 2).attr('y', height / 2 + 4).attr('text-anchor', 'middle').text('no clears or flags in this period');
}

// ------------------------------------------------------------------ accounts

function drawSegments(data) {
  const share = (v) => (v === undefined || v === null ? '—' : pct(v));
  const num = (v, f = d3.format(',.1f')) => (v === undefined || v === null ? '—' : f(v));
  const columns = [
    (s) => TIER_LABEL[s.segment], (s) => count(s.accounts), (s) => share(s.share), (s) => num(s.avg_events),
    (s) => num(s.avg_max_score), (s) => share(s.with_confirmed_fraud), (s) => num(s.avg_failed_payments),
    (s) => num(s.avg_devices), (s) => share(s.with_ring_links), (s) => count(s.offboard || 0),
  ];
  const rows = d3.select('#segments tbody').selectAll('tr').data(data.segments, (s) => s.segment).join((enter) => {
    const tr = enter.append('tr').attr('class', (s) => `segment-row-${s.segment}`);
    columns.forEach(() => tr.append('td'));
    return tr;
  });
  rows.attr('data-accounts', (s) => s.accounts);
  rows.selectAll('td').data((s) => columns.map((col, i) => ({ text: col(s), segment: s.segment, i })))
    .attr('class', (c) => (c.i === 0 ? `segment-${c.segment}` : 'num')).text((c) => c.text);
  // Segments rank evidence, not today's score: say what puts an account in each one.
  const meanings = d3.select('#segment-meanings').selectAll('div').data(data.segments, (s) => s.segment).join((enter) => {
    const div = enter.append('div');
    div.append('dt');
    div.append('dd');
    return div;
  });
  meanings.attr('data-segment', (s) => s.segment);
  meanings.select('dt').attr('class', (s) => `segment-${s.segment}`).text((s) => TIER_LABEL[s.segment]);
  meanings.select('dd').text((s) => s.meaning || '');
  d3.select('#segment-points').text(data.points || '');
}

function reasonList(selection, texts) {
  selection.selectAll('ul').data([null]).join('ul').selectAll('li').data(texts).join('li').text((t) => t);
}

async function decideAccount(accountId, decision) {
  try {
    await postJson(`${API}/accounts/${encodeURIComponent(accountId)}/decision`, { decision });
    say(`${decision === 'offboarded' ? 'Off-boarded' : 'Kept'} ${accountId}.`);
    await loadAccounts();
  } catch (error) {
    say(`Could not record the decision: ${error.message}`);
  }
}

function drawOffboarding(data) {
  d3.select('#offboarding-total').text(`(${count(data.items.length)} of ${count(data.total)} awaiting a decision; the CSV has them all)`);
  const rows = d3.select('#offboarding tbody').selectAll('tr').data(data.items, (d) => d.account_id).join((enter) => {
    const tr = enter.append('tr');
    for (let i = 0; i < 6; i += 1) tr.append('td');
    const actions = tr.append('td').attr('class', 'actions');
    actions.append('button').attr('type', 'button').attr('class', 'offboard').text('Off-board');
    actions.append('button').attr('type', 'button').attr('class', 'keep').text('Keep');
    return tr;
  });
  rows.attr('data-account', (d) => d.account_id);
  rows.select('td:nth-child(1)').text((d) => d.account_id);
  rows.select('td:nth-child(2)').attr('class', (d) => `segment-${d.segment}`).text((d) => TIER_LABEL[d.segment]);
  rows.select('td:nth-child(3)').attr('class', 'num').text((d) => d.points);
  rows.select('td:nth-child(4)').each(function offboard(d) { reasonList(d3.select(this), d.reasons.offboard.map((r) => r.text)); });
  rows.select('td:nth-child(5)').each(function factors(d) { reasonList(d3.select(this), d.reasons.factors.map((r) => r.text)); });
  rows.select('td:nth-child(6)').each(function model(d) { reasonList(d3.select(this), d.reasons.model.length ? d.reasons.model : ['—']); });
  rows.select('button.offboard').on('click', (event, d) => decideAccount(d.account_id, 'offboarded'));
  rows.select('button.keep').on('click', (event, d) => decideAccount(d.account_id, 'kept'));
}

async function loadAccounts() {
  const [segments, offboarding] = await Promise.all([
    getJson(`${API}/accounts/segments`),
    getJson(`${API}/offboarding?limit=12`),
  ]);
  drawSegments(segments);
  drawOffboarding(offboarding);
}

// ------------------------------------------------------------------ loading

async function load() {
  const q = query();
  say('Loading…');
  try {
    const [trends, heat, roiData, health, team] = await Promise.all([
      getJson(`${API}/trends?${q}`), getJson(`${API}/heatmap?${q}`), getJson(`${API}/roi?${q}`),
      getJson(`${API}/model-health?${q}`), getJson(`${API}/team?${q}`),
    ]);
    d3.select('#period-label').text(`${trends.period.start} to ${trends.period.end} · ${trends.period.tz}`);
    drawPeriodNote(trends.coverage);
    drawMoneyNote(trends.coverage);
    root.dataset.start = trends.period.start;
    root.dataset.end = trends.period.end;
    drawRoi(roiData);
    drawHeatmap(heat);
    drawLegend();
    drawTrends(trends);
    drawPrecision(health.precision);
    drawScoreDistribution(health.score_distribution, trends.period);
    drawDrift(health.drift);
    drawVersions(health.versions);
    drawTeam(team);
    await loadAccounts();
    say('');
    root.dataset.loaded = q;
  } catch (error) {
    say(`Could not load the dashboard: ${error.message}`);
  }
}

// An empty period is explained, with a way to the days that hold the data and back.
function drawPeriodNote(coverage) {
  const note = d3.select('#period-note');
  note.selectChildren().remove();
  const newest = coverage.newest_event_day;
  if (periodEnd) {
    note.attr('hidden', null);
    note.append('span').text(`Showing the ${periodName()} up to ${periodEnd}${periodEnd === newest ? ' (the newest event)' : ''}, not up to today. `);
    note.append('button').attr('type', 'button').attr('class', 'link').text('Back to today')
      .on('click', () => { periodEnd = ''; reload(); });
    return;
  }
  if (!coverage.message) {
    note.attr('hidden', '');
    return;
  }
  note.attr('hidden', null);
  note.append('span').attr('class', 'message').text(`${coverage.message[0].toUpperCase()}${coverage.message.slice(1)}. `);
  const target = coverage.older_than_period ? newest : coverage.older_data_ends;
  if (target) {
    note.append('span').text(coverage.older_than_period
      ? 'Panels counted by event time are empty; decisions made in this period still count. '
      : 'Panels counted by event time show only this period\'s events; decisions made in it all count. ');
    note.append('button').attr('type', 'button').attr('class', 'link').text(`Show the ${periodName()} up to ${target}`)
      .on('click', () => { periodEnd = target; reload(); });
  }
}

// Amounts in a currency without any exchange rate are summed as if they were the reporting
// currency: the money figures say so rather than look exact.
function drawMoneyNote(coverage) {
  const n = coverage.unrated_events || 0;
  const note = d3.select('#money-note').attr('hidden', n ? null : '');
  note.text(n ? `${n.toLocaleString()} event${n === 1 ? '' : 's'} in this period ha${n === 1 ? 's' : 've'} an amount in `
    + `${(coverage.unrated_currencies || []).join(', ') || 'a currency'} with no exchange rate loaded: counted 1:1 as `
    + `${coverage.reporting_currency} in the money figures. Load rates with manage.py load_rates.` : '');
}

function reload() {
  window.history.replaceState(null, '', `?${query()}`);
  load();
}

document.getElementById('controls').addEventListener('submit', (event) => {
  event.preventDefault();
  window.history.replaceState(null, '', `?${query()}`);
  load();
});
periodSelect.addEventListener('change', () => document.getElementById('controls').requestSubmit());
load();
