// medsae feature atlas: every latent of an SAE in one page. Plain DOM, no dependencies, no request beyond its own folder.
// A classic script (a page opened from file:// may not load modules): it defines MedsaeAtlas. The static site loads its data
// files as scripts that call MedsaeAtlas.put(key, value); in JupyterLab the widget appends an ES module export and asks the
// kernel for the same payloads (medsae.atlas.AtlasWidget.payload).
const MedsaeAtlas = (() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const ROW = 26; // table row height, px (the table is virtual: only the rows in view exist)
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79',
                   '#e7ba52', '#637939', '#ad494a', '#7b4173', '#3182bd', '#31a354', '#756bb1', '#636363'];
  const NONE = '#9aa0a6';

  function h(tag, attrs = {}, ...kids) { // an element with attributes, listeners (onX) and children
    const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'style') e.style.cssText = v;
      else e.setAttribute(k === 'className' ? 'class' : k, v);
    }
    e.append(...kids.flat().filter(k => k != null && k !== false).map(k => k instanceof Node ? k : String(k)));
    return e;
  }
  const num = x => x == null || Number.isNaN(x) ? '–' : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3)
    ? x.toExponential(2) : String(Number(x.toPrecision(3)));
  const pct = f => f == null || Number.isNaN(f) ? '–' : f === 0 ? '0' : f < 1e-3 ? `${(100 * f).toPrecision(2)} %` : `${(100 * f).toFixed(1)} %`;
  const HEAD = {freq: 'frequency', mean: 'mean', max: 'max', similarity: 'name sim.'};

  function decode(b64, Type) { // a base64 little-endian column
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }

  // Data sources: get(key) -> Promise of 'index', 'text', 'map' or 'chunk:c'; image(sample) and heat(latent, rank) -> an image URL.
  const waiting = {};
  function put(key, value) { const w = waiting[key]; delete waiting[key]; if (w) w(value); }
  function fileSource(base) {
    const cache = {};
    const file = key => key.startsWith('chunk:') ? `latents/${key.slice(6)}.js` : `${key}.js`;
    return {
      hash: true,
      get: key => cache[key] ??= new Promise((resolve, reject) => {
        waiting[key] = resolve;
        const s = document.createElement('script');
        s.src = base + file(key);
        s.onerror = () => { delete cache[key]; reject(new Error(`cannot load ${base + file(key)}`)); };
        document.head.append(s);
      }),
      latent(k, chunk) { const c = Math.floor(k / chunk); return this.get(`chunk:${c}`).then(ch => ch.latents[k - c * chunk]); },
      image: s => `img/${s}.png`,
      heat: (k, r) => `heat/${k}_${r}.png`,
    };
  }
  function kernelSource(model) {
    const cache = {}, pending = {}, images = {}, heats = {};
    model.on('msg:custom', m => {
      const w = pending[m.key]; delete pending[m.key];
      if (!w) return;
      if (m.error) { delete cache[m.key]; w.reject(new Error(m.error)); return; }
      Object.assign(images, m.value?.images || {}); Object.assign(heats, m.value?.heat || {});
      w.resolve(m.value);
    });
    return {
      hash: false,
      get: key => cache[key] ??= new Promise((resolve, reject) => { pending[key] = {resolve, reject}; model.send({get: key}); }),
      latent(k) { return this.get(`latent:${k}`).then(v => v.latents[0]); }, // one latent at a time: its images travel with it
      image: s => images[s],
      heat: (k, r) => heats[`${k}_${r}`],
    };
  }

  function histogram(hist, w = 300, ht = 80) { // an SVG bar chart of the values where the latent fires, 0 to its max
    const counts = hist.counts, svg = h('svg:svg', {viewBox: `0 0 ${w} ${ht + 14}`, width: w, height: ht + 14, role: 'img', 'aria-label': 'activation histogram'});
    const top = Math.max(...counts, 1), bw = w / counts.length;
    counts.forEach((c, i) => {
      const bh = c ? Math.max(1, ht * c / top) : 0;
      svg.append(h('svg:rect', {x: i * bw + .5, y: ht - bh, width: Math.max(bw - 1, .5), height: bh, class: 'ma-bar'},
                   h('svg:title', {}, `${num(hist.hi * i / counts.length)} – ${num(hist.hi * (i + 1) / counts.length)}: ${c}`)));
    });
    svg.append(h('svg:line', {x1: 0, x2: w, y1: ht + .5, y2: ht + .5, class: 'ma-axis'}), h('svg:text', {x: 0, y: ht + 12, class: 'ma-tick'}, '0'),
               h('svg:text', {x: w, y: ht + 12, class: 'ma-tick', 'text-anchor': 'end'}, num(hist.hi)));
    return svg;
  }

  function labelBars(names, scores, best) { // the CheXpert F1 of the latent with every label, its correlation in the tooltip
    const w = 360, rh = 16, lw = 170, svg = h('svg:svg', {viewBox: `0 0 ${w} ${names.length * rh}`, width: w, height: names.length * rh, role: 'img', 'aria-label': 'F1 with each label'});
    names.forEach((n, i) => {
      const [f1, r] = scores[i], bw = (w - lw - 40) * (f1 || 0);
      svg.append(h('svg:text', {x: lw - 6, y: i * rh + 12, class: 'ma-tick', 'text-anchor': 'end'}, n),
                 h('svg:rect', {x: lw, y: i * rh + 3, width: Math.max(bw, 0), height: rh - 6, class: i === best ? 'ma-bar ma-best' : 'ma-bar'},
                   h('svg:title', {}, `${n}: F1 ${num(f1)}, correlation ${num(r)}`)),
                 h('svg:text', {x: lw + bw + 4, y: i * rh + 12, class: 'ma-tick'}, num(f1)));
    });
    return svg;
  }

  function mount(el, source) {
    el.classList.add('medsae-atlas');
    el.replaceChildren(h('p', {className: 'ma-loading'}, 'Loading the atlas…'));
    source.get('index').then(ix => start(el, source, ix)).catch(e => el.replaceChildren(h('p', {className: 'ma-error'}, `The atlas could not load: ${e.message}`)));
  }

  function start(el, source, ix) {
    const d = ix.d_sae, cols = {}, best = decode(ix.best_label, Int16Array), names = ix.names, vlm = ix.vlm_names || [];
    for (const c of ix.columns) cols[c] = decode(ix.data[c], Float32Array);
    const lower = names.map((n, k) => `${n || ''} ${vlm[k] || ''}`.toLowerCase());
    const labelOf = k => best[k] >= 0 ? ix.label_names[best[k]] : '';
    const colorOf = k => best[k] >= 0 ? PALETTE[best[k] % PALETTE.length] : NONE;
    const title = k => names[k] || vlm[k] || `latent ${k}`;
    const st = {sort: null, desc: true, query: '', live: false, label: -1, order: null};
    let text = null, textWanted = false;

    const tabs = h('div', {className: 'ma-tabs'},
      h('button', {className: 'ma-tab', 'data-view': 'table', onclick: () => go('table')}, 'Table'),
      ix.has_map && h('button', {className: 'ma-tab', 'data-view': 'map', onclick: () => go('map')}, 'Map'));
    const body = h('div', {className: 'ma-body'});
    const dead = Array.from(cols.freq).filter(f => f === 0).length;
    el.replaceChildren(h('div', {className: 'ma-header'}, h('div', {className: 'ma-title'}, ix.title),
      h('div', {className: 'ma-sub'}, `${d.toLocaleString()} latents (${dead.toLocaleString()} dead) over ${ix.n_samples.toLocaleString()} samples`), tabs), body);

    // ---- the table: filter, sort, and draw only the rows in view
    const search = h('input', {type: 'search', className: 'ma-search', placeholder: 'search names and descriptions, or #index', 'aria-label': 'search'});
    const live = h('input', {type: 'checkbox', className: 'ma-live'});
    const labelSel = h('select', {className: 'ma-label-filter', 'aria-label': 'best label'}, h('option', {value: -1}, 'any best label'),
                       ix.label_names.map((n, i) => h('option', {value: i}, n)));
    const count = h('span', {className: 'ma-count'});
    const rangeCol = h('select', {className: 'ma-range-col', 'aria-label': 'filter by a column'}, h('option', {value: ''}, 'filter by…'),
                       ix.columns.map(c => h('option', {value: c}, c === 'freq' ? 'frequency (%)' : HEAD[c] || c)));
    const lo = h('input', {type: 'number', step: 'any', className: 'ma-min', placeholder: 'min', 'aria-label': 'minimum'});
    const hi = h('input', {type: 'number', step: 'any', className: 'ma-max', placeholder: 'max', 'aria-label': 'maximum'});
    const shown = ['index', 'name', ...(ix.label_names.length ? ['label'] : []), ...ix.columns];
    const grid = `64px minmax(180px, 2fr) ${ix.label_names.length ? '130px ' : ''}repeat(${ix.columns.length}, minmax(80px, 1fr))`;
    const head = h('div', {className: 'ma-head', style: `grid-template-columns: ${grid}`},
      shown.map(c => h('div', {className: 'ma-hcell', 'data-col': c, title: 'sort', onclick: () => sortBy(c)}, HEAD[c] || (c === 'label' ? 'best label' : c))));
    const spacer = h('div', {className: 'ma-spacer'});
    const scroll = h('div', {className: 'ma-scroll', onscroll: () => draw()}, spacer);
    const table = h('div', {className: 'ma-table'}, head, scroll);
    const tableView = h('div', {className: 'ma-tableview'},
      h('div', {className: 'ma-controls'}, search, h('label', {}, live, ' live only'), ix.label_names.length ? labelSel : null,
        h('span', {className: 'ma-range'}, rangeCol, ' ≥ ', lo, ' ≤ ', hi), count), table);
    search.addEventListener('input', () => {
      st.query = search.value.trim().toLowerCase();
      if (st.query && !text && !textWanted) { textWanted = true; source.get('text').then(t => { text = t.text.map(s => (s || '').toLowerCase()); refresh(); }).catch(() => {}); }
      refresh();
    });
    live.addEventListener('change', () => { st.live = live.checked; refresh(); });
    labelSel.addEventListener('change', () => { st.label = +labelSel.value; refresh(); });
    const setRange = () => { // frequency is typed in percent; a bound is rounded to float32 as the columns are, so a value equal to it stays in
      const scale = rangeCol.value === 'freq' ? 100 : 1, num = e => e.value.trim() === '' ? NaN : Math.fround(+e.value / scale);
      Object.assign(st, {rcol: rangeCol.value, lo: num(lo), hi: num(hi)}); refresh();
    };
    for (const e of [rangeCol, lo, hi]) e.addEventListener('input', setRange);

    const hit = (k, q) => q[0] === '#' ? (String(k) === q.slice(1) ? 'index' : '') // what a latent matches the search by, '' for nothing
      : lower[k].includes(q) ? 'name' : text && text[k].includes(q) ? 'text' : String(k) === q ? 'index' : '';
    function sortBy(c) {
      st.desc = st.sort === c ? !st.desc : !(c === 'index' || c === 'name' || c === 'label');
      st.sort = c; refresh();
    }
    function refresh() {
      const q = st.query, keep = [];
      for (let k = 0; k < d; k++) {
        if (st.live && cols.freq[k] === 0) continue;
        if (st.label >= 0 && best[k] !== st.label) continue;
        if (q && !hit(k, q)) continue;
        if (st.rcol) { const v = cols[st.rcol][k]; if (Number.isNaN(v) || v < st.lo || v > st.hi) continue; }
        keep.push(k);
      }
      const c = st.sort, sign = st.desc ? -1 : 1;
      if (c === 'name') keep.sort((a, b) => sign * title(a).localeCompare(title(b)) || a - b);
      else if (c === 'label') keep.sort((a, b) => sign * labelOf(a).localeCompare(labelOf(b)) || a - b);
      else if (c && c !== 'index') {
        const v = cols[c];
        keep.sort((a, b) => { const x = v[a], y = v[b]; return Number.isNaN(x) ? (Number.isNaN(y) ? a - b : 1) : Number.isNaN(y) ? -1 : sign * (x - y) || a - b; });
      } else if (c === 'index' && st.desc) keep.reverse();
      st.order = keep;
      table.dataset.sort = c || ''; table.dataset.query = q;
      for (const e of head.children) e.classList.toggle('ma-sorted', e.dataset.col === c), e.dataset.dir = e.dataset.col === c ? (st.desc ? '▼' : '▲') : '';
      count.textContent = `${keep.length.toLocaleString()} of ${d.toLocaleString()} latents`;
      spacer.style.height = `${keep.length * ROW}px`;
      scroll.scrollTop = 0; draw();
    }
    function cell(k, c) {
      if (c === 'index') return h('div', {className: 'ma-cell ma-num'}, k);
      if (c === 'name') return h('div', {className: 'ma-cell ma-name', title: title(k)}, names[k] || vlm[k] || '–');
      if (c === 'label') return h('div', {className: 'ma-cell'}, best[k] >= 0 ? h('span', {className: 'ma-dot', style: `background:${colorOf(k)}`}) : null, labelOf(k) || '–');
      return h('div', {className: 'ma-cell ma-num'}, c === 'freq' ? pct(cols.freq[k]) : num(cols[c][k]));
    }
    function draw() {
      const o = st.order || [], first = Math.max(0, Math.floor(scroll.scrollTop / ROW) - 4), last = Math.min(o.length, first + Math.ceil((scroll.clientHeight || window.innerHeight) / ROW) + 8);
      const rows = [];
      for (let i = first; i < last; i++) {
        const k = o[i], c = st.sort;
        rows.push(h('div', {className: `ma-row${cols.freq[k] === 0 ? ' ma-dead' : ''}`, style: `top:${i * ROW}px; grid-template-columns: ${grid}`, 'data-index': k,
                            'data-v': c && cols[c] ? cols[c][k] : '', 'data-hit': st.query ? hit(k, st.query) : '', onclick: () => go('latent', k)},
                    shown.map(col => cell(k, col))));
      }
      spacer.replaceChildren(...rows);
    }

    // ---- the map: decoder directions in 2-D, coloured by best label; hover names a latent, a click opens it
    let mapView = null;
    function makeMap() {
      const canvas = h('canvas', {width: 900, height: 620, style: 'width: 900px; height: 620px'}), tip = h('div', {className: 'ma-tip'});
      const legend = h('div', {className: 'ma-legend'}, ix.label_names.map((n, i) => h('span', {}, h('span', {className: 'ma-dot', style: `background:${PALETTE[i % PALETTE.length]}`}), n)),
                       h('span', {}, h('span', {className: 'ma-dot', style: `background:${NONE}`}), 'no label'));
      const view = h('div', {className: 'ma-map'}, h('div', {className: 'ma-note'}, 'Loading the map…'), h('div', {className: 'ma-canvas'}, canvas, tip), legend);
      source.get('map').then(m => {
        const x = decode(m.x, Float32Array), y = decode(m.y, Float32Array), W = 900, H = 620, pad = 12, ratio = window.devicePixelRatio || 1;
        canvas.width = W * ratio; canvas.height = H * ratio;
        let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        for (let k = 0; k < d; k++) { x0 = Math.min(x0, x[k]); x1 = Math.max(x1, x[k]); y0 = Math.min(y0, y[k]); y1 = Math.max(y1, y[k]); }
        const px = new Float32Array(d), py = new Float32Array(d), sx = (W - pad - (d <= 100 ? 150 : pad)) / ((x1 - x0) || 1), sy = (H - 2 * pad) / ((y1 - y0) || 1);
        const ctx = canvas.getContext('2d'), dot = Math.max(2, Math.min(8, 600 / Math.sqrt(d))); // bigger dots when there are few
        ctx.scale(ratio, ratio); ctx.font = '11px system-ui, sans-serif';
        const cell = 8, gw = Math.ceil(W / cell), buckets = new Map();
        const order = Array.from({length: d}, (_, k) => k).sort((a, b) => (best[a] >= 0) - (best[b] >= 0)); // unlabelled first, underneath
        for (const k of order) {
          px[k] = pad + (x[k] - x0) * sx; py[k] = H - pad - (y[k] - y0) * sy;
          if (cols.freq[k] === 0) continue;
          ctx.fillStyle = colorOf(k); ctx.fillRect(px[k] - dot / 2, py[k] - dot / 2, dot, dot);
          if (d <= 100) { ctx.fillStyle = '#59636e'; ctx.fillText(`#${k} ${title(k)}`, px[k] + dot, py[k] + 3); } // few latents: name them
          const b = Math.floor(py[k] / cell) * gw + Math.floor(px[k] / cell);
          (buckets.get(b) || buckets.set(b, []).get(b)).push(k);
        }
        const nearest = (mx, my) => { // the live latent nearest the point, within 8 px
          let bestK = -1, bestD = 64;
          const cx = Math.floor(mx / cell), cy = Math.floor(my / cell);
          for (let i = cy - 1; i <= cy + 1; i++) for (let j = cx - 1; j <= cx + 1; j++)
            for (const k of buckets.get(i * gw + j) || []) { const e = (px[k] - mx) ** 2 + (py[k] - my) ** 2; if (e < bestD) { bestD = e; bestK = k; } }
          return bestK;
        };
        const at = e => { const r = canvas.getBoundingClientRect(); return nearest(e.clientX - r.left, e.clientY - r.top); };
        canvas.addEventListener('mousemove', e => {
          const k = at(e);
          tip.style.display = k < 0 ? 'none' : 'block';
          if (k >= 0) { tip.textContent = `#${k} ${title(k)}${labelOf(k) ? ' · ' + labelOf(k) : ''}`; tip.style.left = `${px[k] + 10}px`; tip.style.top = `${py[k] - 8}px`; }
        });
        canvas.addEventListener('click', e => { const k = at(e); if (k >= 0) go('latent', k); });
        const probe = order.reverse().find(k => cols.freq[k] > 0);
        if (probe !== undefined) canvas.dataset.probe = `${px[probe]},${py[probe]},${nearest(px[probe], py[probe])}`;
        view.firstChild.textContent = `${m.method}: each dot a live latent, coloured by its best label. Hover to name one, click to open it.`;
        canvas.dataset.drawn = '1';
      }).catch(e => { view.firstChild.textContent = `The map could not load: ${e.message}`; });
      return view;
    }

    // ---- a latent's page
    function gallery(examples, heat) {
      return h('div', {className: 'ma-grid'}, examples.map((ex, r) => h('figure', {className: 'ma-fig', title: `${ex.id}${ex.labels.length ? ': ' + ex.labels.map(i => ix.label_names[i]).join(', ') : ''}`},
        ix.images === false ? h('div', {className: 'ma-thumb ma-noimg'}, ex.id) : h('div', {className: 'ma-thumb'}, h('img', {src: source.image(ex.s), alt: ex.id, loading: 'eager'}),
          heat && ex.heat ? h('img', {className: 'ma-heat', src: source.heat(heat, r), alt: ''}) : null),
        h('figcaption', {}, num(ex.v)))));
    }
    function latentPage(k, L) {
      const pick = j => h('a', {href: source.hash ? `#latent/${j}` : null, onclick: e => { e.preventDefault(); go('latent', j); }}, `#${j}`);
      const values = Object.entries(L.values).map(([c, v]) => h('span', {className: 'ma-stat'}, h('b', {}, HEAD[c] || c), ' ', c === 'freq' ? pct(v) : num(v)));
      const alts = L.alternatives.length ? h('div', {className: 'ma-alts'}, 'alternatives: ', L.alternatives.map(([n, s]) => h('span', {className: 'ma-alt'}, `${n}${s == null ? '' : ` (${num(s)})`}`))) : null;
      const side = (t, ...kids) => h('section', {className: 'ma-section'}, h('h4', {}, t), ...kids);
      return h('div', {className: 'ma-latent', 'data-index': k, 'data-ready': '1'},
        h('div', {className: 'ma-nav'}, h('button', {onclick: () => go('table')}, '← all latents'),
          h('button', {disabled: k === 0 ? '' : null, onclick: () => go('latent', k - 1)}, '‹ previous'),
          h('button', {disabled: k === d - 1 ? '' : null, onclick: () => go('latent', k + 1)}, 'next ›')),
        h('h2', {}, h('span', {className: 'ma-lindex'}, `#${k}`), ' ', L.name || (L.vlm && L.vlm.name) || 'unnamed', L.dead ? h('span', {className: 'ma-badge'}, 'dead') : null),
        L.description ? h('p', {className: 'ma-desc'}, L.description) : null,
        h('div', {className: 'ma-stats'}, values, best[k] >= 0 ? h('span', {className: 'ma-stat'}, h('b', {}, 'best label'), ' ', labelOf(k)) : null),
        L.name ? h('div', {className: 'ma-names'}, 'vocabulary name: ', h('b', {}, L.name), L.values.similarity != null ? ` (similarity ${num(L.values.similarity)})` : '', alts) : null,
        L.vlm ? h('div', {className: 'ma-names'}, 'VLM name: ', h('b', {}, L.vlm.name), L.vlm.description ? ` — ${L.vlm.description}` : '') : null,
        L.dead ? h('p', {className: 'ma-note'}, 'This latent fires on none of the samples: no image, no histogram.') : h('div', {className: 'ma-row2'},
          side('Activations where it fires', histogram(L.hist)),
          L.labels ? side('CheXpert F1 with each label', labelBars(ix.label_names, L.labels, best[k])) : null),
        L.top.length ? side(`Top ${L.top.length} ${ix.images === false ? 'samples' : 'images'}${ix.heatmaps ? ' (heatmaps)' : ''}`, gallery(L.top, ix.heatmaps ? k : null)) : null,
        L.bottom.length ? side(`Bottom ${L.bottom.length} ${ix.images === false ? 'samples' : 'images'} (its lowest values; 0 where it does not fire)`, gallery(L.bottom, null)) : null,
        L.neighbours ? side('Nearest latents (decoder cosine)', h('ol', {className: 'ma-neigh'},
          L.neighbours.map(([j, c]) => h('li', {}, pick(j), ' ', title(j), h('span', {className: 'ma-muted'}, ` ${num(c)}`))))) : null);
    }

    let current = null;
    function go(view, k, fromHash = false) {
      if (view === 'latent' && !(k >= 0 && k < d)) view = 'table';
      if (source.hash && !fromHash) { const want = view === 'latent' ? `#latent/${k}` : view === 'map' ? '#map' : '#'; if (location.hash !== want) history.pushState(null, '', want); }
      for (const t of tabs.children) t.classList.toggle('ma-active', t.dataset.view === view);
      current = `${view}:${k}`;
      if (view === 'table') { body.replaceChildren(tableView); if (!st.order) refresh(); else draw(); return; }
      if (view === 'map') { body.replaceChildren(mapView ??= makeMap()); return; }
      const want = current;
      body.replaceChildren(h('p', {className: 'ma-loading'}, `Loading latent ${k}…`));
      source.latent(k, ix.chunk).then(L => { if (current === want) { body.replaceChildren(latentPage(k, L)); window.scrollTo?.(0, 0); } })
        .catch(e => body.replaceChildren(h('p', {className: 'ma-error'}, `Latent ${k} could not load: ${e.message}`)));
    }
    const fromHash = () => { const m = /^#latent\/(\d+)$/.exec(location.hash); go(m ? 'latent' : location.hash === '#map' ? 'map' : 'table', m ? +m[1] : undefined, true); };
    if (source.hash) { window.addEventListener('popstate', fromHash); fromHash(); } else go('table');
  }

  return {mount, put, fileSource, kernelSource};
})();
