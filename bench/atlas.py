"""Feature-atlas benchmark: build time, peak memory, site size and page timings of `medsae atlas` on a synthetic store.

For each configuration LATENTSxIMAGES it makes, in a work folder (each step in a fresh process):

    gen        structured activations (d_in --d_in; sparse non-negative codes over planted unit directions plus noise;
               14 CheXpert labels, label c = "direction c is active"), written as activation shards whose ids are
               the built-in `synthetic-cxr` test images (size 64, drawn on the fly: the atlas's thumbnails come from
               them); a random TopK SAE (k --k) whose decoder rows are planted directions plus noise of varied
               size (so latents differ in frequency; some never fire), saved as a checkpoint; a concept table
               (a name, description and alternatives for 90 % of the latents) and a scores table.
    features   `compute_features` with that SAE, and `feature_stats` (as `medsae features` leaves them):
               timed apart, they are not the atlas's cost.
    cli        exactly `medsae atlas --features F --out SITE --concepts C --scores S` (the statistics cached by
               the step before): wall time and peak RSS (`ru_maxrss` of the process).
    breakdown  in-process timers around the library's functions, in `build_atlas`'s and `write_atlas`'s order:
               `build_atlas` as a whole, then each of its parts again alone (dataset, concept_columns,
               class_scores, the SAE, atlas_histograms, decoder_neighbours, decoder_map, sample_info of the samples
               shown), and `write_atlas`'s writes one by one (index.js, text.js, map.js, the latent chunks,
               thumbnails: read + resize and PNG save apart, atlas.json) into a second site.
    check      `check_atlas` on the CLI's site (headless Chromium, served then file://): first_rows_ms (goto ->
               first table rows), latent_ms (click -> latent page with its images loaded), map_ms.

It prints one summary table, appends the raw results to bench/atlas.jsonl and writes bench/atlas.md.

    python bench/atlas.py --quick                        # 4,096 latents x 4,000 images: about 2 minutes
    python bench/atlas.py                                # 65,536 x 20,000 and 16,384 x 100,000
    python bench/atlas.py --configs 16384x100000 --profile   # and a cProfile of `medsae atlas` (top functions by own time)
"""
import argparse, contextlib, datetime, gzip, json, os, platform, shutil, subprocess, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARD, N_ATOMS, ACTIVE, IMAGE_PX = 16384, 256, 6, 64


def parse_config(s):
    d, n = s.lower().split('x')
    return int(d), int(n)


def planted(d_in, seed=0):
    "The planted unit directions (N_ATOMS, d_in)."
    atoms = np.random.default_rng(seed).standard_normal((N_ATOMS, d_in)).astype(np.float32)
    return atoms / np.linalg.norm(atoms, axis=1, keepdims=True)


def rows_chunk(start, n, atoms, seed=0):
    "Rows [start, start + n): ACTIVE directions each (a skewed choice: some directions are common, some rare), and their 14 labels."
    rng = np.random.default_rng([seed, start])
    p = 1 / np.arange(1, N_ATOMS + 1) ** 0.7; p /= p.sum()  # Zipf-like popularity of the directions
    which = np.argpartition(-(np.log(p) + rng.gumbel(size=(n, N_ATOMS))), ACTIVE, axis=1)[:, :ACTIVE]  # ACTIVE draws without replacement (Gumbel top-k)
    codes = np.zeros((n, N_ATOMS), np.float32)
    np.put_along_axis(codes, which, rng.exponential(1.0, (n, ACTIVE)).astype(np.float32) + 0.5, axis=1)
    x = codes @ atoms + 0.05 * rng.standard_normal((n, atoms.shape[1])).astype(np.float32)
    labels = (codes[:, :14] > 0).astype(np.float32)
    flip = rng.random(labels.shape) < 0.03  # a little label noise
    return x, np.where(flip, 1 - labels, labels)


def paths(work, d_sae, n):
    w = Path(work)/f'd{d_sae}_n{n}'
    return {'work': w, 'acts': w/'acts', 'sae': w/'sae', 'feats': w/'feats', 'concepts': w/'concepts.csv', 'scores': w/'scores.csv',
            'site': w/'site', 'site2': w/'site_breakdown', 'shots': w/'shots'}


