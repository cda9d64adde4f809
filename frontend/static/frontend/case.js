// One case: the event, why it scored, the account's history and linked accounts, and the
// decision buttons with keyboard shortcuts and a short undo window.
// All data is written with .text() / textContent, never as HTML.
import { deleteJson, getJson, patchJson, postJson } from './api.js';
import { drawNetwork, STATE_WORD } from './charts/network.js';
import { drawReasons, listReasons } from './charts/reasons.js';
import { drawTimeline } from './charts/timeline.js';
import {
  SLA_WORD, STATUS_WORD, TIERS, VERDICT_DONE, clock, countText, dispositions, fillDispositionSelect, helpDialog, money, moneyIn,
  onShortcut, slaText, tierBadge, tierLabel, when, whenUtc,
} from './common.js';

const d3 = window.d3;
const page = document.querySelector('section.case');
const caseId = Number(page.dataset.transactionId);
const undoSeconds = Number(page.dataset.undoSeconds);
const claimSeconds = Number(page.dataset.claimSeconds);
const me = document.querySelector('.topbar .who')?.textContent || '';
const isManager = page.dataset.manager === 'true';
const EXPLANATION_POLL_MS = 2000;
const HISTORY_KEY = 'workbench.visited';
const UNDO_KEY = 'workbench.lastDecision';
let current = null;
let busy = false;
let undoTimer = null;

const message = d3.select('#message');
const say = (text, kind = 'info') => message.attr('class', `message ${kind}`).text(text);

// ------------------------------------------------------------------ loading

async function loadCase() {
  current = await getJson(`/api/cases/${caseId}`);
  drawHeader();
  drawFields(current.event);
  drawCaseDecisions(current.decisions);
  drawCaseAlerts(current.case_alerts);
  drawRuleHits(current.rules);
  drawWhy();
  return current;
}

const ACTION_WORDS = {
  block: 'blocked', review: 'sent to review', allow: 'allowed without review',
  tier_high: 'set to the high tier', tier_medium: 'set to the medium tier', tier_low: 'set to the low tier',
};

// What the team's lists and rules did to this score: the deciding action, the model's own
// tier when a rule changed it, and every hit in words.
function drawRuleHits(rules) {
  const card = d3.select('#rule-hits-card');
  card.attr('hidden', rules && rules.hits.length ? null : true);
  if (!rules || !rules.hits.length) return;
  const parts = [];
  if (rules.action) parts.push(`The event was ${ACTION_WORDS[rules.action] || rules.action}`);
  if (rules.model) parts.push(`the model alone gave tier ${rules.model.tier}, risk score ${rules.model.risk_score}`);
  if (rules.version) parts.push(`rule set version ${rules.version}`);
  d3.select('#rule-outcome').text(parts.length ? `${parts.join('; ')}.` : 'Rules added reasons only.');
  d3.select('#rule-hits').selectAll('li').data(rules.hits).join('li')
    .text((d) => `${d.reason} — ${d.rule.startsWith('list:') ? 'list' : 'rule'} “${d.rule.replace(/^list:/, '')}”, ${ACTION_WORDS[d.action] || 'reason only'}`);
}

