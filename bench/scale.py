"""Scale benchmark: wall time and peak memory of every stage as the data grows, out of core.

Generates structured activations of growing size (sparse non-negative combinations of planted
unit directions plus noise; 14 labels, label c = "direction c is active"), then runs, each stage
in a fresh process so that its peak resident memory is its own:

    gen       write the activations twice: a user's `.npy` file and a medsae activations folder with labels
    train     `medsae train --load_activations_path acts.npy` (its function, in the stage's process) (a TopK SAE, --train_tokens rows at
              every size, through a 2^16-row shuffle buffer: the same run at every size, over several epochs of a smaller file)
    features  `compute_features`: the SAE's features of every row, as CSR shards
    stats     `feature_stats`: frequency, mean, max, top and bottom samples of every latent
    ms        `monosemanticity_scores`, the activations themselves as the image embeddings
    chexpert  `chexpert_scores`: every latent against the 14 labels

and writes a table of wall time and peak RSS per stage and size to bench/scale.md, with plots of
RSS against rows (flat is the goal) and time against rows (linear is the goal) in bench/scale.png.
Rows grow at a fixed width (d_sae --d_sae_rows); then latents grow at a fixed number of rows.

    python bench/scale.py --quick            # under 5 minutes: 10^5 and 4·10^5 rows, 4k latents
    python bench/scale.py                    # 10^5 → 10^7 rows at 4k latents, then 4k → 64k latents at 10^5 rows
    python bench/scale.py --rows 1e5 1e6 --latents 4096 16384 --work /big/disk/scale
    python bench/scale.py --gpu              # bench/gpu.sh's part: train and features on CUDA, d_in 2048, 2^19 rows (--gpu_rows)
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STAGES = ['gen', 'train', 'features', 'stats', 'ms', 'chexpert']
N_LABELS, SHARD = 14, 65536


def planted_chunk(start, n, d_in, seed=0, n_atoms=64, active=6):
    "Rows [start, start + n) of the benchmark's data, and their labels: the same rows whatever the chunking."
    atoms = np.random.default_rng(seed).standard_normal((n_atoms, d_in)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    rng = np.random.default_rng([seed, start])
    which = np.argsort(rng.random((n, n_atoms)), axis=1)[:, :active]
    codes = np.zeros((n, n_atoms), np.float32)
    np.put_along_axis(codes, which, rng.exponential(1.0, (n, active)).astype(np.float32) + 0.5, axis=1)
    x = codes @ atoms + 0.05 * rng.standard_normal((n, d_in)).astype(np.float32)
    return x, (codes[:, :N_LABELS] > 0).astype(np.float32)


def stage_gen(work, n, d_in, **_):
    "The user's .npy (written by row ranges) and the same rows as a medsae activations folder with labels."
    import torch
    from medsae.activations import ACTIVATIONS, write_shard, shard_file
    from medsae.artefacts import load_or_compute
    names = [f'concept_{c}' for c in range(N_LABELS)]
    def write(folder):
        with open(work/'acts.npy', 'wb') as npy:  # written by appending rows (a memory map would keep every written page resident)
            np.lib.format.write_array_header_1_0(npy, {'descr': '<f4', 'fortran_order': False, 'shape': (n, d_in)})
            for j, s in enumerate(range(0, n, SHARD)):
                x, y = planted_chunk(s, min(SHARD, n - s), d_in)
                npy.write(x.tobytes())
                write_shard(Path(folder)/shard_file(j), torch.from_numpy(x), torch.from_numpy(y), torch.arange(s, s + len(x)),
                            [str(i) for i in range(s, s + len(x))], {'label_names': names})
    load_or_compute(work/'acts', {'bench': 'scale', 'n': n, 'd_in': d_in}, write, ACTIVATIONS)


def _gpu_peak(device):
    import torch
    return {'gpu_peak_mib': round(torch.cuda.max_memory_allocated() / 2**20)} if device.startswith('cuda') else {}


def _sync(device):
    import torch
    if device.startswith('cuda'): torch.cuda.synchronize()


TRAIN_BUFFER = 2**16  # shuffle-buffer rows: below the smallest file, so every size trains through the same buffer
GPU_ROWS = 2**19  # --gpu's rows: 4 GiB per copy at d_in 2048, 8 times the buffer's 512 MiB. Generating them is one core's work (numpy's
                  # generator, ~5 s per 65,536-row shard on this project's 2-core machine: ~45 s for 2^19 rows, ~90 s for 2^20), and
                  # the GPU machine is lent for minutes at a time (bench/GPU.md)

def stage_train(work, n, d_in, d_sae, k, train_tokens, device, **_):
    "medsae train on the .npy: --train_tokens rows at every size (epochs over a smaller file), so that only the file's size changes."
    tokens = train_tokens // 4096 * 4096
    from medsae.training import train_command
    argv = ['--load_activations_path', str(work/'acts.npy'), '--arch', 'topk', '--k', str(k), '--d_sae', str(d_sae), '--batch_size', '4096',
            '--tokens', str(tokens), '--buffer_size', str(TRAIN_BUFFER), '--checkpoint_every', '0', '--out', str(work/f'sae_{d_sae}'), '--overwrite', '--device', device]
    import medsae.training as training
    fit, loop = training.fit, {}
    def timed_fit(*a, **kw):  # the training loop alone: no SAE initialisation, no saving
        _sync(device); t = time.perf_counter(); out = fit(*a, **kw); _sync(device); loop['s'] = time.perf_counter() - t
        return out
    training.fit = timed_fit
    t0 = time.perf_counter()
    if train_command(argv): raise SystemExit('medsae train failed')
    return {'rows_per_s': round(tokens / (time.perf_counter() - t0)), 'loop_rows_per_s': round(tokens / loop['s']), **_gpu_peak(device)}


def _sae(work, d_sae):
    from medsae.features import load_sae_checkpoint
    return load_sae_checkpoint(work/f'sae_{d_sae}')


def stage_features(work, n, d_sae, device, **_):
    from medsae.features import compute_features
    sae, info = _sae(work, d_sae)
    sae = sae.to(device); _sync(device)  # the copy to the GPU is set-up, not feature writing
    t0 = time.perf_counter()
    compute_features(sae, work/'acts', work/f'feats_{d_sae}', act_scale=info['act_scale'], overwrite=True)
    _sync(device)
    return {'rows_per_s': round(n / (time.perf_counter() - t0)), **_gpu_peak(device)}


def stage_stats(work, d_sae, **_):
    from medsae.features import feature_stats
    feature_stats(work/f'feats_{d_sae}', overwrite=True)


def stage_ms(work, d_sae, **_):
    from medsae.activations import ActivationStore
    from medsae.features import FeatureStore
    from medsae.evaluation import monosemanticity_scores
    monosemanticity_scores(FeatureStore(work/f'feats_{d_sae}'), ActivationStore(work/'acts'))


def stage_chexpert(work, d_sae, **_):
    from medsae.features import FeatureStore
    from medsae.evaluation import chexpert_scores
    chexpert_scores(FeatureStore(work/f'feats_{d_sae}'))


def run_stage(stage, args, work, n, d_sae):
    "Run one stage in a fresh process; its wall time (s) and peak RSS (MiB, the process and its children)."
    cmd = [sys.executable, __file__, '--stage', stage, '--work', str(work), '--n', str(n), '--d_sae', str(d_sae), '--d_in', str(args.d_in),
           '--k', str(args.k), '--train_tokens', str(args.train_tokens), '--device', args.device, '--threads', str(args.threads)]
    (work/'extra.json').unlink(missing_ok=True)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env={**os.environ, 'MEDSAE_QUIET': '1', 'OMP_NUM_THREADS': str(args.threads)})
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0: raise SystemExit(f"stage {stage} failed at n={n}, d_sae={d_sae}")
    extra = json.loads((work/'extra.json').read_text()) if (work/'extra.json').exists() else {}
    return wall, ru.ru_maxrss / 1024, extra  # Linux: KiB


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='a run under 5 minutes: 10^5 and 4·10^5 rows, 4k latents')
    ap.add_argument('--rows', type=float, nargs='+', default=[1e5, 1e6, 1e7], help='numbers of rows (at --d_sae_rows latents)')
    ap.add_argument('--latents', type=int, nargs='*', default=[4096, 16384, 65536], help='numbers of latents (at --rows_latents rows)')
    ap.add_argument('--d_sae_rows', type=int, default=4096, help='latents of the rows sweep')
    ap.add_argument('--rows_latents', type=float, default=1e5, help='rows of the latents sweep')
    ap.add_argument('--d_in', type=int, default=128)
    ap.add_argument('--k', type=int, default=32)
    ap.add_argument('--train_tokens', type=int, default=2**20, help='training rows, at every size (several epochs of a smaller file)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', default='cpu', help="where train and features run ('cuda' on a GPU machine: see bench/gpu.sh)")
    ap.add_argument('--stages', nargs='+', default=STAGES, choices=STAGES, help='the stages to run (gen runs when its data is missing)')
    ap.add_argument('--gpu', action='store_true', help="bench/gpu.sh's run: train and features on CUDA at d_in 2048, d_sae 65,536, k 64, on --gpu_rows rows")
    ap.add_argument('--gpu_rows', type=int, default=GPU_ROWS, help="rows of the --gpu run (2^19: a 4 GiB .npy, 8 times the 2^16-row shuffle buffer; 2^20 doubles the data-generation time and the disk)")
    ap.add_argument('--work', default='/tmp/medsae-scale', help='where the data is written (needs ~2 × rows × d_in × 4 bytes)')
    ap.add_argument('--out', default=str(HERE/'scale.md'))
    ap.add_argument('--stage', choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument('--n', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--d_sae', type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:  # one stage, in this (fresh) process
        import torch; torch.set_num_threads(args.threads)
        extra = globals()[f'stage_{args.stage}'](Path(args.work), n=args.n, d_in=args.d_in, d_sae=args.d_sae, k=args.k, train_tokens=args.train_tokens, device=args.device)
        if extra: (Path(args.work)/'extra.json').write_text(json.dumps(extra))
        return
    if args.quick: args.rows, args.latents, args.train_tokens = [1e5, 4e5], [], 2**17
    if args.gpu:
        args.rows, args.latents, args.d_sae_rows, args.d_in, args.k, args.device = [args.gpu_rows], [], 65536, 2048, 64, 'cuda'
        args.train_tokens, args.stages, args.threads = 2**20, ['gen', 'train', 'features'], os.cpu_count()
        args.out = str(Path(args.out).with_name('gpu.md')) if args.out == str(HERE/'scale.md') else args.out
        print(f"--gpu: {args.gpu_rows:,} rows, d_in 2048, d_sae 65,536, k 64, {args.train_tokens:,} training rows, stages gen, train and features, {args.threads} threads, on cuda (--rows, --latents, --d_in, --k and --train_tokens are not used)", flush=True)
    rows = [int(r) for r in args.rows]
    need = 2 * max(rows) * args.d_in * 4 * 1.1
    free = shutil.disk_usage(Path(args.work).parent if not Path(args.work).exists() else args.work).free
    if need > free: raise SystemExit(f"{args.work}: the largest size needs {need / 2**30:.1f} GiB of disk, {free / 2**30:.1f} GiB free; give fewer --rows or another --work")
    plan = [(n, args.d_sae_rows, 'rows') for n in rows] + [(int(args.rows_latents), d, 'latents') for d in args.latents if not (int(args.rows_latents) in rows and d == args.d_sae_rows)]
    results = []
    for n, d_sae, sweep in plan:
        work = Path(args.work)/f'n{n}_d{args.d_in}'
        work.mkdir(parents=True, exist_ok=True)
        for stage in STAGES:
            if stage == 'gen' and (work/'acts'/'meta.json').exists() and (work/'acts.npy').exists(): continue  # the data of an earlier run
            if stage not in ('gen', *args.stages): continue
            wall, rss, extra = run_stage(stage, args, work, n, d_sae)
            results.append({'sweep': sweep, 'rows': n, 'd_sae': d_sae, 'stage': stage, 'wall_s': round(wall, 1), 'peak_rss_mib': round(rss), **extra})
            print(json.dumps(results[-1]), flush=True)
        for p in work.glob('feats_*'): shutil.rmtree(p, ignore_errors=True)
    write_report(results, args)


def _device_name():
    import torch
    return torch.cuda.get_device_name(0)


def md_table(df):
    "A DataFrame as a markdown table (no tabulate needed)."
    cols = [str(df.index.name or '')] + [str(c) for c in df.columns]
    fmt = lambda v: f"{v:,.0f}" if isinstance(v, float) and abs(v) >= 100 else f"{v:g}" if isinstance(v, float) else str(v)
    body = [[str(i)] + [fmt(v) for v in row] for i, row in zip(df.index, df.itertuples(index=False))]
    return '\n'.join('| ' + ' | '.join(r) + ' |' for r in [cols, ['---'] * len(cols), *body])


def write_report(results, args):
    "bench/scale.md (the table, and the RSS spread per stage) and bench/scale.png."
    import pandas as pd
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    df = pd.DataFrame(results)
    rows = df[df.sweep == 'rows']
    wide = lambda col: rows.pivot_table(index='stage', columns='rows', values=col).reindex([s for s in STAGES if s in set(rows.stage)])
    rss, wall = wide('peak_rss_mib'), wide('wall_s')
    spread = ((rss.max(axis=1) - rss.min(axis=1)) / rss.min(axis=1) * 100).round(1)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for s in rss.index:
        ax[0].plot(rss.columns, rss.loc[s], 'o-', label=s); ax[1].plot(wall.columns, wall.loc[s], 'o-', label=s)
    for a, t in zip(ax, ['peak RSS (MiB): flat is the goal', 'wall time (s): linear is the goal']):
        a.set(xscale='log', xlabel='activation rows', title=t); a.grid(alpha=.3)
    ax[1].set_yscale('log'); ax[0].set_ylim(0, rss.max().max() * 1.15); ax[0].legend(fontsize=8, loc='lower right')
    fig.tight_layout(); fig.savefig(Path(args.out).with_suffix('.png'), dpi=110)
    Path(args.out).with_suffix('.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in results))  # the measurements themselves
    lines = ["# Scale benchmark\n", f"`python bench/scale.py {' '.join(sys.argv[1:])}`: d_in {args.d_in}, k {args.k}, batch 4096, "
             f"training on {args.train_tokens:,} rows at every size through a {TRAIN_BUFFER:,}-row shuffle buffer, {args.threads} threads, on {os.cpu_count()} CPUs. Each stage runs in a fresh process; "
             "peak RSS is that process's maximum resident set (`ru_maxrss`), training's being `medsae train`'s own function (`train_command`, as the command line runs it).\n",
             f"## Rows ({args.d_sae_rows} latents)\n", "Peak RSS (MiB) per stage and number of rows, and its spread (max − min over min):\n",
             md_table(rss.assign(spread_pct=spread)), "\nWall time (s):\n", md_table(wall), "\n![RSS and time against rows](scale.png)\n"]
    if 'rows_per_s' in df:
        fast = df.dropna(subset=['rows_per_s']).set_index(['stage', 'rows', 'd_sae'])[[c for c in ('rows_per_s', 'loop_rows_per_s', 'gpu_peak_mib') if c in df]]
        lines += ["## Throughput\n", "Activations per second inside each stage, after imports: `rows_per_s` over the whole stage (training: the SAE's initialisation and its saving included; "
                  "features: the SAE already on the device), `loop_rows_per_s` over the training loop alone (its first step's set-up included); the GPU's peak allocated memory where it ran on one"
                  + (f" ({_device_name()})" if args.device.startswith('cuda') else '') + ":\n",
                  md_table(fast.reset_index().set_index('stage')), '']
    lat = df[df.sweep == 'latents']
    if len(lat):
        lines += [f"## Latents ({int(args.rows_latents):,} rows)\n", 'Peak RSS (MiB):\n', md_table(lat.pivot_table(index='stage', columns='d_sae', values='peak_rss_mib')), '\nWall time (s):\n', md_table(lat.pivot_table(index='stage', columns='d_sae', values='wall_s')), '']
    Path(args.out).write_text('\n'.join(lines))
    print(Path(args.out).read_text())


if __name__ == '__main__':
    main()