def stage_gen(p, d_sae, n, d_in, k, **_):
    "Activations with the ids of synthetic-cxr test images, a random TopK SAE checkpoint, a concept table and a scores table."
    import torch, pandas as pd
    from medsae.activations import write_shard, shard_file
    from medsae.data import CHEXPERT_LABELS
    from medsae.synthetic import synth_id, SYNTH_SPLITS
    from medsae.sae import TopKSAE, save_sae
    atoms = planted(d_in)
    first = SYNTH_SPLITS['test']
    for j, s in enumerate(range(0, n, SHARD)):
        x, y = rows_chunk(s, min(SHARD, n - s), atoms)
        write_shard(p['acts']/shard_file(j), torch.from_numpy(x), torch.from_numpy(y), torch.arange(s, s + len(x)),
                    [synth_id('test', first + i) for i in range(s, s + len(x))], {'label_names': list(CHEXPERT_LABELS)})
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    sae = TopKSAE(d_in=d_in, d_sae=d_sae, k=k).eval()
    atom_of = rng.integers(0, N_ATOMS, d_sae)
    noise = rng.choice([0.2, 0.5, 1.0, 3.0], d_sae, p=[.3, .3, .25, .15])  # 3.0: mostly noise, rarely fires
    W = atoms[atom_of] + noise[:, None] * rng.standard_normal((d_sae, d_in)).astype(np.float32) / np.sqrt(d_in)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    with torch.no_grad():
        sae.W_dec.copy_(torch.from_numpy(W)); sae.W_enc.copy_(torch.from_numpy(W.T.copy()))
        sae.b_enc.copy_(torch.from_numpy(rng.normal(0, 0.1, d_sae).astype(np.float32))); sae.b_dec.zero_()
    save_sae(sae, p['sae'])
    words = ['opacity', 'effusion', 'cardiomegaly', 'nodule', 'line', 'tube', 'rib', 'apex', 'base', 'hilum', 'border', 'diaphragm', 'texture', 'edge', 'marker']
    named = np.flatnonzero(rng.random(d_sae) < 0.9)
    name = lambda j: f"{words[j % 15]} {words[(j // 15) % 15]} {j % 997}"
    pd.DataFrame({'neuron': named, 'concept': [name(j) for j in named],
                  'description': [f"a latent of planted direction {atom_of[j]} ({words[atom_of[j] % 15]})" for j in named],
                  'similarity': rng.uniform(0.1, 0.4, len(named)).round(4),
                  'alternatives': [f"{name(j + 1)} (0.21); {name(j + 2)} (0.19)" for j in named]}).to_csv(p['concepts'], index=False)
    pd.DataFrame({'latent': np.arange(d_sae), 'ms': rng.uniform(0, 1, d_sae).round(4)}).to_csv(p['scores'], index=False)


def stage_features(p, d_sae, n, **_):
    "`compute_features` and `feature_stats` (as `medsae features` leaves them): timed apart from the atlas."
    from medsae.activations import ActivationStore
    from medsae.features import compute_features, feature_stats, load_sae_checkpoint
    sae, info = load_sae_checkpoint(p['sae'])
    t0 = time.perf_counter()
    feats = compute_features(sae, ActivationStore(p['acts']), p['feats'], act_scale=info.get('act_scale'), sae_source=str(p['sae']),
                             source={'dataset': 'synthetic-cxr', 'split': 'test', 'dataset_kwargs': {'n': n, 'size': IMAGE_PX}}, overwrite=True)
    t1 = time.perf_counter()
    stats = feature_stats(feats, overwrite=True)
    t2 = time.perf_counter()
    return {'features_s': round(t1 - t0, 1), 'stats_s': round(t2 - t1, 1), 'nnz_per_row': round(sum(int(feats.csr(j)[0][-1]) for j in range(len(feats.files))) / n, 1),
            'dead': int(stats.dead_mask.sum()), 'freq_median': float(stats.freq[~stats.dead_mask].median()), 'freq_max': float(stats.freq.max())}


