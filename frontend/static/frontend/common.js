// Shared look and words: tiers are told apart by text and shape, never by colour alone.
const d3 = window.d3;

export const TIERS = ['high', 'medium', 'low'];
export const TIER_SHAPE = { high: '▲', medium: '◆', low: '●' };
export const TIER_NAME = { high: 'High', medium: 'Medium', low: 'Low' };
export const tierLabel = (tier) => `${TIER_SHAPE[tier] || ''} ${TIER_NAME[tier] || tier}`;
export const STATUS_WORD = { open: 'Open', cleared: 'Cleared', flagged: 'Flagged as fraud', escalated: 'Escalated', snoozed: 'Snoozed' };
export const VERDICT_DONE = { clear: 'Cleared', flag: 'Flagged as fraud', escalate: 'Escalated' };

export const money = (value) => (value === null || value === undefined ? '—' : d3.format(',.2f')(value));
// Money figures (expected loss, sums) are in the reporting currency, and say so.
export const CURRENCY = document.querySelector('meta[name="reporting-currency"]')?.content || '';
export const moneyIn = (value) => (value === null || value === undefined ? '—' : `${money(value)} ${CURRENCY}`);
// Times as the API stores them, in UTC and 24-hour: a reviewer in another zone reads the
// same clock as the audit log and the colleague they hand a case to.
const utcStamp = d3.utcFormat('%Y-%m-%d %H:%M:%S');
const utcClock = d3.utcFormat('%H:%M:%S');
const parsed = (iso) => {
  if (typeof iso !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(iso)) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
};
// Anything that is not a time (a client's free-form attribute) is shown as sent.
export const when = (iso) => (iso ? (parsed(iso) ? utcStamp(parsed(iso)) : String(iso)) : '—');
export const whenUtc = (iso) => (iso ? (parsed(iso) ? `${utcStamp(parsed(iso))} UTC` : String(iso)) : '—');
export const clock = (iso) => (iso && parsed(iso) ? `${utcClock(parsed(iso))} UTC` : '');

// A count as the queue reports it: exact up to the cap, "10,000+" beyond.
export const countText = (count, capped) => `${count.toLocaleString()}${capped ? '+' : ''}`;

// A tier badge: shape, word, and a colour class for those who see colour.
export function tierBadge(selection, tier) {
  return selection.attr('class', `tier-badge tier-${tier}`).text(tierLabel(tier));
}

// Keyboard shortcuts that stay out of the way while someone types in a field.
export function onShortcut(handlers) {
  document.addEventListener('keydown', (event) => {
    const target = event.target;
    // A radio button or checkbox takes no typing: shortcuts still work when one has focus.
    const typing = target.closest && target.closest('input:not([type=radio]):not([type=checkbox]), textarea, select, [contenteditable="true"]');
    if (event.key === 'Escape' && typing) { target.blur(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const handler = handlers[event.key];
    if (handler) {
      event.preventDefault();
      handler(event);
    }
  });
}

// The help dialog listing shortcuts, opened with "?".
export function helpDialog(id = 'help') {
  const dialog = document.getElementById(id);
  if (!dialog) return () => {};
  dialog.querySelector('button.close').addEventListener('click', () => dialog.close());
  return () => (dialog.open ? dialog.close() : dialog.showModal());
}

// Disposition codes (why a case was cleared or flagged), per verdict in the managed order.
let dispositionsLoaded = null;
export function dispositions() {
  if (!dispositionsLoaded) {
    dispositionsLoaded = fetch('/api/dispositions', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((response) => (response.ok ? response.json() : { results: [] }))
      .then((body) => ({
        clear: body.results.filter((d) => d.verdict === 'clear'),
        flag: body.results.filter((d) => d.verdict === 'flag'),
      }));
  }
  return dispositionsLoaded;
}

// A select of one verdict's codes, with a first option asking why.
export function fillDispositionSelect(select, codes, prompt = 'Why? Choose a reason…') {
  select.selectAll('option').remove();
  select.append('option').attr('value', '').text(prompt);
  codes.forEach((d) => select.append('option').attr('value', d.code).text(d.label));
}

// SLA words for a case: when it is due, and whether it is late.
export const SLA_WORD = { on_time: 'on time', due_soon: 'due soon', breached: 'past due' };
export function slaText(dueAt, state) {
  if (!state) return '—';
  const due = parsed(dueAt);
  const left = due ? due - Date.now() : 0;
  const hours = Math.abs(left) / 3600000;
  const span = hours >= 48 ? `${Math.round(hours / 24)} d` : hours >= 1 ? `${hours.toFixed(1)} h` : `${Math.round(hours * 60)} min`;
  return state === 'breached' ? `${span} overdue` : `in ${span}`;
}
