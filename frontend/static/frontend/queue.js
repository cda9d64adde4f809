// The review queue: tier counts, filters, the open cases of one tier, "Next case", bulk
// decisions for managers. Polls for new scores. Every piece of data is written with
// .text(), never as HTML.
import { getJson, postJson, putJson, query } from './api.js';
import {
  TIERS, TIER_SHAPE, TIER_NAME, SLA_WORD, clock, countText, dispositions, fillDispositionSelect, helpDialog, money,
  onShortcut, slaText, tierLabel, when, VERDICT_DONE,
} from './common.js';

const d3 = window.d3;
const POLL_MS = 5000;
const PAGE = 50;
const isManager = document.querySelector('section.queue').dataset.manager === 'true';
const me = document.querySelector('.topbar .who')?.textContent || '';
const params = new URLSearchParams(window.location.search);
// The tabs: the three tiers' open cases, then escalated and snoozed cases of every tier (their
// own tabs, so an escalation never drops out of sight and a snoozed case can be found).
const ESCALATED = 'escalated';
const SNOOZED = 'snoozed';
const STATUS_TABS = [ESCALATED, SNOOZED];
const TABS = [...TIERS, ...STATUS_TABS];
const TAB_SHAPE = { ...TIER_SHAPE, [ESCALATED]: '⚑', [SNOOZED]: '◷' };
const TAB_NAME = { ...TIER_NAME, [ESCALATED]: 'Escalated', [SNOOZED]: 'Snoozed' };
const byStatus = () => STATUS_TABS.includes(currentTier);
let currentTier = TABS.includes(params.get('tier')) ? params.get('tier') : 'high';
// One row per account's case (what reviewers work), or per scored event.
let view = params.get('view') === 'alerts' ? 'alerts' : 'accounts';
const byAccount = () => view === 'accounts';
const alertIds = new Map();  // row id -> the alerts its decision covers
let limit = PAGE;
let since = null;
// New cases since the reviewer last looked: counted over every poll until they mark them
// seen or change what the list shows (a tab, the filters), and kept highlighted meanwhile.
let unseen = 0;
const unseenIds = new Set();
let busy = false;
const selected = new Set();

const statusLine = d3.select('#status');
const say = (message, isError = false) => statusLine.text(message).classed('error', isError);
const form = document.getElementById('filters');

function filterValues() {
  const values = Object.fromEntries(new FormData(form).entries());
  return values;
}

function fillFiltersFromUrl() {
  for (const element of form.elements) {
    if (element.name && params.has(element.name)) element.value = params.get(element.name);
  }
}

function showFilterErrors(errors) {
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  errors.forEach((e) => { if (form.elements[e.field]) form.elements[e.field].setAttribute('aria-invalid', 'true'); });
  // Named as the form names them ("Amount ≤"), not by their parameter names.
  const labelOf = (field) => form.elements[field]?.closest('label')?.firstChild?.textContent.trim() || field;
  d3.select('#filter-errors').text(errors.map((e) => `${labelOf(e.field)}: ${e.message}`).join(' · '));
}

function markSeen() {
  unseen = 0;
  unseenIds.clear();
}

function drawNewCases() {
  const banner = d3.select('#new-cases').attr('hidden', unseen ? null : '');
  banner.selectAll('*').remove();
  if (!unseen) return;
  banner.append('span').text(`${unseen.toLocaleString()} new case${unseen === 1 ? '' : 's'} in this list since you last looked (highlighted). `);
  banner.append('button').attr('type', 'button').attr('class', 'text-button').text('Mark as seen')
    .on('click', () => { markSeen(); drawNewCases(); d3.selectAll('#cases tbody tr.is-new').classed('is-new', false); });
}