function drawHeader() {
  const { event, score } = current;
  tierBadge(d3.select('#tier-badge'), score.tier);
  d3.select('#case-title').text(`Case ${current.transaction_id} · ${event.event_id}`);
  d3.select('#case-facts').text([
    `risk score ${score.risk_score}/100`,
    `probability ${(score.probability * 100).toFixed(1)}%`,
    `expected loss ${moneyIn(score.expected_loss)}`,
    event.amount === null ? 'no amount' : `amount ${money(event.amount)} ${event.currency}`,
    `account ${event.account_id}`,
    `model ${score.model_version}`,
  ].join(' · '));
  d3.select('#why-score').text(`${score.risk_score} (${tierLabel(score.tier)})`);
  d3.select('#case-status').attr('class', `case-status status-${current.review_status}`)
    .text(STATUS_WORD[current.review_status] || current.review_status);
  const { sla } = current;
  d3.select('#case-sla').attr('class', `case-sla sla-${sla.state || 'none'}`)
    .attr('title', sla.state ? `Due ${whenUtc(sla.due_at)}: ${sla.hours} h after the event for this tier` : null)
    .text(sla.state ? `${sla.state === 'breached' ? '⚠ ' : ''}${SLA_WORD[sla.state][0].toUpperCase()}${SLA_WORD[sla.state].slice(1)}: ${slaText(sla.due_at, sla.state)} (due ${clock(sla.due_at)})` : '');
  const claim = d3.select('#claim');
  if (!current.claimed_by) claim.attr('class', 'claim').text(current.review_status === 'open' ? 'Nobody holds this case' : '');
  else if (current.claimed_by === me) claim.attr('class', 'claim mine').text(`Yours until ${clock(current.claim_expires_at)}`);
  else claim.attr('class', 'claim taken').text(`Taken by ${current.claimed_by} until ${clock(current.claim_expires_at)}`);
  d3.select('#take').attr('hidden', current.review_status === 'open' && !current.claimed_by ? null : '');
  const undecided = ['open', 'escalated', 'snoozed'].includes(current.review_status);
  const parts = [];
  if (current.assigned_to) parts.push(`Assigned to ${current.assigned_to === me ? 'you' : current.assigned_to}`);
  if (current.review_status === 'snoozed') parts.push(`snoozed until ${whenUtc(current.snoozed_until)}`);
  d3.select('#assignment').classed('mine', current.assigned_to === me).text(parts.join(' · '));
  d3.select('#snooze-open').attr('hidden', current.review_status === 'open' ? null : '');
  d3.select('#wake').attr('hidden', current.review_status === 'snoozed' ? null : '');
  d3.select('#assign-open').attr('hidden', undecided ? null : '')
    .text(current.assigned_to ? 'Reassign… ' : 'Assign… ').append('kbd').text('a');
}

function drawFields(event) {
  const rows = Object.entries(event).filter(([name]) => name !== 'attributes');
  Object.entries(event.attributes || {}).forEach(([name, value]) => rows.push([`attributes.${name}`, value]));
  const dl = d3.select('#event-fields');
  dl.selectAll('*').remove();
  rows.forEach(([name, value]) => {
    dl.append('dt').text(name.replaceAll('_', ' '));
    const shown = value === null || value === '' ? '—' : (name.endsWith('timestamp') || name.endsWith('_at')) ? whenUtc(value) : String(value);
    dl.append('dd').text(shown);
  });
  dl.append('dt').text('client');
  dl.append('dd').text(current.client);
  dl.append('dt').text('label');
  dl.append('dd').text(current.label.is_fraud === null ? 'none yet'
    : `${current.label.is_fraud ? 'fraud' : 'legitimate'} (${current.label.source || 'import'})`);
}

// The account's case: every undecided alert of the account. With more than this one, the
// decision covers them all unless the reviewer picks "this alert only".
function drawCaseAlerts(alerts) {
  const others = alerts.filter((a) => a.transaction_id !== caseId);
  d3.select('#case-alerts-card').attr('hidden', others.length ? null : '');
  d3.select('#scope').attr('hidden', others.length ? null : '');
  const loss = alerts.reduce((sum, a) => sum + a.expected_loss, 0);
  d3.select('#scope-case').text(`the whole case (${alerts.length} alerts)`);
  d3.select('#case-alerts-summary').text(`${alerts.length} undecided alert${alerts.length === 1 ? '' : 's'} of account `
    + `${current.event.account_id}, expected loss ${moneyIn(loss)} in all; a decision on the case covers them all.`);
  const rows = d3.select('#case-alerts tbody').selectAll('tr').data(alerts, (a) => a.transaction_id).join('tr');
  rows.classed('this', (a) => a.transaction_id === caseId).each(function fill(a) {
    const row = d3.select(this);
    row.selectAll('*').remove();
    const first = row.append('td');
    if (a.transaction_id === caseId) first.text(`${a.event_id} (this one)`);
    else first.append('a').attr('href', `/cases/${a.transaction_id}/`).text(a.event_id);
    row.append('td').attr('class', `tier-cell tier-${a.tier}`).text(tierLabel(a.tier));
    row.append('td').text(String(a.risk_score));
    row.append('td').text(money(a.expected_loss));
    row.append('td').text(a.amount === null ? '—' : `${money(a.amount)} ${a.currency}`);
    row.append('td').text(when(a.timestamp));
    row.append('td').text(STATUS_WORD[a.review_status] || a.review_status);
    row.append('td').attr('class', `sla-${a.sla_state || 'none'}`).text(slaText(a.sla_due_at, a.sla_state));
  });
}