class Timers(dict):
    @contextlib.contextmanager
    def __call__(self, name):
        t0 = time.perf_counter()
        yield
        self[name] = self.get(name, 0.0) + time.perf_counter() - t0


def stage_breakdown(p, **_):
    "In-process timers around the library's functions, in build_atlas's and write_atlas's order."
    import torch
    from medsae import atlas as A
    from medsae.features import FeatureStore, feature_stats, features_dataset, sample_info, load_sae_checkpoint
    from medsae.evaluation.labels import class_scores
    T = Timers()
    feats = FeatureStore(p['feats'])
    with T('stats (cached)'): stats = feature_stats(feats)
    with T('read_scores'): scores = A.read_scores(str(p['scores']), feats.d_sae)
    with T('build_atlas'): a = A.build_atlas(feats, stats, None, concepts=p['concepts'], scores=scores)
    # each part of build_atlas again, alone
    with T('  dataset'): features_dataset(feats)
    with T('  concept_columns'): A.concept_columns(p['concepts'], feats.d_sae)
    with T('  class_scores'): class_scores(feats)
    with T('  load SAE'): sae = load_sae_checkpoint(p['sae'])[0]
    with T('  atlas_histograms'): A.atlas_histograms(feats, stats.max)
    with T('  decoder_neighbours'): A.decoder_neighbours(sae.W_dec)
    with T('  decoder_map'): A.decoder_map(sae.W_dec)
    with T('  sample_info (shown)'): sample_info(feats, list(a.samples))
    # write_atlas's writes, one by one
    site = p['site2']; shutil.rmtree(site, ignore_errors=True)
    for d in ('data/latents', 'img'): (site/d).mkdir(parents=True, exist_ok=True)
    with T('write index.js'): (site/'data'/'index.js').write_text(A._script('index', A.atlas_index(a)))
    with T('write text.js'): (site/'data'/'text.js').write_text(A._script('text', A.atlas_text(a)))
    with T('write map.js'): (site/'data'/'map.js').write_text(A._script('map', A.atlas_map(a)))
    with T('latent chunks: records'): chunks = [A.atlas_chunk(a, c) for c in range(a.n_chunks)]
    with T('latent chunks: json + write'):
        for c, recs in enumerate(chunks): (site/'data'/'latents'/f'{c}.js').write_text(A._script(f'chunk:{c}', {'latents': recs}))
    del chunks
    it = A._thumbs(a, list(a.samples), IMAGE_PX)
    while True:
        with T('thumbnails: draw + resize'): s, im = next(it, (None, None))
        if s is None: break
        with T('thumbnails: PNG save'): im.save(site/'img'/f'{s}.png', optimize=True)
    with T('atlas.json'): (site/'atlas.json').write_text(json.dumps({'title': a.title, 'd_sae': a.d_sae, 'n_samples': a.features.n, 'label_names': a.label_names,
                                                                      'latents': A.atlas_records(a)}, allow_nan=False) + '\n')
    shutil.rmtree(site, ignore_errors=True)
    parts = [k for k in T if k.startswith('  ')]
    out = [[k, round(v, 2)] for k, v in T.items()]  # a part of build_atlas starts with two spaces
    return {'breakdown': out, 'shown': len(a.samples), 'build_parts_sum': round(sum(T[k] for k in parts), 2)}


def stage_profile(p, **_):
    "cProfile of `medsae atlas` (its function, in this process): the functions with the most own time."
    import cProfile, io, pstats
    from medsae.atlas import atlas_command
    argv = ['--features', str(p['feats']), '--out', str(p['site2']), '--concepts', str(p['concepts']), '--scores', str(p['scores'])]
    pr = cProfile.Profile(); pr.enable(); rc = atlas_command(argv); pr.disable()
    shutil.rmtree(p['site2'], ignore_errors=True)
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('tottime').print_stats(25)
    c = io.StringIO(); pstats.Stats(pr, stream=c).sort_stats('cumulative').print_stats(40)
    return {'profile_tottime': s.getvalue(), 'profile_cumtime': c.getvalue(), 'rc': rc}


