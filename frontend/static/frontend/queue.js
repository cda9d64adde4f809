// The review queue: tier counts drawn with D3, the open cases of one tier, clear / flag.
// Every piece of data is written with .text(), never as HTML.
import { getJson, postJson } from './api.js';

const d3 = window.d3;
const TIERS = ['high', 'medium', 'low'];
const TIER_LABEL = { high: '▲ High', medium: '◆ Medium', low: '○ Low' };
const REFRESH_MS = 10000;
const money = d3.format(',.2f');
let currentTier = new URLSearchParams(window.location.search).get('tier') || 'high';
let busy = false;

const statusLine = d3.select('#status');
const say = (message) => statusLine.text(message);

function drawCounts(counts) {
  const data = TIERS.map((tier) => ({ tier, count: counts[tier] || 0 }));
  const width = 420;
  const barHeight = 26;
  const x = d3.scaleLinear().domain([0, d3.max(data, (d) => d.count) || 1]).range([0, width - 190]);
  const svg = d3.select('#tier-chart').selectAll('svg').data([null]).join('svg')
    .attr('viewBox', `0 0 ${width} ${data.length * (barHeight + 6)}`)
    .attr('role', 'img')
    .attr('aria-label', 'Open cases per tier');
  const rows = svg.selectAll('g.row').data(data, (d) => d.tier).join((enter) => {
    const g = enter.append('g').attr('class', (d) => `row tier-${d.tier}`);
    g.append('text').attr('class', 'label').attr('x', 0).attr('y', barHeight * 0.7);
    g.append('rect').attr('x', 100).attr('height', barHeight).attr('rx', 3);
    g.append('text').attr('class', 'value').attr('y', barHeight * 0.7);
    return g;
  });
  rows.attr('transform', (d, i) => `translate(0,${i * (barHeight + 6)})`);
  rows.select('text.label').text((d) => TIER_LABEL[d.tier]);
  rows.select('rect').transition().duration(300).attr('width', (d) => Math.max(2, x(d.count)));
  rows.select('text.value').attr('x', (d) => 106 + Math.max(2, x(d.count))).text((d) => d.count.toLocaleString());
}

function drawTabs(counts) {
  const tabs = d3.select('#tier-tabs').selectAll('button').data(TIERS).join('button')
    .attr('type', 'button')
    .attr('role', 'tab')
    .attr('class', (tier) => `tab tier-${tier}`)
    .attr('aria-selected', (tier) => String(tier === currentTier))
    .text((tier) => `${TIER_LABEL[tier]} (${(counts[tier] || 0).toLocaleString()})`)
    .on('click', (event, tier) => {
      currentTier = tier;
      refresh();
    });
  return tabs;
}

function drawCases(items) {
  const rows = d3.select('#cases tbody').selectAll('tr').data(items, (d) => d.transaction_id).join((enter) => {
    const tr = enter.append('tr');
    for (let i = 0; i < 8; i += 1) tr.append('td');
    const actions = tr.append('td').attr('class', 'actions');
    actions.append('button').attr('type', 'button').attr('class', 'clear').text('Clear');
    actions.append('button').attr('type', 'button').attr('class', 'flag').text('Flag fraud');
    return tr;
  });
  rows.attr('data-transaction-id', (d) => d.transaction_id);
  rows.each(function fill(d) {
    const cells = d3.select(this).selectAll('td').nodes();
    const values = [
      TIER_LABEL[d.tier], String(d.risk_score), money(d.expected_loss),
      d.amount === null ? '—' : `${money(d.amount)} ${d.currency}`,
      d.account_id, d.event_id, d.event_type || '—', d.timestamp.replace('T', ' ').slice(0, 19),
    ];
    values.forEach((value, i) => d3.select(cells[i]).text(value));
    d3.select(cells[0]).attr('class', `tier-cell tier-${d.tier}`);
  });
  rows.select('button.clear').on('click', (event, d) => decide(d, 'clear'));
  rows.select('button.flag').on('click', (event, d) => decide(d, 'flag'));
  if (!items.length) say(`No open ${currentTier}-tier cases.`);
}

async function decide(item, verdict) {
  if (busy) return;
  busy = true;
  try {
    await postJson(`/api/cases/${item.transaction_id}/decision`, { verdict, expected_status: 'open' });
    say(`${verdict === 'flag' ? 'Flagged' : 'Cleared'} ${item.event_id} (account ${item.account_id}).`);
  } catch (error) {
    say(`Could not save the decision: ${error.message}`);
  } finally {
    busy = false;
    await refresh();
  }
}

async function refresh() {
  try {
    const data = await getJson(`/api/queue?tier=${encodeURIComponent(currentTier)}&limit=50`);
    drawCounts(data.counts);
    drawTabs(data.counts);
    drawCases(data.items);
  } catch (error) {
    say(`Could not load the queue: ${error.message}`);
  }
}

refresh();
setInterval(() => { if (!busy && document.visibilityState === 'visible') refresh(); }, REFRESH_MS);