const decisionScope = () => (document.getElementById('scope').hidden ? 'alert'
  : document.querySelector('#scope input:checked').value);

function drawCaseDecisions(decisions) {
  d3.select('#case-decisions').selectAll('li').data(decisions.length ? decisions : [null]).join('li')
    .attr('class', (d) => (d && d.undone_at ? 'undone' : null))
    .text((d) => (d === null ? 'No decisions yet.'
      : `${whenUtc(d.created_at)} — ${d.reviewer}: ${VERDICT_DONE[d.verdict]}${reasonText(d)}${d.note ? ` — “${d.note}”` : ''}${d.undone_at ? ' (undone)' : ''}`));
}

function reasonText(d) {
  return d.disposition ? ` (${d.disposition.label})` : '';
}

async function drawWhy() {
  const status = d3.select('#why-status');
  if (current.explanation_status === 'ready' && current.explanation) {
    status.text('Bars to the right raised the risk, to the left lowered it (SHAP values).');
    drawReasons('#reasons-chart', current.explanation);
    listReasons('#reasons', current.explanation);
    return;
  }
  if (current.explanation_status === 'failed') {
    status.text('The explanation could not be computed for this score.');
    return;
  }
  if (current.explanation_status === 'skipped') {
    status.text('Scored in a batch run, which explains only the tiers reviewed first: no explanation for this score.');
    return;
  }
  status.text('Explanation pending… it appears here as soon as it is ready.');
  setTimeout(async () => {
    try {
      const fresh = await getJson(`/api/cases/${caseId}`);
      current.explanation_status = fresh.explanation_status;
      current.explanation = fresh.explanation;
      drawWhy();
    } catch (error) { status.text(`Could not load the explanation: ${error.message}`); }
  }, EXPLANATION_POLL_MS);
}

async function loadHistory() {
  const history = await getJson(`/api/cases/${caseId}/history`);
  d3.select('#history-account').text(history.account_id);
  const s = history.summary;
  const facts = [
    ['State', STATE_WORD[s.state]],
    ['Events', `${s.events.toLocaleString()}${history.shown < s.events ? ` (latest ${history.shown} drawn)` : ''}`],
    ['Seen', `${when(s.first_seen).slice(0, 10)} → ${when(s.last_seen).slice(0, 10)}`],
    ['Total amount', money(s.total_amount)],
    ['Failed payments', String(s.failed_payments)],
    ['Devices / IPs / countries', `${s.devices} / ${s.ip_addresses} / ${s.countries}`],
    ['Risk score mean / max', s.mean_risk_score === null ? '—' : `${s.mean_risk_score.toFixed(0)} / ${s.max_risk_score}`],
    ['Labels fraud / legit', `${s.known_fraud} / ${s.known_legitimate}`],
  ];
  const summary = d3.select('#risk-summary');
  summary.selectAll('div').data(facts).join('div').attr('class', 'fact')
    .each(function fill([name, value]) {
      const el = d3.select(this);
      el.selectAll('*').remove();
      el.append('span').attr('class', 'name').text(name);
      el.append('span').attr('class', 'value').text(value);
    });
  drawTimeline('#timeline', history);
  d3.select('#account-decisions').selectAll('li').data(history.decisions.length ? history.decisions : [null]).join('li')
    .attr('class', (d) => (d && d.undone ? 'undone' : null))
    .text((d) => (d === null ? 'None.'
      : `${whenUtc(d.created_at)} — ${d.reviewer}: ${VERDICT_DONE[d.verdict]}${reasonText(d)} ${d.event_id}${d.note ? ` — “${d.note}”` : ''}${d.undone ? ' (undone)' : ''}`));
}

