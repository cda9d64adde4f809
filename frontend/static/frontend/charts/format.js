// Axis words shared by every chart. Counts and money are never written with SI prefixes
// below a thousand: "~s" turns 0.2 into "200m", which reads as 200 million. Times are UTC
// and 24-hour, as the API stores them, so a tick means the same to everyone.
const d3 = window.d3;

const large = d3.format('.3~s');
const SI_TO_WORDS = { G: 'B' };  // billions, not "giga"
const prefixed = (value) => large(value).replace(/[G]$/, (p) => SI_TO_WORDS[p]);

// A count tick: whole numbers with thousands separators, "12k" / "1.5M" from ten thousand up.
export function countTick(value) {
  if (Math.abs(value) >= 10000) return prefixed(value);
  return d3.format(',d')(Math.round(value));
}

// A money tick: up to two decimals below a thousand ("0.5", "250"), then "1,500", then "12k".
export function moneyTick(value) {
  if (Math.abs(value) >= 10000) return prefixed(value);
  if (Math.abs(value) >= 1000) return d3.format(',d')(Math.round(value));
  return d3.format(',.2~f')(value);
}

// A count axis: only whole-number ticks, since half an event is not a thing.
export function countAxis(axis, scale, count = 5) {
  const values = scale.ticks(count).filter(Number.isInteger);
  return axis.tickValues(values).tickFormat(countTick);
}

export function moneyAxis(axis, count = 5) {
  return axis.ticks(count).tickFormat(moneyTick);
}

const utcClock = d3.utcFormat('%H:%M');
const utcClockSeconds = d3.utcFormat('%H:%M:%S');
const utcDay = d3.utcFormat('%b %d');
const utcDayClock = d3.utcFormat('%b %d %H:%M');

// Chooses one tick wording for the whole axis from the ticks themselves: all at midnight →
// days; all on one day → clock times; otherwise day and time. Seconds only when a tick has them.
export function utcTickFormat(ticks) {
  const atMidnight = ticks.every((t) => t.getUTCHours() === 0 && t.getUTCMinutes() === 0 && t.getUTCSeconds() === 0);
  if (atMidnight) return utcDay;
  const withSeconds = ticks.some((t) => t.getUTCSeconds() !== 0);
  const oneDay = ticks.length && d3.utcDay.floor(ticks[0]).getTime() === d3.utcDay.floor(ticks[ticks.length - 1]).getTime();
  if (oneDay) return withSeconds ? utcClockSeconds : utcClock;
  return utcDayClock;
}

// A UTC time axis on a d3.scaleUtc.
export function utcAxis(axis, scale, count = 6) {
  const ticks = scale.ticks(count);
  return axis.tickValues(ticks).tickFormat(utcTickFormat(ticks));
}

// The domain a time chart shows: the events' real first and last moment, padded a little so
// the end marks are not cut by the frame; a single moment gets an hour either side.
export function utcDomain(times) {
  const [first, last] = d3.extent(times);
  if (!first) return [new Date(0), new Date(1)];
  const span = last - first;
  const pad = span === 0 ? 3600 * 1000 : span * 0.04;
  return [new Date(+first - pad), new Date(+last + pad)];
}

// The first and last day of a span, for a caption: "Nov 18 – Nov 20 2026 (UTC)".
export function utcSpanText(domain) {
  const [a, b] = domain;
  const year = d3.utcFormat('%Y');
  const dayYear = d3.utcFormat('%b %d %Y');
  if (d3.utcDay.floor(a).getTime() === d3.utcDay.floor(b).getTime()) return `${dayYear(a)} (UTC)`;
  return `${year(a) === year(b) ? utcDay(a) : dayYear(a)} – ${dayYear(b)} (UTC)`;
}
