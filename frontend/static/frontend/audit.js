// The audit log for managers: filters, a paginated table, details as plain text.
import { getJson, query } from './api.js';
import { when } from './common.js';

const d3 = window.d3;
const form = document.getElementById('audit-filters');
const PAGE_SIZE = 50;
let page = 1;
let knownActions = [];

const detailText = (detail) => Object.entries(detail || {})
  .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`).join(' · ');

function drawActions(actions) {
  if (actions.join() === knownActions.join()) return;
  knownActions = actions;
  const select = d3.select(form.elements.action);
  const chosen = form.elements.action.value;
  select.selectAll('option.action').data(actions).join('option').attr('class', 'action').attr('value', (a) => a).text((a) => a);
  form.elements.action.value = chosen;
}

async function load() {
  const filters = Object.fromEntries(new FormData(form).entries());
  try {
    const data = await getJson(`/api/audit${query({ ...filters, page, page_size: PAGE_SIZE })}`);
    d3.select('#filter-errors').text('');
    drawActions(data.actions);
    const rows = d3.select('#audit-table tbody').selectAll('tr').data(data.items, (e) => e.id).join((enter) => {
      const tr = enter.append('tr');
      for (let i = 0; i < 5; i += 1) tr.append('td');
      return tr;
    });
    rows.each(function fill(e) {
      const cells = d3.select(this).selectAll('td').nodes();
      [when(e.created_at), e.actor || '—', e.action, [e.object_type, e.object_id].filter(Boolean).join(' ') || '—', detailText(e.detail)]
        .forEach((value, i) => d3.select(cells[i]).text(value));
      d3.select(cells[2]).attr('class', `action action-${e.action}`);
      d3.select(cells[4]).attr('class', 'detail');
    });
    d3.select('#page-info').text(`Page ${data.page} of ${data.pages} · ${data.total.toLocaleString()} entries`);
    d3.select('#page-prev').property('disabled', data.page <= 1);
    d3.select('#page-next').property('disabled', data.page >= data.pages);
    d3.select('#audit-status').text(data.total ? '' : 'No entries match.');
  } catch (error) {
    d3.select('#filter-errors').text(error.message);
  }
}

form.addEventListener('submit', (event) => { event.preventDefault(); page = 1; load(); });
form.addEventListener('reset', () => setTimeout(() => form.requestSubmit(), 0));
d3.select('#page-prev').on('click', () => { page = Math.max(1, page - 1); load(); });
d3.select('#page-next').on('click', () => { page += 1; load(); });
load();
