"""Feature writing (`write_feature_shards`) and per-latent statistics (`compute_stats`) at d_sae 16384, on CPU.

Run from the repository root (about a minute per architecture on 2 cores):

    python bench/feature_write.py                                   # d_in 512, d_sae 16384, k 32, four 8,192-row shards, 2 threads
    python bench/feature_write.py --screen off                      # without the bf16 screen (03c), the exact fp32 product
    python bench/feature_write.py --archs topk --rows 1024          # a quick look
    python bench/feature_write.py --spatial 49 --rows 256           # (C, 7, 7) maps: 49 positions a sample, max-pooled
    python bench/feature_write.py --archs standard --no-before --profile   # where the writing's time goes (cProfile, by own time)

For each architecture (a random SAE: TopK, BatchTopK with an inference threshold, a ReLU SAE whose
bias leaves about 5 % of the latents on) it writes `--shards` activation shards of `--rows` samples, then times, per shard

- `gemm`: the bare encoder product x @ W_enc over the same rows, in blocks of 4,096 into one kept output (the floor any encoder pays);
- `before`: the old path, `encode_batch` on 64 samples at a time then `to_csr` of the dense block
  (timed only with `--before`, the default; it is what `write_feature_shards` did until #22);
- `after`: `write_feature_shards` as it is now, to disk (with the bf16 screen of 03c where it pays, or as `--screen` says);
- `stats before`: the old `compute_stats` (dense chunks of 1,024 samples, a topk per chunk), copied here;
- `stats after`: `compute_stats` as it is now, from the CSR entries, n_top = n_bottom = 16;

- `command`: what `medsae features` does per shard, the features then their statistics: `before` + `stats before`
  against `after` + `stats after` (the old command's two steps against today's);

checks that `after` wrote the same CSR as `before` (with the screen: the same entries, and the values' largest relative
difference) and that both statistics agree (the values exactly; the
samples where the old topk's order among tied values allows), and prints one row per architecture with the
share of `after` that is the GEMM.
"""
import argparse, tempfile, time
from pathlib import Path

import torch

from medsae.core import set_quiet, load_tensors
from medsae.activations import ActivationStore, write_shard, shard_file
from medsae.sae import sae_class
from medsae.features import FeatureStats, FeatureStore, write_feature_shards, encode_batch, compute_stats
from medsae.sparse import to_csr, cat_csr


def random_sae(arch, d_in, d_sae, k, acts):
    "A random SAE in eval mode; BatchTopK gets the threshold that keeps k latents a row on average, the ReLU SAE a bias keeping ~5 % on."
    torch.manual_seed(0)
    sae = sae_class(arch)(d_in=d_in, d_sae=d_sae, **({'k': k} if arch != 'standard' else {})).eval()
    with torch.no_grad():
        x = acts.reshape(-1, d_in)[:512] if acts.ndim == 2 else acts[:16].flatten(2).transpose(1, 2).reshape(-1, d_in)
        pre = sae.pre_acts(x)
        if arch == 'batchtopk': sae.threshold.fill_(float(pre.flatten().topk(k * len(x) + 1).values[-2:].mean()))  # between two values, as a running threshold is: no entry ties it
        if arch == 'standard': sae.b_enc.sub_(pre.quantile(0.95, dim=0))
    return sae


def dense_path(sae, store, batch_size=64):
    "The old `write_feature_shards` inner loop over every shard: dense codes of `batch_size` samples, then `to_csr`; the first shard's CSR."
    out = []
    for j in range(len(store.sizes)):
        acts = store._read(j)
        out.append(cat_csr([to_csr(encode_batch(sae, acts[s:s + batch_size])) for s in range(0, len(acts), batch_size)]))
    return out[0]


def _merge_top(vals, idx, new_vals, new_idx, n, largest):
    v, i = torch.cat([vals, new_vals], 1), torch.cat([idx, new_idx], 1)
    t = v.topk(min(n, v.shape[1]), dim=1, largest=largest)
    return t.values, i.gather(1, t.indices)

def dense_stats(features, n_top=16, n_bottom=16, chunk_rows=1024):
    "The old `compute_stats`: dense chunks of `chunk_rows` samples, a per-latent topk of each merged into running buffers."
    d = features.d_sae
    count, total, mx = torch.zeros(d, dtype=torch.long), torch.zeros(d, dtype=torch.float64), torch.zeros(d)
    empty = lambda: (torch.zeros(d, 0), torch.zeros(d, 0, dtype=torch.long))
    (tv, ti), (bv, bi) = empty(), empty()
    for start, f in features.iter_dense(chunk_rows):
        count += (f > 0).sum(0); total += f.sum(0, dtype=torch.float64); mx = torch.maximum(mx, f.amax(0))
        ft, idx = f.t(), torch.arange(start, start + len(f)).expand(d, -1)
        tv, ti = _merge_top(tv, ti, *_merge_top(*empty(), ft, idx, n_top, True), n_top, True)
        bv, bi = _merge_top(bv, bi, *_merge_top(*empty(), ft, idx, n_bottom, False), n_bottom, False)
    return FeatureStats(features.n, count, total.float(), mx, tv, ti, bv, bi)


REPEAT = 1

SCREEN = None

def rewrite(folder, sae, store):
    "`write_feature_shards` into `folder`, emptied first (it skips shards already there)."
    for f in folder.glob('*'): f.unlink()
    return write_feature_shards(folder, sae, store, screen=SCREEN)