async function loadNetwork() {
  const network = await getJson(`/api/cases/${caseId}/network`);
  const neighbours = network.nodes.filter((n) => n.kind === 'account' && !n.center);
  d3.select('#network-status').text(neighbours.length
    ? `${neighbours.length} account${neighbours.length === 1 ? '' : 's'} shared a device, IP or merchant in the last ${network.days} days${network.truncated ? ` (showing the closest ${network.max_nodes} nodes)` : ''}.`
    : `No other account shared a device, IP or merchant in the last ${network.days} days.`);
  const open = (n) => window.location.assign(`/cases/${n.latest_case}/`);
  drawNetwork('#network-chart', network, { onOpen: open });
  setupRing(network);
  d3.select('#neighbours').selectAll('li').data(neighbours).join('li')
    .each(function fill(n) {
      const li = d3.select(this);
      li.selectAll('*').remove();
      if (n.latest_case) li.append('a').attr('href', `/cases/${n.latest_case}/`).text(n.label);
      else li.append('span').text(n.label);
      li.append('span').attr('class', `state state-${n.state}`).text(` ${STATE_WORD[n.state]}`);
    });
}

// A ring is decided at once: the accounts are listed with what links them and how many
// undecided cases each has; those sharing a device or IP are ticked, a shared merchant
// alone is not (everyone shares a busy merchant).
function setupRing(network) {
  const accounts = network.nodes.filter((n) => n.kind === 'account');
  const dialog = document.getElementById('ring-dialog');
  d3.select('#ring-open').attr('hidden', accounts.length > 1 ? null : '').on('click', async () => {
    const items = d3.select('#ring-accounts').selectAll('li').data(accounts, (n) => n.id).join('li');
    items.each(function fill(n) {
      const li = d3.select(this);
      li.selectAll('*').remove();
      const label = li.append('label');
      const ringLike = n.center || (n.via || []).some((k) => k === 'device' || k === 'ip');
      label.append('input').attr('type', 'checkbox').attr('value', n.label).property('checked', ringLike)
        .on('change', summarise);
      const via = n.center ? 'this case' : `shares ${Array.from(new Set(n.via || [])).join(', ')}`;
      label.append('span').text(` ${n.label} — ${STATE_WORD[n.state] || n.state}, ${n.open_cases || 0} undecided case${n.open_cases === 1 ? '' : 's'} (${via})`);
    });
    await fillReasons();
    d3.select('#ring-errors').text('');
    d3.select('#ring-conflicts').selectAll('li').remove();
    summarise();
    dialog.showModal();
  });
  const chosen = () => d3.selectAll('#ring-accounts input:checked').nodes().map((el) => el.value);
  function summarise() {
    const picked = new Set(chosen());
    const cases = accounts.filter((n) => picked.has(n.label)).reduce((sum, n) => sum + (n.open_cases || 0), 0);
    d3.select('#ring-summary').text(`${picked.size} account${picked.size === 1 ? '' : 's'}, ${cases} undecided case${cases === 1 ? '' : 's'}.`);
    canConfirm();
  }
  async function fillReasons() {
    const verdict = document.getElementById('ring-verdict').value;
    fillDispositionSelect(d3.select('#ring-reason'), (await dispositions())[verdict]);
    if (verdict === 'flag') d3.select('#ring-reason').property('value', 'ring');
    canConfirm();
  }
  function canConfirm() {
    d3.select('#ring-confirm').property('disabled', !document.getElementById('ring-reason').value || !chosen().length);
  }
  d3.select('#ring-reason').on('change', canConfirm);
  d3.select('#ring-verdict').on('change', fillReasons);
  d3.select('#ring-cancel').on('click', () => dialog.close());
  d3.select('#ring-confirm').on('click', async () => {
    d3.select('#ring-confirm').property('disabled', true);
    const verdict = document.getElementById('ring-verdict').value;
    try {
      const body = await postJson(`/api/cases/${caseId}/network/decision`, {
        verdict, accounts: chosen(), disposition: document.getElementById('ring-reason').value,
        note: document.getElementById('ring-note').value,
      });
      dialog.close();
      say(`${VERDICT_DONE[verdict]}: ${body.decided.length} case${body.decided.length === 1 ? '' : 's'} of ${body.accounts.length} accounts.`, 'ok');
      await Promise.all([loadCase(), loadCounts(), loadHistory(), loadNetwork()]);
    } catch (error) {
      const conflicts = error.status === 409 ? error.errors.filter((e) => e.transaction_id) : [];
      d3.select('#ring-errors').text(conflicts.length ? 'Nothing was saved. These cases cannot be decided now:' : error.message);
      d3.select('#ring-conflicts').selectAll('li').data(conflicts).join('li').text((e) => e.message);
      d3.select('#ring-confirm').property('disabled', false);
    }
  });
}