def run_stage(stage, args, d_sae, n):
    "One stage in a fresh process: wall time (s), peak RSS (MiB) and what it returned."
    p = paths(args.work, d_sae, n)
    res = p['work']/f'{stage}.json'; res.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, '--stage', stage, '--work', args.work, '--d_sae', str(d_sae), '--n', str(n), '--d_in', str(args.d_in), '--k', str(args.k)]
    return _wait(cmd, args), (json.loads(res.read_text()) if res.exists() else {})


def _wait(cmd, args):
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, 'MEDSAE_QUIET': '1', 'OMP_NUM_THREADS': str(args.threads)})
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0: raise SystemExit(f"failed: {' '.join(map(str, cmd))}")
    return round(wall, 1), round(ru.ru_maxrss / 1024)  # Linux: KiB


def site_size(site):
    files = [f for f in Path(site).rglob('*') if f.is_file()]
    idx = (Path(site)/'data'/'index.js').read_bytes()
    by = lambda d: sum(f.stat().st_size for f in files if f.relative_to(site).parts[0] == d)
    return {'site_mib': round(sum(f.stat().st_size for f in files) / 2**20, 1), 'files': len(files), 'index_js_kib': round(len(idx) / 1024),
            'index_js_gzip_kib': round(len(gzip.compress(idx, 6)) / 1024), 'img_files': len(list((Path(site)/'img').iterdir())),
            'img_mib': round(by('img') / 2**20, 1), 'data_mib': round(by('data') / 2**20, 1),
            'atlas_json_mib': round((Path(site)/'atlas.json').stat().st_size / 2**20, 1)}


def run_config(args, d_sae, n):
    p = paths(args.work, d_sae, n)
    shutil.rmtree(p['work'], ignore_errors=True); p['work'].mkdir(parents=True)
    r = {'d_sae': d_sae, 'images': n, 'd_in': args.d_in, 'k': args.k, 'threads': args.threads}
    say = lambda m: print(f"[{d_sae}x{n}] {m}", flush=True)
    r['gen_s'], _ = run_stage('gen', args, d_sae, n)[0]
    say(f"gen {r['gen_s']} s")
    (wall, rss), extra = run_stage('features', args, d_sae, n)
    r.update(extra); r['features_rss_mib'] = rss
    say(f"features {r['features_s']} s, stats {r['stats_s']} s, {r['nnz_per_row']} nnz/row, {r['dead']} dead")
    cmd = ['medsae', 'atlas', '--features', str(p['feats']), '--out', str(p['site']), '--concepts', str(p['concepts']), '--scores', str(p['scores'])]
    r['command'] = ' '.join(cmd)
    runs = []
    for _ in range(args.repeat):  # a fresh site each time
        shutil.rmtree(p['site'], ignore_errors=True)
        runs.append(_wait([shutil.which('medsae') or 'medsae', *cmd[1:]], args))
    r['atlas_s_runs'], r['atlas_rss_mib_runs'] = [w for w, _ in runs], [m for _, m in runs]
    r['atlas_s'], r['atlas_rss_mib'] = min(r['atlas_s_runs']), max(r['atlas_rss_mib_runs'])
    r.update(site_size(p['site']))
    say(f"medsae atlas {r['atlas_s_runs']} s, {r['atlas_rss_mib']} MiB peak; site {r['site_mib']} MiB, {r['files']} files, index.js {r['index_js_kib']} KiB")
    if not args.no_breakdown:
        (r['breakdown_wall_s'], r['breakdown_rss_mib']), extra = run_stage('breakdown', args, d_sae, n)
        r.update(extra)
        say('breakdown ' + ', '.join(f"{k.strip()} {v}" for k, v in r['breakdown']))
    if args.profile:
        _, extra = run_stage('profile', args, d_sae, n)
        print(extra['profile_tottime'], extra['profile_cumtime'], sep='\n')
        (HERE/f'atlas_profile_{d_sae}x{n}.txt').write_text(extra['profile_tottime'] + '\n' + extra['profile_cumtime'])
    if not args.no_check:
        from medsae.atlas import check_atlas
        t0 = time.perf_counter()
        c = check_atlas(p['site'], p['shots'] if args.keep else None, timeout=args.check_timeout)
        r['check_s'] = round(time.perf_counter() - t0, 1)
        r.update({k: c.get(k) for k in ('first_rows_ms', 'latent_ms', 'map_ms', 'n_requests', 'count')}, latent_images=c.get('images'))
        say(f"check: first rows {r['first_rows_ms']} ms, latent {r['latent_ms']} ms ({r['latent_images']} images), map {r['map_ms']} ms")
    if not args.keep: shutil.rmtree(p['work'], ignore_errors=True)
    return r


