// Shared look and words: tiers are told apart by text and shape, never by colour alone.
const d3 = window.d3;

export const TIERS = ['high', 'medium', 'low'];
export const TIER_SHAPE = { high: '▲', medium: '◆', low: '●' };
export const TIER_NAME = { high: 'High', medium: 'Medium', low: 'Low' };
export const tierLabel = (tier) => `${TIER_SHAPE[tier] || ''} ${TIER_NAME[tier] || tier}`;
export const STATUS_WORD = { open: 'Open', cleared: 'Cleared', flagged: 'Flagged as fraud', escalated: 'Escalated' };
export const VERDICT_DONE = { clear: 'Cleared', flag: 'Flagged as fraud', escalate: 'Escalated' };

export const money = (value) => (value === null || value === undefined ? '—' : d3.format(',.2f')(value));
export const when = (iso) => (iso ? iso.replace('T', ' ').slice(0, 19) : '—');
export const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }) : '');

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
    const typing = target.closest && target.closest('input, textarea, select, [contenteditable="true"]');
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