function drawCounts(counts, capped) {
  const data = TIERS.map((tier) => ({ tier, count: counts[tier] || 0, capped: capped.includes(tier) }));
  const width = 360;
  const barHeight = 18;
  // Linear: bar lengths compare like the numbers (a square-root scale drew 133 vs 1,184 as 1:3).
  const x = d3.scaleLinear().domain([0, d3.max(data, (d) => d.count) || 1]).range([0, width - 170]);
  const svg = d3.select('#tier-chart').selectAll('svg').data([null]).join('svg')
    .attr('viewBox', `0 0 ${width} ${data.length * (barHeight + 4)}`)
    .attr('role', 'img')
    .attr('aria-label', 'Open cases per tier');
  const rows = svg.selectAll('g.row').data(data, (d) => d.tier).join((enter) => {
    const g = enter.append('g').attr('class', (d) => `row tier-${d.tier}`);
    g.append('text').attr('class', 'label').attr('x', 0).attr('y', barHeight * 0.75);
    g.append('rect').attr('x', 90).attr('height', barHeight).attr('rx', 2);
    g.append('text').attr('class', 'value').attr('y', barHeight * 0.75);
    return g;
  });
  rows.attr('transform', (d, i) => `translate(0,${i * (barHeight + 4)})`);
  rows.select('text.label').text((d) => tierLabel(d.tier));
  rows.select('rect').transition().duration(300).attr('width', (d) => Math.max(2, x(d.count)));
  rows.select('text.value').attr('x', (d) => 96 + Math.max(2, x(d.count))).text((d) => countText(d.count, d.capped));
}

function drawTabs(counts, capped) {
  d3.select('#tier-tabs').selectAll('button').data(TABS).join('button')
    .attr('type', 'button')
    .attr('role', 'tab')
    .attr('class', (tier) => `tab tier-${tier}`)
    .attr('aria-selected', (tier) => String(tier === currentTier))
    .attr('aria-keyshortcuts', (tier) => String(TABS.indexOf(tier) + 1))
    .each(function fill(tier) {
      const button = d3.select(this);
      button.selectAll('*').remove();
      button.append('span').attr('class', 'shape').attr('aria-hidden', 'true').text(TAB_SHAPE[tier]);
      button.append('span').text(` ${TAB_NAME[tier]} `);
      button.append('span').attr('class', 'count').text(countText(counts[tier] || 0, capped.includes(tier)));
    })
    .on('click', (event, tier) => selectTier(tier));
}

function selectTier(tier) {
  currentTier = tier;
  limit = PAGE;
  selected.clear();
  const url = new URL(window.location.href);
  url.searchParams.set('tier', tier);
  window.history.replaceState(null, '', url);
  refresh();
}

// Who has the case: the reviewer working it now, whose case it is, when a snooze ends.
function holderText(d) {
  const parts = [];
  if (d.claimed_by) parts.push(`${d.claimed_by} until ${clock(d.claim_expires_at)}`);
  if (d.assigned_to && d.assigned_to !== d.claimed_by) parts.push(`assigned to ${d.assigned_to === me ? 'you' : d.assigned_to}`);
  if (d.snoozed_until) parts.push(`snoozed until ${when(d.snoozed_until)}`);
  return parts.length ? parts.join(' · ') : '—';
}

const COLUMNS = (d) => [
  tierLabel(d.tier), String(d.case_max_risk_score ?? d.risk_score), money(d.case_expected_loss ?? d.expected_loss),
  d.amount === null ? '—' : `${money(d.amount)} ${d.currency}`,
  d.alerts > 1 ? `${d.account_id} · ${d.alerts} alerts` : d.account_id, null, d.event_type || '—',
  when(d.timestamp), holderText(d),
  slaText(d.sla_due_at, d.sla_state),
];

