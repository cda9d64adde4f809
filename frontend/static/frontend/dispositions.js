// Decision reasons: the managed list of disposition codes. Everyone reads it; managers add,
// reword and retire codes. Data is written with .text(), never as HTML.
import { getJson, patchJson, postJson } from './api.js';

const d3 = window.d3;
const isManager = document.querySelector('section.dispositions').dataset.manager === 'true';
const VERDICT = { flag: 'Flag as fraud', clear: 'Clear (legitimate)' };
const statusLine = d3.select('#reasons-status');
const say = (text, isError = false) => statusLine.text(text).classed('error', isError);

async function change(code, body, done) {
  try {
    await patchJson(`/api/dispositions/${encodeURIComponent(code)}`, body);
    say(done);
    load();
  } catch (error) { say(`Could not change ${code}: ${error.message}`, true); }
}

function draw(codes) {
  const rows = d3.select('#reasons-table tbody').selectAll('tr').data(codes, (d) => d.code).join('tr');
  rows.classed('retired', (d) => !d.active).each(function fill(d) {
    const row = d3.select(this);
    row.selectAll('*').remove();
    row.append('td').text(VERDICT[d.verdict]);
    row.append('td').append('code').text(d.code);
    row.append('td').attr('class', 'label').text(d.label);
    row.append('td').text(d.active ? 'In use' : 'Retired');
    if (!isManager) return;
    const cell = row.append('td').attr('class', 'actions');
    cell.append('button').attr('type', 'button').text('Rename').on('click', () => {
      const label = window.prompt(`New label for ${d.code}`, d.label);
      if (label !== null && label.trim() && label !== d.label) change(d.code, { label: label.trim() }, `Renamed ${d.code}.`);
    });
    cell.append('button').attr('type', 'button').text(d.active ? 'Retire' : 'Bring back')
      .on('click', () => change(d.code, { active: !d.active }, d.active ? `Retired ${d.code}.` : `${d.code} is offered again.`));
  });
}

async function load() {
  try {
    const body = await getJson('/api/dispositions?all=true');
    draw(body.results);
  } catch (error) { say(`Could not load the reasons: ${error.message}`, true); }
}

const form = document.getElementById('reason-form');
if (form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    try {
      const made = await postJson('/api/dispositions', values);
      d3.select('#reason-errors').text('');
      form.reset();
      say(`Added ${made.code}.`);
      load();
    } catch (error) { d3.select('#reason-errors').text(error.message); }
  });
}
load();
