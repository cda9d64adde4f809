// Linked accounts: a force layout of the account, the devices / IPs / merchants it used,
// and the other accounts that used them. Known state is shown by colour AND shape AND
// text: fraud ▲, cleared ●, unknown ■. Click (or Enter) on an account opens its latest case.
const d3 = window.d3;

export const STATE_SHAPE = { fraud: d3.symbolTriangle, cleared: d3.symbolCircle, unknown: d3.symbolSquare };
export const STATE_WORD = { fraud: '▲ fraud', cleared: '● cleared', unknown: '■ unknown' };
const ENTITY_WORD = { device: 'device', ip: 'IP', merchant: 'merchant' };

// Past this many nodes a force layout of every account is a blob nobody can read: the
// accounts behind each shared device / IP / merchant are drawn as one group, with their
// states counted, unless the reviewer asks for all of them.
export const GROUP_OVER = 30;
// An entity shared by this many other accounts or fewer keeps them drawn one by one.
const GROUP_FROM = 3;

// The network with every entity's accounts beyond GROUP_FROM - 1 folded into one group node.
// An account stays drawn alone when some entity links it to few enough accounts.
export function groupedNetwork(network) {
  const byId = new Map(network.nodes.map((n) => [n.id, n]));
  const centerId = network.nodes.find((n) => n.center).id;
  const accountsOf = new Map();
  network.links.forEach((l) => {
    if (l.source === centerId) return;
    if (!accountsOf.has(l.source)) accountsOf.set(l.source, []);
    accountsOf.get(l.source).push(byId.get(l.target));
  });
  const alone = new Set();
  accountsOf.forEach((accounts) => { if (accounts.length < GROUP_FROM) accounts.forEach((a) => alone.add(a.id)); });
  const nodes = network.nodes.filter((n) => n.kind !== 'account' || n.center || alone.has(n.id));
  const links = network.links.filter((l) => l.source === centerId || alone.has(l.target));
  accountsOf.forEach((accounts, entityId) => {
    const folded = accounts.filter((a) => !alone.has(a.id));
    if (!folded.length) return;
    const count = (state) => folded.filter((a) => (a.state || 'unknown') === state).length;
    const id = `group:${entityId}`;
    nodes.push({
      id, kind: 'group', entity: byId.get(entityId), accounts: folded.map((a) => a.label),
      size: folded.length, fraud: count('fraud'), cleared: count('cleared'), unknown: count('unknown'),
      state: count('fraud') ? 'fraud' : count('cleared') === folded.length ? 'cleared' : 'unknown',
    });
    links.push({ source: entityId, target: id, kind: byId.get(entityId).kind });
  });
  return { ...network, nodes, links };
}

