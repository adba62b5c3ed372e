// medsae feature browser: an anywidget front end, plain DOM, no dependencies, no network.
// It renders only from `model.get('data')` (the data contract of medsae.features) and `model.get('latent')`,
// so it works in JupyterLab and in a static docs page alike (there, picking a latent needs no kernel).

const SVG = 'http://www.w3.org/2000/svg';

function h(tag, attrs = {}, ...kids) { // an element with attributes, listeners (onX) and children
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k === 'className' ? 'class' : k, v);
  }
  e.append(...kids.flat().filter(k => k != null && k !== false).map(k => k instanceof Node ? k : String(k)));
  return e;
}

const num = x => x == null || Number.isNaN(x) ? '–' : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3)
  ? x.toExponential(2) : String(Number(x.toPrecision(3)));
const pct = f => f == null ? '–' : `${(100 * f).toFixed(1)} %`;
const title = l => l.name || `latent #${l.index}`;
const optionLabel = l => `#${l.index}${l.name ? ' ' + l.name : ''} (${pct(l.freq)})`;

function histogram(hist, w = 260, ht = 72) { // an inline SVG bar chart of the non-zero activations
  const edges = hist?.edges || [], counts = hist?.counts || [];
  const svg = h('svg:svg', {viewBox: `0 0 ${w} ${ht + 14}`, width: w, height: ht + 14, role: 'img',
                            'aria-label': 'histogram of the non-zero activations'});
  if (!counts.length) return svg;
  const top = Math.max(...counts, 1), bw = w / counts.length;
  counts.forEach((c, i) => {
    const bh = c ? Math.max(1, ht * c / top) : 0;
    svg.append(h('svg:rect', {x: i * bw + 0.5, y: ht - bh, width: Math.max(bw - 1, 0.5), height: bh, class: 'mb-bar'},
                 h('svg:title', {}, `${num(edges[i])} – ${num(edges[i + 1])}: ${c}`)));
  });
  svg.append(h('svg:line', {x1: 0, x2: w, y1: ht + 0.5, y2: ht + 0.5, class: 'mb-axis'}),
             h('svg:text', {x: 0, y: ht + 12, class: 'mb-tick'}, num(edges[0])),
             h('svg:text', {x: w, y: ht + 12, class: 'mb-tick', 'text-anchor': 'end'}, num(edges[edges.length - 1])));
  return svg;
}

function gallery(cls, examples, images, heat) { // a grid of thumbnails, each captioned by its activation
  return h('div', {className: `mb-grid ${cls}`}, examples.map(ex => h('figure', {className: 'mb-img', title: (ex.labels || []).join(', ') || 'no positive label'},
    h('div', {className: 'mb-frame'},
      h('img', {className: 'mb-thumb', src: images[ex.id], alt: `sample ${ex.id}`, loading: 'lazy'}),
      heat && ex.heatmap ? h('img', {className: 'mb-heat', src: ex.heatmap, alt: `heatmap of sample ${ex.id}`}) : null),
    h('figcaption', {}, h('b', {}, num(ex.value)), ' ', h('span', {className: 'mb-id'}, ex.id)))));
}

function labelCounts(examples) { // the positive labels of the top images, most frequent first
  const n = {};
  for (const ex of examples) for (const l of ex.labels || []) n[l] = (n[l] || 0) + 1;
  return Object.entries(n).sort((a, b) => b[1] - a[1]);
}