async function loadCounts() {
  const data = await getJson('/api/queue?limit=1');
  const strip = d3.select('#queue-counts');
  strip.selectAll('span').data(TIERS).join('span')
    .attr('class', (t) => `count tier-${t}`)
    .attr('data-tier', (t) => t)
    .text((t) => `${tierLabel(t)} ${countText(data.counts[t], data.capped.includes(t))}`);
}

// ------------------------------------------------------------------ actions

// Looking is not taking: a case is held only once the reviewer presses Take (t), or comes
// here with Next. Colleagues see who holds a case in the queue.
async function take() {
  if (current.review_status !== 'open') { say(`This case is already ${STATUS_WORD[current.review_status].toLowerCase()}.`, 'info'); return; }
  try {
    await postJson(`/api/cases/${caseId}/claim`);
    await loadCase();
    say(`The case is yours for ${Math.round(claimSeconds / 60)} minutes.`, 'ok');
  } catch (error) {
    say(error.status === 409 ? `Conflict: ${error.message}` : `Could not take the case: ${error.message}`, 'error');
  }
}

// Turning over someone's decision is allowed (reviewers learn more), but never by a stray
// key: a decided case says who decided it and when, and asks first.
function confirmsRedecision(verdict) {
  if (['open', 'escalated', 'snoozed'].includes(current.review_status)) return true;
  const last = (current.decisions || []).find((d) => !d.undone_at);
  const who = last ? `${last.reviewer} on ${whenUtc(last.created_at)}` : 'someone earlier';
  return window.confirm(`This case was already ${STATUS_WORD[current.review_status].toLowerCase()} by ${who}. `
    + `Change it to “${VERDICT_DONE[verdict]}”?`);
}

// Every clear and flag says why: c or f opens the verdict's reasons, a digit (or a click)
// picks one and decides, Escape leaves without deciding. Escalations need no code.
let picking = null;

async function askReason(verdict) {
  if (busy) return;
  if (!confirmsRedecision(verdict)) { say('Nothing changed.', 'info'); return; }
  if (verdict === 'escalate') { openEscalate(); return; }
  const codes = (await dispositions())[verdict];
  picking = { verdict, codes };
  const picker = d3.select('#reason-picker').attr('hidden', null);
  picker.selectAll('*').remove();
  picker.append('span').attr('class', 'prompt').text(verdict === 'flag' ? 'Fraud because:' : 'Legitimate because:');
  codes.forEach((d, i) => {
    const b = picker.append('button').attr('type', 'button').attr('class', verdict).attr('data-disposition', d.code)
      .on('click', () => pick(d.code));
    if (i < 9) b.append('kbd').text(String(i + 1));
    b.append('span').text(` ${d.label}`);
  });
  picker.append('button').attr('type', 'button').attr('class', 'text-button').text('Cancel (Esc)').on('click', closePicker);
}

function closePicker() {
  picking = null;
  d3.select('#reason-picker').attr('hidden', '').selectAll('*').remove();
}

function pick(code) {
  const { verdict } = picking;
  closePicker();
  decide(verdict, code);
}

// While the reasons are open, digits pick and Escape cancels; other shortcuts wait.
window.addEventListener('keydown', (event) => {
  if (!picking || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest && event.target.closest('input:not([type=radio]), textarea, select')) return;
  const index = Number(event.key) - 1;
  if (event.key === 'Escape') closePicker();
  else if (index >= 0 && index < Math.min(9, picking.codes.length)) pick(picking.codes[index].code);
  else return;
  event.preventDefault();
  event.stopImmediatePropagation();
}, true);