function drawCases(items) {
  const rows = d3.select('#cases tbody').selectAll('tr').data(items, (d) => d.transaction_id).join((enter) => {
    const tr = enter.append('tr');
    if (isManager) {
      tr.append('td').append('input').attr('type', 'checkbox').attr('class', 'pick');
    }
    for (let i = 0; i < 10; i += 1) tr.append('td').attr('class', `c${i}`);
    tr.select('td.c5').append('a').attr('class', 'open-case');
    const actions = tr.append('td').attr('class', 'actions');
    actions.append('button').attr('type', 'button').attr('class', 'clear').text('Clear');
    actions.append('button').attr('type', 'button').attr('class', 'flag').text('Flag fraud');
    return tr;
  });
  alertIds.clear();
  items.forEach((d) => alertIds.set(d.transaction_id, d.alert_ids || [d.transaction_id]));
  rows.attr('data-transaction-id', (d) => d.transaction_id)
    .attr('data-account', (d) => d.account_id)
    .classed('is-new', (d) => d.is_new || unseenIds.has(d.transaction_id))
    .classed('taken', (d) => Boolean(d.claimed_by));
  rows.each(function fill(d) {
    const row = d3.select(this);
    COLUMNS(d).forEach((value, i) => { if (value !== null) row.select(`td.c${i}`).text(value); });
    row.select('td.c0').attr('class', `c0 tier-cell tier-${d.tier}`);
    // Past due cases stand out by words and a mark, not colour alone.
    row.classed('sla-breached', d.sla_state === 'breached');
    row.select('td.c9').attr('class', `c9 sla sla-${d.sla_state || 'none'}`)
      .attr('title', d.sla_state ? `${SLA_WORD[d.sla_state]}: due ${when(d.sla_due_at)} UTC` : null)
      .text(`${d.sla_state === 'breached' ? '⚠ ' : ''}${slaText(d.sla_due_at, d.sla_state)}`);
    row.select('a.open-case').attr('href', `/cases/${d.transaction_id}/`).text(d.event_id);
    const takenBySomeoneElse = d.claimed_by && d.claimed_by !== me;
    // A case assigned to someone else is theirs: the server refuses others (managers excepted).
    const someoneElses = d.assigned_to && d.assigned_to !== me && !isManager;
    // A case another reviewer holds cannot be decided in bulk (the server would refuse the
    // whole batch), so it cannot be selected; one taken meanwhile drops out of the selection.
    if (takenBySomeoneElse) selected.delete(d.transaction_id);
    row.select('input.pick')
      .property('checked', selected.has(d.transaction_id))
      .property('disabled', Boolean(takenBySomeoneElse))
      .attr('title', takenBySomeoneElse ? `${d.claimed_by} is working this case` : null)
      .attr('aria-label', takenBySomeoneElse ? `Case ${d.event_id} is held by ${d.claimed_by}` : `Select case ${d.event_id}`)
      .on('change', (event) => {
        if (event.target.checked) selected.add(d.transaction_id); else selected.delete(d.transaction_id);
        drawBulkBar();
      });
    row.selectAll('td.actions button').property('disabled', Boolean(takenBySomeoneElse || someoneElses))
      .attr('title', takenBySomeoneElse ? `${d.claimed_by} is working this case`
        : someoneElses ? `This case is assigned to ${d.assigned_to}` : null);
  });
  rows.select('button.clear').on('click', function ask(event, d) { askReason(this, d, 'clear'); });
  rows.select('button.flag').on('click', function ask(event, d) { askReason(this, d, 'flag'); });
}

// Every clear or flag says why: the row's buttons give way to a list of the verdict's
// reasons; choosing one decides, Escape or leaving the list puts the buttons back.
async function askReason(button, item, verdict) {
  const cell = d3.select(button.parentNode);
  const codes = (await dispositions())[verdict];
  cell.selectAll('button').attr('hidden', '');
  const what = byAccount() ? `account ${item.account_id}'s case` : `case ${item.event_id}`;
  const select = cell.append('select').attr('class', 'reason')
    .attr('aria-label', `Reason to ${verdict === 'flag' ? 'flag' : 'clear'} ${what}`);
  fillDispositionSelect(select, codes, verdict === 'flag' ? 'Fraud because…' : 'Legitimate because…');
  const restore = () => { select.remove(); cell.selectAll('button').attr('hidden', null); };
  select.on('change', () => { const code = select.property('value'); if (code) decide(item, verdict, code); })
    .on('keydown', (event) => { if (event.key === 'Escape') restore(); })
    .on('blur', () => { if (!select.property('value')) restore(); });
  select.node().focus();
}