COLS = [('latents', 'd_sae', '{:,}'), ('images', 'images', '{:,}'), ('features s*', 'features_s', '{}'), ('stats s*', 'stats_s', '{}'),
        ('atlas s (runs)', 'atlas_s_runs', None), ('atlas peak RSS MiB', 'atlas_rss_mib', '{:,}'), ('thumbnails', 'img_files', '{:,}'), ('site MiB (img, data/, atlas.json)', 'site_mib', None),
        ('files', 'files', '{:,}'), ('index.js KiB (gzip)', None, None), ('first rows ms', 'first_rows_ms', '{}'), ('latent page ms', 'latent_ms', '{}'), ('map ms', 'map_ms', '{}')]


def table(results):
    special = {None: lambda r: f"{r['index_js_kib']:,} ({r['index_js_gzip_kib']:,})",
               'atlas_s_runs': lambda r: f"**{r['atlas_s']}** ({', '.join(map(str, r['atlas_s_runs']))})",
               'site_mib': lambda r: f"{r['site_mib']} ({r['img_mib']}, {r['data_mib']}, {r['atlas_json_mib']})"}
    cell = lambda r, key, fmt: special[key](r) if key in special else ('–' if r.get(key) is None else fmt.format(r[key]))
    rows = [[h for h, _, _ in COLS]] + [[cell(r, k, f) for _, k, f in COLS] for r in results]
    return '\n'.join('| ' + ' | '.join(row) + ' |' for row in [rows[0], ['---'] * len(COLS), *rows[1:]])


