// The audit log for managers: filters, a paginated table, details as lines of text, each
// object linked to its page, claims and releases folded into holds unless asked for.
// Every value from the log goes in with .text(): entries carry what people and clients typed.
import { getJson, query } from './api.js';
import { clock, whenUtc } from './common.js';

const d3 = window.d3;
const form = document.getElementById('audit-filters');
const PAGE_SIZE = 50;
const HOW = { next: 'taken with Next', open: 'taken by opening the case' };
let page = 1;
let holds = 'collapsed';
let knownActions = [];

const lineText = (line) => ('value' in line ? `${line.field}: ${line.value}` : `${line.field}: ${line.before} → ${line.after}`);

// A time of the hold: the clock alone on the day the row is dated, else the full date.
const holdTime = (iso, rowIso) => (iso && iso.slice(0, 10) === rowIso.slice(0, 10) ? clock(iso) : whenUtc(iso));

function holdLines(e) {
  const { hold } = e;
  const span = [
    hold.claimed_at ? `claimed ${holdTime(hold.claimed_at, e.created_at)}` : '',
    hold.released_at ? `released ${holdTime(hold.released_at, e.created_at)}` : 'no release (decided, expired or still held)',
  ].filter(Boolean).join(', ');
  const how = HOW[hold.how];
  return [span, [how, hold.entries > 1 ? `${hold.entries} entries` : ''].filter(Boolean).join(' · ')].filter(Boolean);
}

function drawActions(actions) {
  if (actions.join() === knownActions.join()) return;
  knownActions = actions;
  const select = d3.select(form.elements.action);
  const chosen = form.elements.action.value;
  select.selectAll('option.action').data(actions).join('option').attr('class', 'action').attr('value', (a) => a).text((a) => a);
  form.elements.action.value = chosen;
}

function drawObject(cell, e) {
  cell.selectAll('*').remove();
  cell.text('');
  if (!e.object_label) cell.text('—');
  else if (e.url) cell.append('a').attr('href', e.url).text(e.object_label);
  else cell.text(e.object_label);
}

function drawHoldsNote(data) {
  const note = d3.select('#holds-note');
  // Filtering by an action lists those very entries: there is nothing to fold then.
  note.attr('hidden', holds === 'collapsed' && data.holds !== 'collapsed' ? '' : null);
  const n = data.holds_folded;
  d3.select('#holds-text').text(holds === 'collapsed'
    ? `${n.toLocaleString()} claim or release ${n === 1 ? 'entry' : 'entries'} folded into the holds shown.`
    : 'Every claim and release is listed.');
  d3.select('#holds-toggle').text(holds === 'collapsed' ? 'Show every entry' : 'Fold claims and releases into holds');
}

async function load() {
  const filters = Object.fromEntries(new FormData(form).entries());
  try {
    const data = await getJson(`/api/audit${query({ ...filters, holds, page, page_size: PAGE_SIZE })}`);
    d3.select('#filter-errors').text('');
    drawActions(data.actions);
    const rows = d3.select('#audit-table tbody').selectAll('tr').data(data.items, (e) => `${e.id}:${Boolean(e.hold)}`)
      .join((enter) => {
        const tr = enter.append('tr');
        ['when', 'who', 'action', 'object', 'detail'].forEach((name) => tr.append('td').attr('class', name));
        return tr;
      });
    rows.attr('class', (e) => `action-${e.action}${e.hold ? ' hold' : ''}`);
    rows.each(function fill(e) {
      const row = d3.select(this);
      const action = e.hold ? 'held' : e.action;
      row.select('td.when').text(whenUtc(e.created_at));
      row.select('td.who').text(e.actor || '—');
      row.select('td.action').attr('class', `action action-${e.hold ? 'hold' : e.action}`).text(action);
      drawObject(row.select('td.object'), e);
      const lines = e.hold ? holdLines(e) : e.detail_lines.map(lineText);
      row.select('td.detail').selectAll('div.line').data(lines).join('div').attr('class', 'line').text((t) => t);
    });
    d3.select('#page-info').text(`Page ${data.page} of ${data.pages} · ${data.total.toLocaleString()} entries`);
    d3.select('#page-prev').property('disabled', data.page <= 1);
    d3.select('#page-next').property('disabled', data.page >= data.pages);
    d3.select('#audit-status').text(data.total ? '' : 'No entries match.');
    drawHoldsNote(data);
  } catch (error) {
    d3.select('#filter-errors').text(error.message);
  }
}

form.addEventListener('submit', (event) => { event.preventDefault(); page = 1; load(); });
form.addEventListener('reset', () => setTimeout(() => form.requestSubmit(), 0));
d3.select('#page-prev').on('click', () => { page = Math.max(1, page - 1); load(); });
d3.select('#page-next').on('click', () => { page += 1; load(); });
d3.select('#holds-toggle').on('click', () => { holds = holds === 'collapsed' ? 'all' : 'collapsed'; page = 1; load(); });
load();