function drawBulkBar() {
  if (!isManager) return;
  const n = selected.size;
  d3.select('#selected-count').text(n ? `${n} case${n === 1 ? '' : 's'} selected` : 'No cases selected');
  d3.selectAll('#bulk-clear, #bulk-flag').property('disabled', n === 0);
  const shown = d3.selectAll('#cases tbody input.pick').nodes().filter((el) => !el.disabled);
  d3.select('#select-all').property('checked', shown.length > 0 && shown.every((el) => el.checked));
}

// A decision from a row takes one click, so it can be taken back for the undo window:
// the status line offers Undo until the server's deadline.
let undoTimer = null;
function offerUndo(item, verdict, until) {
  clearTimeout(undoTimer);
  const bar = d3.select('#undo-bar').attr('hidden', null);
  bar.selectAll('*').remove();
  const done = verdict === 'flag' ? 'Flagged' : 'Cleared';
  bar.append('span').text(item.alerts > 1
    ? `${done} account ${item.account_id}'s case: ${item.alerts} alerts. `
    : `${done} ${item.event_id} (account ${item.account_id}). `);
  bar.append('button').attr('type', 'button').attr('class', 'text-button').text('Undo')
    .on('click', async () => {
      clearTimeout(undoTimer);
      bar.attr('hidden', '');
      // The list is redrawn first: its redraw empties the status line, which must keep the answer.
      let message;
      let failed = false;
      try {
        const body = await postJson(`/api/cases/${item.transaction_id}/undo`);
        message = body.undone_alerts > 1 ? `Undone: ${body.undone_alerts} alerts of account ${item.account_id} are open again.`
          : `Undone: ${item.event_id} is open again.`;
      } catch (error) { message = `Could not undo: ${error.message}`; failed = true; }
      await refresh();
      say(message, failed);
    });
  undoTimer = setTimeout(() => bar.attr('hidden', ''), Math.max(0, new Date(until) - Date.now()));
}

async function decide(item, verdict, disposition) {
  if (busy) return;
  busy = true;
  try {
    // The status the row showed: a case that changed since is a 409, never overwritten.
    const decision = await postJson(`/api/cases/${item.transaction_id}/decision`, {
      verdict, disposition, expected_status: item.review_status, scope: byAccount() ? 'case' : 'alert',
    });
    offerUndo(item, verdict, decision.undo_until);
  } catch (error) {
    say(`${error.status === 409 ? 'Conflict' : 'Could not save the decision'}: ${error.message}`, true);
  } finally {
    busy = false;
    await refresh();
  }
}

async function nextCase() {
  try {
    const body = await postJson(`/api/queue/next${query({ ...filterValues() })}`);
    if (!body.case) { say(body.message); return; }
    window.location.assign(`/cases/${body.case.transaction_id}/`);
  } catch (error) {
    if (error.status === 400) showFilterErrors(error.errors);
    say(`Could not take the next case: ${error.message}`, true);
  }
}