async function decide(verdict, disposition, extra = {}) {
  if (busy) return;
  busy = true;
  const note = document.getElementById('note').value;
  try {
    const decision = await postJson(`/api/cases/${caseId}/decision`, {
      verdict, disposition, note, expected_status: current.review_status, scope: decisionScope(), ...extra,
    });
    sessionStorage.setItem(UNDO_KEY, JSON.stringify({ caseId, until: decision.undo_until }));
    document.getElementById('note').value = '';
    const many = decision.decided.length > 1 ? ` (${decision.decided.length} alerts of this account)` : '';
    say(`${VERDICT_DONE[verdict]}${many}. Press u to undo within ${undoSeconds} s, n for the next case.`, 'ok');
    await Promise.all([loadCase(), loadCounts(), loadHistory()]);
    armUndo();
  } catch (error) {
    if (error.status === 409) {
      say(`Conflict — your decision was not saved: ${error.message}`, 'error');
      await loadCase();
    } else {
      say(`Could not save the decision: ${error.message}`, 'error');
    }
  } finally {
    busy = false;
  }
}

function lastDecision() {
  try { return JSON.parse(sessionStorage.getItem(UNDO_KEY)); } catch { return null; }
}

function armUndo() {
  const last = lastDecision();
  const button = d3.select('#undo');
  clearInterval(undoTimer);
  const tick = () => {
    const left = last ? Math.ceil((new Date(last.until) - Date.now()) / 1000) : 0;
    if (left <= 0) {
      button.property('disabled', true).text('Undo ').append('kbd').text('u');
      clearInterval(undoTimer);
      return;
    }
    button.property('disabled', false).text(`Undo (${left} s) `).append('kbd').text('u');
  };
  tick();
  undoTimer = setInterval(tick, 1000);
}

async function undo() {
  const last = lastDecision();
  if (!last || new Date(last.until) < Date.now()) { say('Nothing to undo: the undo window has passed.', 'error'); return; }
  try {
    const body = await postJson(`/api/cases/${last.caseId}/undo`);
    sessionStorage.removeItem(UNDO_KEY);
    armUndo();
    if (last.caseId !== caseId) { window.location.assign(`/cases/${last.caseId}/`); return; }
    const many = body.undone_alerts > 1 ? ` (${body.undone_alerts} alerts)` : '';
    say(`Decision undone${many}; the case is ${STATUS_WORD[body.review_status].toLowerCase()} again.`, 'ok');
    await Promise.all([loadCase(), loadCounts(), loadHistory()]);
  } catch (error) {
    say(`Could not undo: ${error.message}`, 'error');
  }
}

async function nextCase() {
  try {
    const body = await postJson(`/api/queue/next?skip=${caseId}`);
    if (!body.case) { say(body.message, 'ok'); return; }
    window.location.assign(`/cases/${body.case.transaction_id}/`);
  } catch (error) { say(`Could not take the next case: ${error.message}`, 'error'); }
}

function visited() {
  try { return JSON.parse(sessionStorage.getItem(HISTORY_KEY)) || []; } catch { return []; }
}

function previousCase() {
  const trail = visited();
  const here = trail.lastIndexOf(caseId);
  const before = here > 0 ? trail[here - 1] : null;
  if (!before) { say('This is the first case you opened in this session.', 'info'); return; }
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(trail.slice(0, here)));
  window.location.assign(`/cases/${before}/`);
}

function rememberVisit() {
  const trail = visited().filter((id) => id !== caseId);
  trail.push(caseId);
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(trail.slice(-50)));
}

// ------------------------------------------------------------------ escalate, snooze, assign

// Who a case can go to: every reviewer, saying who is on shift and how much they hold.
async function fillReviewers(select, emptyText) {
  const { results } = await getJson('/api/reviewers');
  select.selectAll('option').remove();
  select.append('option').attr('value', '').text(emptyText);
  select.selectAll('option.person').data(results).join('option').attr('class', 'person')
    .attr('value', (r) => r.username)
    .text((r) => `${r.username}${r.manager ? ' (manager)' : ''} — ${r.on_shift ? 'on shift' : 'off shift'}, ${r.assigned} assigned`);
}

function dialogCancels(dialog) {
  dialog.querySelectorAll('button.cancel').forEach((b) => b.addEventListener('click', () => dialog.close()));
}