function detail(l, data, state) { // everything about one latent
  const images = data.images || {}, top = l.top || [], bottom = l.bottom || [];
  const hasHeat = top.some(ex => ex.heatmap);
  const stats = [['frequency', pct(l.freq)], ['mean', num(l.mean)], ['max', num(l.max)],
                 ...Object.entries(l.scores || {}).map(([k, v]) => [k, num(v)])];
  const labels = labelCounts(top);
  return h('div', {className: 'mb-detail'},
    h('div', {className: 'mb-head'},
      h('div', {},
        h('span', {className: 'mb-name'}, title(l)), ' ', h('span', {className: 'mb-index'}, `#${l.index}`),
        h('p', {className: 'mb-desc'}, l.description || '')),
      h('dl', {className: 'mb-stats'}, stats.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))))),
    h('div', {className: 'mb-row'},
      h('div', {className: 'mb-hist'}, h('div', {className: 'mb-label'}, 'non-zero activations'), histogram(l.hist)),
      labels.length ? h('div', {className: 'mb-labels'}, h('div', {className: 'mb-label'}, `labels of the top ${top.length}`),
        labels.map(([k, c]) => h('span', {className: 'mb-chip'}, `${k} ${c}/${top.length}`))) : null),
    h('div', {className: 'mb-label'}, 'highest activations',
      hasHeat ? h('label', {className: 'mb-heat-toggle'},
        h('input', {type: 'checkbox', checked: state.heat || null, onchange: e => { state.heat = e.target.checked; state.redraw(); }}),
        ' heatmap') : null),
    gallery('mb-top', top, images, hasHeat && state.heat),
    bottom.length ? [h('div', {className: 'mb-label'}, 'low / non-activating examples'), gallery('mb-bottom', bottom, images, false)] : null);
}

function footer(data) { // what was embedded, so nobody mistakes the page for the whole SAE
  const lim = data.limits || {}, n = (data.latents || []).length;
  return h('div', {className: 'mb-footer'},
    `${n} of ${data.d_sae ?? '?'} latents embedded (limit ${lim.latents ?? n}); top ${lim.top ?? '?'} and bottom ${lim.bottom ?? '?'} `
    + `examples per latent, ${lim.thumb_px ?? '?'} px thumbnails; statistics over ${data.n_samples ?? '?'} samples.`);
}

function sorted(latents, key) { // latents in the order the sort picker asks for
  const by = key === 'index' ? l => l.index : key === 'frequency' ? l => -(l.freq ?? 0) : l => -(l.scores?.[key] ?? -Infinity);
  return [...latents].sort((a, b) => by(a) - by(b) || a.index - b.index);
}

function render({ model, el }) {
  const state = {heat: false, query: '', sort: 'default'};
  const root = h('div', {className: 'medsae-browser'});
  el.replaceChildren(root);

  function draw() {
    const data = model.get('data') || {}, latents = data.latents || [];
    const current = latents.find(l => l.index === model.get('latent')) || latents[0];
    const q = state.query.trim().toLowerCase();
    const matches = l => !q || `#${l.index} ${l.index} ${l.name || ''} ${l.description || ''}`.toLowerCase().includes(q);
    const order = state.sort === 'default' ? latents : sorted(latents, state.sort);
    const shown = order.filter(l => matches(l) || l === current);
    const search = h('input', {className: 'mb-search', type: 'search', placeholder: 'search name, description, #index', value: state.query,
      oninput: e => { state.query = e.target.value; draw(); root.querySelector('.mb-search').focus(); }});
    const sort = h('select', {className: 'mb-sort', title: 'sort the latents', onchange: e => { state.sort = e.target.value; draw(); }},
      ['default', 'index', 'frequency', ...(data.score_names || [])].map(k =>
        h('option', {value: k, selected: k === state.sort || null}, k === 'default' ? 'sort: as embedded' : `sort: ${k}`)));
    const select = h('select', {className: 'mb-select', title: 'pick a latent', onchange: e => {
      model.set('latent', Number(e.target.value)); model.save_changes(); }},
      shown.map(l => h('option', {value: l.index, selected: l === current || null}, optionLabel(l))));
    const head = h('div', {className: 'mb-title'}, data.title || 'SAE features');
    root.replaceChildren(head, h('div', {className: 'mb-controls'}, select, search, sort),
      current ? detail(current, data, state) : h('p', {className: 'mb-empty'}, 'No latents embedded.'), footer(data));
    const input = root.querySelector('.mb-search');
    input.setSelectionRange?.(state.query.length, state.query.length);
  }
  state.redraw = draw;
  const onChange = () => draw();
  model.on('change:latent', onChange);
  model.on('change:data', onChange);
  draw();
  return () => { model.off('change:latent', onChange); model.off('change:data', onChange); };
}

export default { render };