async function refresh({ poll = false } = {}) {
  try {
    const filters = filterValues();
    const tab = byStatus() ? { status: currentTier } : { tier: currentTier };
    const data = await getJson(`/api/queue${query({ ...filters, ...tab, view, limit, since: poll ? since : null })}`);
    showFilterErrors([]);
    if (!poll) markSeen();
    if (poll && data.new_count) {
      unseen += data.new_count;
      data.items.filter((d) => d.is_new).forEach((d) => unseenIds.add(d.transaction_id));
    }
    drawNewCases();
    since = data.as_of;
    drawCounts(data.counts, data.capped);
    drawTabs(data.counts, data.capped);
    // With filters set, the tabs and the chart count the matching cases, and say so.
    d3.select('#tier-tabs').attr('aria-label', data.counts_filtered ? 'Tiers (cases matching the filters)' : 'Tiers')
      .classed('filtered', data.counts_filtered);
    d3.select('#tier-chart').attr('aria-label', data.counts_filtered ? 'Open cases per tier matching the filters' : 'Open cases per tier');
    d3.select('#counts-note').attr('hidden', data.counts_filtered ? null : '');
    drawCases(data.items);
    drawBulkBar();
    d3.select('#more').attr('hidden', data.has_more ? null : '');
    const filtered = Object.values(filters).some((v) => String(v).trim() !== '');
    const shown = data.items.length;
    const kind = byStatus() ? currentTier : `open ${currentTier}-tier`;
    d3.select('#view-note').attr('hidden', byAccount() ? null : '');
    if (!shown) say(`No ${kind} cases${filtered ? ' match the filters' : ''}.`);
    else if (filtered) {
      const many = shown !== 1 || data.has_more;
      say(`Showing ${shown}${data.has_more ? '+' : ''} ${byStatus() ? currentTier : `${currentTier}-tier`} case${many ? 's' : ''} that match${many ? '' : 'es'} the filters.`);
    }
    else if (!statusLine.classed('error') && !poll) say('');
  } catch (error) {
    if (error.status === 400) {
      // The problem is said once, under the filters; the rows of the previous filters go,
      // since they no longer answer what the form asks.
      showFilterErrors(error.errors);
      drawCases([]);
      d3.select('#more').attr('hidden', '');
      say('Correct the filters to see cases.', true);
      return;
    }
    say(`Could not load the queue: ${error.message}`, true);
  }
}

// The alerts the selected rows stand for (each row's case in the accounts view).
const chosenAlerts = () => [...selected].flatMap((id) => alertIds.get(id) || [id]);

function setupBulk() {
  if (!isManager) return;
  const dialog = document.getElementById('bulk-dialog');
  let verdict = null;
  let refused = [];
  const open = async (v) => {
    verdict = v;
    refused = [];
    fillDispositionSelect(d3.select('#bulk-reason'), (await dispositions())[v]);
    d3.select('#bulk-skip').attr('hidden', '');
    d3.select('#bulk-reason').on('change', () => d3.select('#bulk-confirm').property('disabled', !document.getElementById('bulk-reason').value));
    d3.select('#bulk-title').text(v === 'flag' ? 'Flag selected cases as fraud?' : 'Clear selected cases as legitimate?');
    const alerts = chosenAlerts().length;
    const what = byAccount() ? `${selected.size} account${selected.size === 1 ? '' : 's'}' cases (${alerts} alert${alerts === 1 ? '' : 's'})`
      : `${selected.size} case${selected.size === 1 ? '' : 's'}`;
    d3.select('#bulk-summary').text(`${what} will be ${VERDICT_DONE[v].toLowerCase()}. `
      + 'All or nothing: if any case was decided or taken meanwhile, nothing is saved and the cases are listed.');
    d3.select('#bulk-errors').text('');
    d3.select('#bulk-conflicts').selectAll('li').remove();
    d3.select('#bulk-confirm').property('disabled', true);  // until a reason is chosen
    dialog.showModal();
  };
  d3.select('#bulk-clear').on('click', () => open('clear'));
  d3.select('#bulk-flag').on('click', () => open('flag'));
  d3.select('#bulk-cancel').on('click', () => dialog.close());
  d3.select('#select-all').on('change', (event) => {
    d3.selectAll('#cases tbody tr').each(function pick(d) {
      const box = this.querySelector('input.pick');
      if (box.disabled) return;  // held by another reviewer
      if (event.target.checked) selected.add(d.transaction_id); else selected.delete(d.transaction_id);
      box.checked = event.target.checked;
    });
    drawBulkBar();
  });
  const send = async (ids) => {
    d3.selectAll('#bulk-confirm, #bulk-skip').property('disabled', true);
    try {
      const body = await postJson('/api/cases/bulk', {
        verdict, transaction_ids: ids, disposition: document.getElementById('bulk-reason').value,
        note: document.getElementById('bulk-note').value,
      });
      dialog.close();
      selected.clear();
      const skipped = refused.length ? ` (${refused.length} skipped: decided or taken meanwhile)` : '';
      const unit = byAccount() ? 'alert' : 'case';
      // Redrawn first: the redraw empties the status line, which must keep the answer.
      await refresh();
      say(`${VERDICT_DONE[verdict]}: ${body.decided.length} ${unit}${body.decided.length === 1 ? '' : 's'}${skipped}.`);
    } catch (error) {
      const conflicts = error.status === 409 ? error.errors.filter((e) => e.transaction_id) : [];
      d3.select('#bulk-errors').text(conflicts.length ? 'Nothing was saved. These cases cannot be decided now:' : error.message);
      d3.select('#bulk-conflicts').selectAll('li').data(conflicts).join('li').text((e) => e.message);
      // "Skip the ones I can't take": the rest can still go in one all-or-nothing step.
      refused = conflicts.map((e) => e.transaction_id);
      const others = ids.filter((id) => !refused.includes(id));
      d3.select('#bulk-skip').attr('hidden', conflicts.length && others.length ? null : '')
        .text(`Decide the other ${others.length}`).on('click', () => send(others));
      d3.selectAll('#bulk-confirm, #bulk-skip').property('disabled', false);
    }
  };
  d3.select('#bulk-confirm').on('click', () => send(chosenAlerts()));
}