// An escalation says why and, if the reviewer knows, to whom; without a name it waits in the
// Escalated tab for a manager to assign.
const escalateDialog = document.getElementById('escalate-dialog');
dialogCancels(escalateDialog);
async function openEscalate() {
  const reason = document.getElementById('escalate-reason');
  reason.value = document.getElementById('note').value;
  const alerts = decisionScope() === 'case' ? (current.case_alerts || []).length : 1;
  d3.select('#escalate-summary').text(alerts > 1 ? `All ${alerts} undecided alerts of account ${current.event.account_id} are escalated.`
    : 'This alert is escalated.');
  d3.select('#escalate-confirm').property('disabled', !reason.value.trim());
  escalateDialog.showModal();
  reason.focus();
  await fillReviewers(d3.select('#escalate-assignee'), 'Nobody yet: a manager assigns it');
}
document.getElementById('escalate-reason').addEventListener('input', (event) => {
  d3.select('#escalate-confirm').property('disabled', !event.target.value.trim());
});
d3.select('#escalate-confirm').on('click', async () => {
  const note = document.getElementById('escalate-reason').value;
  const assignee = document.getElementById('escalate-assignee').value;
  escalateDialog.close();
  await decide('escalate', '', { note, assignee });
});

const snoozeDialog = document.getElementById('snooze-dialog');
dialogCancels(snoozeDialog);
// A datetime-local field holds the reviewer's own clock time, without a zone.
const localInput = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
function openSnooze() {
  if (current.review_status !== 'open') { say(`Only open cases can be snoozed; this one is ${STATUS_WORD[current.review_status].toLowerCase()}.`, 'info'); return; }
  document.getElementById('snooze-until').value = localInput(new Date(Date.now() + 4 * 3600 * 1000));
  d3.select('#snooze-errors').text('');
  snoozeDialog.showModal();
}
d3.selectAll('#snooze-dialog .presets button').on('click', function preset() {
  document.getElementById('snooze-until').value = localInput(new Date(Date.now() + Number(this.dataset.hours) * 3600 * 1000));
});
d3.select('#snooze-confirm').on('click', async () => {
  const value = document.getElementById('snooze-until').value;
  if (!value) { d3.select('#snooze-errors').text('Until: choose when the case comes back.'); return; }
  try {
    const body = await postJson(`/api/cases/${caseId}/snooze`, {
      until: new Date(value).toISOString(), note: document.getElementById('snooze-note').value, scope: decisionScope(),
    });
    snoozeDialog.close();
    document.getElementById('snooze-note').value = '';
    say(`Snoozed until ${whenUtc(body.snoozed_until)} (${body.transaction_ids.length} alert${body.transaction_ids.length === 1 ? '' : 's'}). `
      + 'It comes back open then; press n for the next case.', 'ok');
    await Promise.all([loadCase(), loadCounts(), loadComments()]);
  } catch (error) {
    d3.select('#snooze-errors').text(error.message);
  }
});
d3.select('#wake').on('click', async () => {
  try {
    await deleteJson(`/api/cases/${caseId}/snooze`);
    say('The case is open again.', 'ok');
    await Promise.all([loadCase(), loadCounts()]);
  } catch (error) { say(`Could not wake the case: ${error.message}`, 'error'); }
});

const assignDialog = document.getElementById('assign-dialog');
if (assignDialog) dialogCancels(assignDialog);
async function openAssign() {
  if (!assignDialog || !['open', 'escalated', 'snoozed'].includes(current.review_status)) return;
  d3.select('#assign-errors').text('');
  assignDialog.showModal();
  await fillReviewers(d3.select('#assign-to'), 'Nobody (take the assignment away)');
  document.getElementById('assign-to').value = current.assigned_to || '';
}
d3.select('#assign-confirm').on('click', async () => {
  const assignee = document.getElementById('assign-to').value;
  try {
    const body = await postJson(`/api/cases/${caseId}/assign`, {
      assignee: assignee || null, note: document.getElementById('assign-note').value, scope: decisionScope(),
    });
    assignDialog.close();
    const n = body.transaction_ids.length;
    say(assignee ? `Assigned to ${assignee} (${n} alert${n === 1 ? '' : 's'}).` : 'Nobody is assigned to this case now.', 'ok');
    await loadCase();
  } catch (error) {
    d3.select('#assign-errors').text(error.message);
  }
});

// ------------------------------------------------------------------ wiring