export function drawNetwork(container, network, { onOpen, showAll = false }) {
  const root = d3.select(container);
  root.selectAll('*').remove();
  const width = 560;
  const height = 360;
  const big = network.nodes.length > GROUP_OVER;
  const shown = big && !showAll ? groupedNetwork(network) : network;
  const nodes = shown.nodes.map((n) => ({ ...n }));
  const links = shown.links.map((l) => ({ ...l }));
  const simulation = d3.forceSimulation(nodes)
    .force('link', d3.forceLink(links).id((n) => n.id).distance((l) => (l.kind === 'merchant' ? 70 : 50)))
    .force('charge', d3.forceManyBody().strength(-160))
    .force('collide', d3.forceCollide((n) => (n.kind === 'group' ? 10 + 3 * Math.sqrt(n.size) : 16)))
    .force('x', d3.forceX(width / 2).strength(0.06))
    .force('y', d3.forceY(height / 2).strength(0.09))
    .stop();
  // A fixed number of ticks up front: the picture is drawn once, settled, with no motion,
  // then scaled to fill the frame whatever the number of nodes.
  for (let i = 0; i < 300; i += 1) simulation.tick();
  fitInto(nodes, width, height, { x: 60, y: 28 });

  const svg = root.append('svg').attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'img').attr('aria-label', `Accounts linked to ${network.account_id} by shared devices, IPs or merchants`);
  svg.append('g').attr('class', 'links').selectAll('line').data(links).join('line')
    .attr('class', (l) => `link ${l.kind}`)
    .attr('x1', (l) => l.source.x).attr('y1', (l) => l.source.y)
    .attr('x2', (l) => l.target.x).attr('y2', (l) => l.target.y);
  const node = svg.append('g').attr('class', 'nodes').selectAll('g').data(nodes).join('g')
    .attr('class', (n) => (n.kind === 'account' ? `node account state-${n.state || 'unknown'}${n.center ? ' center' : ''}` : `node entity ${n.kind}`))
    .attr('transform', (n) => `translate(${n.x},${n.y})`);
  node.filter((n) => n.kind === 'group').attr('class', (n) => `node group state-${n.state}`);
  node.append('path').attr('d', (n) => {
    if (n.kind === 'group') return d3.symbol(d3.symbolCircle, 160 + 40 * n.size)();
    if (n.kind !== 'account') return d3.symbol(d3.symbolDiamond, 60)();
    return d3.symbol(STATE_SHAPE[n.state] || d3.symbolSquare, n.center ? 420 : 170)();
  });
  // With every account drawn in a big network, only the case's own account and the
  // shared entities are labelled (the rest say who they are on hover and in the list below):
  // thirty labels on top of each other read as none.
  const labelled = (n) => !(big && showAll && n.kind === 'account' && !n.center);
  node.filter(labelled).append('text').attr('class', 'node-label')
    .attr('y', (n) => (n.kind === 'group' ? 4 : n.kind === 'account' ? (n.center ? 24 : 19) : 14))
    .attr('text-anchor', 'middle')
    .text((n) => {
      if (n.kind === 'group') return `${n.size}${n.fraud ? ` · ${n.fraud} ▲` : ''}`;
      const label = n.label.length > 16 ? `${n.label.slice(0, 15)}…` : n.label;
      return n.kind === 'account' ? label : `${ENTITY_WORD[n.kind]} ${label}`;
    });
  node.append('title').text((n) => {
    if (n.kind === 'group') {
      const more = n.accounts.length > 12 ? `, and ${n.accounts.length - 12} more` : '';
      return `${n.size} accounts on ${ENTITY_WORD[n.entity.kind]} ${n.entity.label}: ${n.fraud} ▲ fraud, ${n.cleared} ● cleared, `
        + `${n.unknown} ■ unknown — ${n.accounts.slice(0, 12).join(', ')}${more}`;
    }
    return n.kind === 'account'
      ? `account ${n.label} — ${STATE_WORD[n.state] || 'unknown'}${n.center ? ' (this case)' : ''}, ${n.events ?? 0} events`
      : `${ENTITY_WORD[n.kind]} ${n.label}`;
  });
  node.filter((n) => n.kind === 'group').attr('tabindex', 0).attr('role', 'button')
    .attr('aria-label', (n) => `${n.size} accounts on ${ENTITY_WORD[n.entity.kind]} ${n.entity.label}, ${n.fraud} fraud: show every account`)
    .on('click', () => drawNetwork(container, network, { onOpen, showAll: true }))
    .on('keydown', (event) => { if (event.key === 'Enter') drawNetwork(container, network, { onOpen, showAll: true }); });
  const openable = node.filter((n) => n.kind === 'account' && !n.center && n.latest_case);
  openable.attr('tabindex', 0).attr('role', 'link').attr('class', function cls() { return `${this.getAttribute('class')} openable`; })
    .attr('aria-label', (n) => `Open the latest case of account ${n.label} (${STATE_WORD[n.state]})`)
    .on('click', (event, n) => onOpen(n))
    .on('keydown', (event, n) => { if (event.key === 'Enter') onOpen(n); });

  const legend = root.append('p').attr('class', 'legend');
  Object.entries(STATE_WORD).forEach(([state, words]) => legend.append('span').attr('class', `key state-${state}`).text(`${words}  `));
  legend.append('span').attr('class', 'key entity').text('◆ shared device / IP / merchant');
  if (big) {
    legend.append('span').attr('class', 'key').text(showAll ? '  ' : '  ⬤ n: a group of n accounts on one entity  ');
    legend.append('button').attr('type', 'button').attr('class', 'text-button network-toggle')
      .text(showAll ? 'Group by shared entity' : `Show all ${network.nodes.length} nodes`)
      .on('click', () => drawNetwork(container, network, { onOpen, showAll: !showAll }));
  }
}

// Scale and centre node positions into the frame, the same factor on both axes.
function fitInto(nodes, width, height, margin) {
  const [x0, x1] = d3.extent(nodes, (n) => n.x);
  const [y0, y1] = d3.extent(nodes, (n) => n.y);
  const scale = Math.min((width - 2 * margin.x) / Math.max(x1 - x0, 1), (height - 2 * margin.y) / Math.max(y1 - y0, 1), 2.5);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  nodes.forEach((n) => {
    n.x = width / 2 + (n.x - cx) * scale;
    n.y = height / 2 + (n.y - cy) * scale;
  });
}