def breakdown_table(results):
    rs = [r for r in results if 'breakdown' in r]
    if not rs: return ''
    keys = list(dict.fromkeys(k for r in rs for k, _ in r['breakdown']))
    head = ['stage (s)'] + [f"{r['d_sae']:,} x {r['images']:,}" for r in rs]
    got = [dict(r['breakdown']) for r in rs]
    body = [[f'· {k.strip()}' if k.startswith('  ') else k] + [str(g.get(k, '–')) for g in got] for k in keys]
    body.insert(max(i for i, k in enumerate(keys) if k.startswith('  ')) + 1, ['(sum of the parts)'] + [str(r['build_parts_sum']) for r in rs])
    body.append(['write total'] + [str(round(sum(v for k, v in g.items() if k.startswith(('write', 'latent', 'thumb', 'atlas.json'))), 1)) for g in got])
    body.append(['samples shown (thumbnails)'] + [f"{r['shown']:,}" for r in rs])
    return '\n'.join('| ' + ' | '.join(row) + ' |' for row in [head, ['---'] * len(head), *body])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--configs', nargs='+', default=['65536x20000', '16384x100000'], help='LATENTSxIMAGES')
    ap.add_argument('--quick', action='store_true', help='4096x4000 only: about 2 minutes')
    ap.add_argument('--d_in', type=int, default=128)
    ap.add_argument('--k', type=int, default=32)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=2, help='runs of `medsae atlas` per configuration (the machine may be shared): the table shows the fastest')
    ap.add_argument('--work', default='/tmp/medsae-atlas-bench', help='data and sites (removed after each configuration unless --keep)')
    ap.add_argument('--keep', action='store_true', help='keep the data and the site (and screenshots) in --work')
    ap.add_argument('--no_breakdown', action='store_true', help='skip the in-process per-stage timers')
    ap.add_argument('--no_check', action='store_true', help='skip headless Chromium')
    ap.add_argument('--profile', action='store_true', help='also cProfile `medsae atlas` in-process; written to bench/atlas_profile_{config}.txt')
    ap.add_argument('--check_timeout', type=float, default=120)
    ap.add_argument('--md', default=str(HERE/'atlas.md'), help="the report ('' for none)")
    ap.add_argument('--stage', help=argparse.SUPPRESS); ap.add_argument('--d_sae', type=int, help=argparse.SUPPRESS); ap.add_argument('--n', type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:  # one stage, in this (fresh) process
        import torch; torch.set_num_threads(args.threads)
        from medsae.core import set_quiet; set_quiet(True)
        p = paths(args.work, args.d_sae, args.n)
        out = globals()[f'stage_{args.stage}'](p, d_sae=args.d_sae, n=args.n, d_in=args.d_in, k=args.k)
        if out: (p['work']/f'{args.stage}.json').write_text(json.dumps(out))
        return
    if args.quick: args.configs = ['4096x4000']
    configs = [parse_config(c) for c in args.configs]
    free = shutil.disk_usage(Path(args.work).parent if not Path(args.work).exists() else args.work).free
    need = max(n * args.d_in * 4 * 2 + n * 8 * 1024 + d * 3000 for d, n in configs)  # activations, thumbnails (< 8 KiB), chunks
    if need > free: raise SystemExit(f"{args.work}: needs about {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free")
    stamp = datetime.datetime.now().isoformat(timespec='seconds')
    results = []
    for d_sae, n in configs:
        r = run_config(args, d_sae, n)
        r.update({'date': stamp, 'argv': sys.argv[1:], 'cpus': os.cpu_count(), 'machine': platform.processor() or platform.machine()})
        results.append(r)
        with open(HERE/'atlas.jsonl', 'a') as f: f.write(json.dumps(r) + '\n')
    print('\n' + table(results) + '\n\n' + breakdown_table(results))
    if args.md: write_md(results, args, stamp)


def write_md(results, args, stamp):
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.machine()) if Path('/proc/cpuinfo').exists() else platform.machine()
    lines = ['# Feature-atlas benchmark\n',
             f"`{' '.join(['python bench/atlas.py', *sys.argv[1:]])}` on {stamp[:10]}: {os.cpu_count()} CPU cores ({cpu}), {args.threads} torch threads, no GPU; "
             f"d_in {args.d_in}, TopK k {args.k}, one vector per image (no heatmaps), images of the built-in `synthetic-cxr` test split at {IMAGE_PX} px "
             "drawn on the fly, 14 CheXpert labels, a concept table naming 90 % of the latents and one score column. "
             "The atlas is built by exactly `medsae atlas --features F --out SITE --concepts concepts.csv --scores scores.csv` in a fresh process "
             "(the statistics cached beforehand, as `medsae features` leaves them), --repeat times: its wall times (the fastest in bold) and peak RSS (`ru_maxrss`).\n",
             '\\* not the atlas\'s cost: `compute_features` and `feature_stats` (16 top, 16 bottom samples per latent), run before it. '
             'Page timings come from `check_atlas` (headless Chromium, served from a local server): first rows = goto → first table rows; '
             'latent page = click → latent page with all its images loaded; map = click → map drawn.\n',
             table(results), '\n## Where the time goes\n',
             'In-process timers around the library\'s functions (`bench/atlas.py` stage `breakdown`): `build_atlas` as a whole, then each part of it '
             'again alone (indented: they sum to about `build_atlas`), then `write_atlas`\'s writes one by one.\n', breakdown_table(results), '',
             '## Raw results\n', 'Every run appends its measurements to `bench/atlas.jsonl`.\n']
    old = Path(args.md).read_text() if Path(args.md).exists() else ''
    notes = old[old.index(NOTES):] if NOTES in old else ''  # hand-written notes below the marker survive a rerun
    Path(args.md).write_text('\n'.join(lines) + ('\n' + notes if notes else ''))


NOTES = '<!-- notes: kept by bench/atlas.py when it rewrites this file -->'


if __name__ == '__main__':
    main()