def timed(f):
    "The best wall time of REPEAT calls (the machine may be shared), and the output."
    best = float('inf')
    for _ in range(REPEAT): t = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t)
    return best, out


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--archs', nargs='+', default=['topk', 'batchtopk', 'standard'])
    p.add_argument('--rows', type=int, default=8192, help='samples in a shard')
    p.add_argument('--shards', type=int, default=4, help='shards written in one call (times are per shard)')
    p.add_argument('--screen', choices=['auto', 'on', 'off'], default='auto', help="write_feature_shards' bf16 screen (auto: where it pays)")
    p.add_argument('--d_in', type=int, default=512); p.add_argument('--d_sae', type=int, default=16384); p.add_argument('--k', type=int, default=32)
    p.add_argument('--spatial', type=int, default=0, help='positions per sample (a square map), 0 for one vector a sample')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--no-before', dest='before', action='store_false', help='skip the old dense path')
    p.add_argument('--repeat', type=int, default=1, help='time each step this many times, keep the best')
    p.add_argument('--profile', action='store_true', help="after each architecture's row, where one more writing's time goes (cProfile, the calls of most own time)")
    a = p.parse_args()
    global REPEAT, SCREEN; REPEAT, SCREEN = a.repeat, {'auto': None, 'on': True, 'off': False}[a.screen]
    torch.set_num_threads(a.threads); set_quiet(True)
    side = int(a.spatial ** .5)
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(a.rows, a.d_in, generator=g) if not a.spatial else torch.randn(a.rows, a.d_in, side, side, generator=g)
    n_rows = a.rows * max(a.spatial, 1)
    print(f"{a.shards} shards of {a.rows} rows x positions {max(a.spatial, 1)} = {n_rows} encoder rows each, d_in {a.d_in}, d_sae {a.d_sae}, k {a.k}, threads {a.threads}; times per shard")
    print(f"{'arch':<22} {'gemm s':>7} {'before s':>9} {'after s':>8} {'speed-up':>8} {'gemm/after':>10} {'stats before s':>14} {'stats after s':>13} {'speed-up':>8} {'nnz/row':>8} {'command before -> after':>23}  same CSR, same stats")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for j in range(a.shards):  # the same rows in each shard
            write_shard(d/'acts'/shard_file(j), acts, torch.zeros(a.rows, 0), torch.arange(a.rows) + j * a.rows, list(map(str, range(j * a.rows, (j + 1) * a.rows))))
        store = ActivationStore(d/'acts')
        for arch in a.archs:
            sae = random_sae(arch, a.d_in, a.d_sae, a.k, acts)
            x = acts if not a.spatial else acts.flatten(2).transpose(1, 2).reshape(-1, a.d_in)
            W = sae.W_enc.detach()
            out = torch.empty(4096, W.shape[1])  # one kept output block, as the encoder uses: no page faults of a fresh one
            t_gemm = min(timed(lambda: [torch.mm(xb, W, out=out[:len(xb)]) for xb in x.split(4096)])[0] for _ in range(2))
            t_before, ref = timed(lambda: dense_path(sae, store)) if a.before else (float('nan'), None)
            t_after, _ = timed(lambda: rewrite(d/f'feats_{arch}', sae, store))
            t_before, t_after = t_before / a.shards, t_after / a.shards
            got = load_tensors(d/f'feats_{arch}'/'feats_00000.safetensors')
            screened = FeatureStore(d/f'feats_{arch}')._info[0].get('screened', False)
            if ref is None: same = '-'
            else:  # the screen's values are fp32 dot products summed in another order: equal entries, values to rounding
                same = torch.equal(ref[0], got['indptr']) and torch.equal(ref[1], got['indices'])
                if same and screened: same = f"same entries, values to {float(((ref[2] - got['values']).abs() / ref[2].abs().clamp_min(1e-30)).max()):.0e}"
                elif same: same = torch.equal(ref[2], got['values'])
            feats = FeatureStore(d/f'feats_{arch}')
            t_sb, old = timed(lambda: dense_stats(feats)) if a.before else (float('nan'), None)
            t_sa, new = timed(lambda: compute_stats(feats))
            t_sb, t_sa = t_sb / a.shards, t_sa / a.shards
            same_stats = '-' if old is None else all(torch.equal(old.to_tensors()[k], new.to_tensors()[k]) for k in ('count', 'total', 'max', 'top_values', 'bottom_values'))
            nnz = int(got['indptr'][-1]) / a.rows
            arch = arch + (' (screened)' if screened else '')
            row = f"{arch:<22} {t_gemm:7.2f} {t_before:9.2f} {t_after:8.2f} {t_before / t_after:7.1f}x {t_gemm / t_after:9.0%} {t_sb:14.2f} {t_sa:13.2f} {t_sb / t_sa:7.1f}x {nnz:8.1f} {f'{t_before + t_sb:.2f} -> {t_after + t_sa:.2f} s ({(t_before + t_sb) / (t_after + t_sa):.1f}x)':>23}  {same}, {same_stats}"
            print(row)
            if a.profile:
                import cProfile, pstats, io
                pr = cProfile.Profile(); pr.enable(); rewrite(d/f'feats_{arch.split()[0]}', sae, store); pr.disable()
                out = io.StringIO(); pstats.Stats(pr, stream=out).sort_stats('tottime').print_stats(8)
                print('\n'.join(l for l in out.getvalue().splitlines() if l.strip() and not l.startswith(('   Ordered', '   List'))), flush=True)


if __name__ == '__main__': main()