// The address always says what is shown, so a reload or a shared link shows the same cases.
function applyFilters() {
  limit = PAGE;
  const url = new URL(window.location.href);
  url.search = query({ ...filterValues(), tier: currentTier, view: view === 'alerts' ? 'alerts' : null });
  window.history.replaceState(null, '', url);
  refresh();
}

d3.select('#view').property('value', view).on('change', (event) => {
  view = event.target.value;
  selected.clear();
  applyFilters();
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilters();
});
// The browser empties the fields after this event; the address and the list follow once it has.
form.addEventListener('reset', () => {
  showFilterErrors([]);
  setTimeout(applyFilters, 0);
});
d3.select('#more').on('click', () => { limit += PAGE; refresh(); });
d3.select('#next-case').on('click', nextCase);
const toggleHelp = helpDialog();
d3.select('#show-help').on('click', toggleHelp);
onShortcut({
  n: nextCase,
  j: nextCase,
  '/': () => form.elements.q.focus(),
  1: () => selectTier('high'),
  2: () => selectTier('medium'),
  3: () => selectTier('low'),
  4: () => selectTier(ESCALATED),
  5: () => selectTier(SNOOZED),
  '?': toggleHelp,
});

// On shift: the round-robin (when the deployment turns it on) hands this reviewer cases.
async function setupShift() {
  const box = document.getElementById('on-shift');
  const [{ on_shift: on }, { auto_assign_tiers: tiers }] = await Promise.all([getJson('/api/me/shift'), getJson('/api/reviewers')]);
  box.checked = on;
  box.closest('label').title = tiers.length ? `While on shift you are assigned ${tiers.join(' and ')}-tier cases in turn`
    : 'Automatic assignment is off here; managers assign cases by hand';
  box.addEventListener('change', async () => {
    try {
      const body = await putJson('/api/me/shift', { on_shift: box.checked });
      say(body.on_shift ? 'You are on shift.' : 'You are off shift: no new cases are assigned to you.');
    } catch (error) { box.checked = !box.checked; say(`Could not change your shift: ${error.message}`, true); }
  });
}

fillFiltersFromUrl();
setupBulk();
setupShift().catch((error) => say(`Could not read your shift: ${error.message}`, true));
refresh();
setInterval(() => { if (!busy && document.visibilityState === 'visible') refresh({ poll: true }); }, POLL_MS);
