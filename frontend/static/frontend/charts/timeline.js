// The account's events over time: amount (dot height) coloured by risk score, failed
// payments drawn as crosses, device changes as dashed markers, decided events ringed.
// Every mark has a shape or text, not only a colour.
import { moneyAxis, utcAxis, utcDomain, utcSpanText } from './format.js';

const d3 = window.d3;

export function drawTimeline(container, history) {
  const events = history.events.map((e) => ({ ...e, time: new Date(e.timestamp) }));
  const root = d3.select(container);
  root.selectAll('*').remove();
  if (!events.length) {
    root.append('p').attr('class', 'hint').text('No events for this account.');
    return;
  }
  const width = 560;
  const height = 210;
  const margin = { top: 24, right: 30, bottom: 40, left: 52 };
  const x = d3.scaleUtc().domain(utcDomain(events.map((e) => e.time))).range([margin.left, width - margin.right]);
  const y = d3.scaleLinear().domain([0, d3.max(events, (e) => e.amount || 0) || 1]).nice()
    .range([height - margin.bottom, margin.top]);
  const colour = d3.scaleSequential(d3.interpolateYlOrRd).domain([0, 100]);
  const svg = root.append('svg').attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img').attr('aria-label', `Timeline of ${events.length} events of account ${history.account_id}`);
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${height - margin.bottom})`)
    .call(utcAxis(d3.axisBottom(x), x, 6));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${margin.left},0)`)
    .call(moneyAxis(d3.axisLeft(y), 5));
  svg.append('text').attr('class', 'axis-label').attr('x', 4).attr('y', 12).text('amount');
  svg.append('text').attr('class', 'axis-label time-caption').attr('x', width - margin.right).attr('y', height - 4)
    .attr('text-anchor', 'end').text(`time, 24-hour · ${utcSpanText(d3.extent(events, (e) => e.time))}`);

  const changes = events.filter((e) => e.device_changed);
  svg.selectAll('g.device-change').data(changes).join('g').attr('class', 'device-change')
    .call((g) => g.append('line').attr('x1', (e) => x(e.time)).attr('x2', (e) => x(e.time))
      .attr('y1', margin.top - 6).attr('y2', height - margin.bottom))
    .call((g) => g.append('text').attr('x', (e) => x(e.time) + 3).attr('y', height - margin.bottom - 4).text('new device'));

  const marks = svg.selectAll('g.event').data(events).join('g')
    .attr('class', (e) => `event${e.is_this_case ? ' this-case' : ''}${e.payment_failed ? ' failed' : ''}`)
    .attr('transform', (e) => `translate(${x(e.time)},${y(e.amount || 0)})`);
  marks.append('path')
    .attr('d', (e) => d3.symbol(e.payment_failed ? d3.symbolX : d3.symbolCircle, e.is_this_case ? 150 : 50)())
    .attr('fill', (e) => (e.payment_failed ? 'none' : colour(e.risk_score ?? 0)))
    .attr('stroke', (e) => (e.payment_failed ? '#b42318' : '#1d2330'));
  marks.filter((e) => e.is_fraud !== null).append('circle').attr('class', (e) => (e.is_fraud ? 'label-fraud' : 'label-legit'))
    .attr('r', 8);
  marks.append('title').text((e) => [
    `${d3.utcFormat('%Y-%m-%d %H:%M:%S')(e.time)} UTC ${e.event_type || 'event'}`,
    e.amount === null ? 'no amount' : `amount ${d3.format(',.2f')(e.amount)} ${e.currency}`,
    e.risk_score === null ? 'not scored' : `risk score ${e.risk_score}`,
    e.payment_failed ? 'payment failed' : '',
    e.device_changed ? `new device ${e.device_id}` : '',
    e.is_fraud === true ? 'labelled fraud' : e.is_fraud === false ? 'labelled legitimate' : '',
    e.is_fraud !== null && e.label_source ? `label from ${e.label_source === 'review' ? 'a reviewer' : 'the import'}` : '',
    e.client ? `sent by ${e.client}` : '',
    e.is_this_case ? 'this case' : '',
  ].filter(Boolean).join(' · '));
  const current = events.find((e) => e.is_this_case);
  if (current) {
    svg.append('text').attr('class', 'this-case-label').attr('x', x(current.time)).attr('y', y(current.amount || 0) - 12)
      .attr('text-anchor', 'middle').text('this case');
  }
  const legend = root.append('p').attr('class', 'legend');
  [['●', 'event, colour = risk score'], ['✕', 'failed payment'], ['┊', 'device change'], ['◯', 'labelled (red fraud, green legit)']]
    .forEach(([mark, words]) => {
      legend.append('span').attr('class', 'key').text(mark);
      legend.append('span').text(` ${words}  `);
    });
}