d3.selectAll('.action-bar button[data-verdict]').on('click', function click() { askReason(this.dataset.verdict); });
d3.select('#undo').on('click', undo);
d3.select('#next').on('click', nextCase);
d3.select('#take').on('click', take);
d3.select('#snooze-open').on('click', openSnooze);
d3.select('#assign-open').on('click', openAssign);
d3.select('#prev').on('click', previousCase);
const toggleHelp = helpDialog();
d3.select('#show-help').on('click', toggleHelp);
onShortcut({
  c: () => askReason('clear'),
  f: () => askReason('flag'),
  e: () => askReason('escalate'),
  t: take,
  s: openSnooze,
  a: () => (isManager ? openAssign() : undefined),
  u: undo,
  n: nextCase,
  j: nextCase,
  p: previousCase,
  k: previousCase,
  m: () => document.getElementById('note').focus(),
  q: () => window.location.assign('/queue/'),
  '?': toggleHelp,
});

rememberVisit();
armUndo();
dispositions();  // loaded ahead, so c or f shows the reasons at once
loadCase()
  .catch((error) => say(`Could not load the case: ${error.message}`, 'error'));
loadHistory().catch((error) => d3.select('#timeline').text(`Could not load the history: ${error.message}`));
loadNetwork().catch((error) => d3.select('#network-status').text(`Could not load linked accounts: ${error.message}`));

// ------------------------------------------------------------------ comments

function drawComments(comments) {
  const items = d3.select('#comments').selectAll('li').data(comments.length ? comments : [null]).join('li');
  items.each(function fill(c) {
    const li = d3.select(this).text('');  // a reused row may hold "No comments yet." as bare text
    li.attr('class', c ? 'comment' : 'hint');
    if (!c) { li.text('No comments yet.'); return; }
    const head = li.append('p').attr('class', 'comment-head');
    head.append('strong').text(c.author);
    head.append('span').attr('class', 'hint').text(` · ${whenUtc(c.created_at)}${c.edited_at ? ` · edited ${whenUtc(c.edited_at)}` : ''}`);
    li.append('p').attr('class', 'comment-body').text(c.body);
    if (c.history.length) {
      const earlier = li.append('details').attr('class', 'comment-history');
      earlier.append('summary').text(`${c.history.length} earlier wording${c.history.length === 1 ? '' : 's'}`);
      earlier.append('ol').selectAll('li').data(c.history).join('li').text((h) => `until ${whenUtc(h.until)}: ${h.body}`);
    }
    if (c.author === page.dataset.username) {
      li.append('button').attr('type', 'button').attr('class', 'text-button edit-comment').text('Edit')
        .on('click', () => editComment(li, c));
    }
  });
}

function editComment(li, c) {
  li.select('.comment-body').attr('hidden', '');
  li.select('.edit-comment').attr('hidden', '');
  const form = li.append('form').attr('class', 'comment-edit');
  const area = form.append('textarea').attr('rows', 3).attr('maxlength', 5000).attr('aria-label', 'Comment text')
    .property('value', c.body);
  form.append('button').attr('type', 'submit').attr('class', 'primary').text('Save');
  form.append('button').attr('type', 'button').text('Cancel').on('click', loadComments);
  const problem = form.append('span').attr('class', 'status error');
  form.on('submit', async (event) => {
    event.preventDefault();
    try {
      await patchJson(`/api/cases/${caseId}/comments/${c.id}`, { body: area.property('value') });
      loadComments();
    } catch (error) { problem.text(error.message); }
  });
}

async function loadComments() {
  const body = await getJson(`/api/cases/${caseId}/comments`);
  drawComments(body.results);
}

d3.select('#comment-form').on('submit', async (event) => {
  event.preventDefault();
  const area = document.getElementById('comment-body');
  const statusText = d3.select('#comment-status').classed('error', false).text('');
  try {
    await postJson(`/api/cases/${caseId}/comments`, { body: area.value });
    area.value = '';
    statusText.text('Saved.');
    loadComments();
  } catch (error) {
    statusText.classed('error', true).text(error.message);
  }
});
loadComments().catch((error) => d3.select('#comments').text(`Could not load comments: ${error.message}`));
loadCounts().catch(() => {});
