// The model's reasons as a signed bar chart: each feature's SHAP value (log-odds), bars to
// the right raise the risk, to the left lower it, each labelled in plain words.
const d3 = window.d3;
const SHOWN = 10;

export function drawReasons(container, explanation) {
  const items = explanation.contributions.filter((c) => Math.abs(c.shap) > 1e-6).slice(0, SHOWN);
  const root = d3.select(container);
  root.selectAll('*').remove();
  if (!items.length) {
    root.append('p').attr('class', 'hint').text('No single feature moved this score.');
    return;
  }
  const width = 560;
  const rowHeight = 26;
  const labelWidth = 300;
  const height = items.length * rowHeight + 46;
  const extent = d3.max(items, (c) => Math.abs(c.shap));
  const x = d3.scaleLinear().domain([-extent, extent]).range([labelWidth + 10, width - 60]).nice();
  const svg = root.append('svg')
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img')
    .attr('aria-label', 'Why: how much each feature raised or lowered the risk');
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${height - 36})`)
    .call(d3.axisBottom(x).ticks(5).tickFormat(d3.format('+.1f')));
  svg.append('line').attr('class', 'zero').attr('x1', x(0)).attr('x2', x(0)).attr('y1', 0).attr('y2', height - 36);
  const rows = svg.selectAll('g.reason').data(items).join('g')
    .attr('class', (c) => `reason ${c.shap > 0 ? 'raises' : 'lowers'}`)
    .attr('transform', (c, i) => `translate(0,${i * rowHeight})`);
  rows.append('text').attr('class', 'label').attr('x', labelWidth).attr('y', rowHeight / 2 + 4)
    .attr('text-anchor', 'end')
    .text((c) => (c.text.length > 46 ? `${c.text.slice(0, 45)}…` : c.text))
    .append('title').text((c) => c.text);
  rows.append('rect')
    .attr('x', (c) => Math.min(x(0), x(c.shap)))
    .attr('y', 4)
    .attr('height', rowHeight - 8)
    .attr('width', (c) => Math.max(1, Math.abs(x(c.shap) - x(0))));
  rows.append('text').attr('class', 'value')
    .attr('x', (c) => (c.shap > 0 ? x(c.shap) + 4 : x(c.shap) - 4))
    .attr('text-anchor', (c) => (c.shap > 0 ? 'start' : 'end'))
    .attr('y', rowHeight / 2 + 4)
    .text((c) => `${c.shap > 0 ? '▲ +' : '▼ '}${c.shap.toFixed(2)}`);
  svg.append('text').attr('class', 'axis-label').attr('x', width - 60).attr('y', height - 2).attr('text-anchor', 'end')
    .text('effect on log-odds of fraud →');
}

// Plain-words list of the top reasons (the same data as the chart, for reading and screen readers).
export function listReasons(container, explanation) {
  d3.select(container).selectAll('li').data(explanation.reasons || []).join('li')
    .attr('class', (r) => r.direction)
    .text((r) => `${r.direction === 'raises' ? '▲ Raises risk' : '▼ Lowers risk'}: ${r.text}`);
}
