"""Feature writing (`write_feature_shards`) and per-latent statistics (`compute_stats`) at d_sae 16384, on CPU.

Run from the repository root (about a minute per architecture on 2 cores):

    python bench/feature_write.py                                   # d_in 512, d_sae 16384, k 32, one 8,192-row shard, 2 threads
    python bench/feature_write.py --archs topk --rows 1024          # a quick look
    python bench/feature_write.py --spatial 49 --rows 256           # (C, 7, 7) maps: 49 positions a sample, max-pooled

For each architecture (a random SAE: TopK, BatchTopK with an inference threshold, a ReLU SAE whose
bias leaves about 5 % of the latents on) it writes one activation shard of `--rows` samples, then times

- `gemm`: the bare encoder product x @ W_enc over the same rows (the floor any encoder pays);
- `before`: the old path, `encode_batch` on 64 samples at a time then `to_csr` of the dense block
  (timed only with `--before`, the default; it is what `write_feature_shards` did until #22);
- `after`: `write_feature_shards` as it is now, to disk;
- `stats`: `compute_stats` on the features written, n_top = n_bottom = 16;

checks that `after` wrote the same CSR as `before`, and prints one row per architecture with the
share of `after` that is the GEMM.
"""
import argparse, tempfile, time
from pathlib import Path

import torch

from medsae.core import set_quiet, load_tensors
from medsae.activations import ActivationStore, write_shard, shard_file
from medsae.sae import sae_class
from medsae.features import FeatureStore, write_feature_shards, encode_batch, to_csr, cat_csr, compute_stats


def random_sae(arch, d_in, d_sae, k, acts):
    "A random SAE in eval mode; BatchTopK gets the threshold that keeps k latents a row on average, the ReLU SAE a bias keeping ~5 % on."
    torch.manual_seed(0)
    sae = sae_class(arch)(d_in=d_in, d_sae=d_sae, **({'k': k} if arch != 'standard' else {})).eval()
    with torch.no_grad():
        x = acts.reshape(-1, d_in)[:512] if acts.ndim == 2 else acts[:16].flatten(2).transpose(1, 2).reshape(-1, d_in)
        pre = sae.pre_acts(x)
        if arch == 'batchtopk': sae.threshold.fill_(float(pre.flatten().topk(k * len(x)).values[-1]))
        if arch == 'standard': sae.b_enc.sub_(pre.quantile(0.95, dim=0))
    return sae


def dense_path(sae, store, batch_size=64):
    "The old `write_feature_shards` inner loop: dense codes of `batch_size` samples, then `to_csr`."
    acts = store._read(0)
    return cat_csr([to_csr(encode_batch(sae, acts[s:s + batch_size])) for s in range(0, len(acts), batch_size)])


def timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--archs', nargs='+', default=['topk', 'batchtopk', 'standard'])
    p.add_argument('--rows', type=int, default=8192, help='samples in the shard')
    p.add_argument('--d_in', type=int, default=512); p.add_argument('--d_sae', type=int, default=16384); p.add_argument('--k', type=int, default=32)
    p.add_argument('--spatial', type=int, default=0, help='positions per sample (a square map), 0 for one vector a sample')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--no-before', dest='before', action='store_false', help='skip the old dense path')
    a = p.parse_args()
    torch.set_num_threads(a.threads); set_quiet(True)
    side = int(a.spatial ** .5)
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(a.rows, a.d_in, generator=g) if not a.spatial else torch.randn(a.rows, a.d_in, side, side, generator=g)
    n_rows = a.rows * max(a.spatial, 1)
    print(f"rows {a.rows} x positions {max(a.spatial, 1)} = {n_rows} encoder rows, d_in {a.d_in}, d_sae {a.d_sae}, k {a.k}, threads {a.threads}")
    print(f"{'arch':<10} {'gemm s':>7} {'before s':>9} {'after s':>8} {'speed-up':>8} {'gemm/after':>10} {'stats s':>8} {'nnz/row':>8}  same CSR")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_shard(d/'acts'/shard_file(0), acts, torch.zeros(a.rows, 0), torch.arange(a.rows), list(map(str, range(a.rows))))
        store = ActivationStore(d/'acts')
        for arch in a.archs:
            sae = random_sae(arch, a.d_in, a.d_sae, a.k, acts)
            x = acts if not a.spatial else acts.flatten(2).transpose(1, 2).reshape(-1, a.d_in)
            W = sae.W_enc.detach()
            t_gemm = min(timed(lambda: [xb @ W for xb in x.split(4096)])[0] for _ in range(2))
            t_before, ref = timed(lambda: dense_path(sae, store)) if a.before else (float('nan'), None)
            t_after, _ = timed(lambda: write_feature_shards(d/f'feats_{arch}', sae, store))
            got = load_tensors(d/f'feats_{arch}'/'feats_00000.safetensors')
            same = '-' if ref is None else all(torch.equal(r, got[k]) for r, k in zip(ref, ('indptr', 'indices', 'values')))
            t_stats, _ = timed(lambda: compute_stats(FeatureStore(d/f'feats_{arch}')))
            nnz = int(got['indptr'][-1]) / a.rows
            print(f"{arch:<10} {t_gemm:7.2f} {t_before:9.2f} {t_after:8.2f} {t_before / t_after:7.1f}x {t_gemm / t_after:9.0%} {t_stats:8.2f} {nnz:8.1f}  {same}")


if __name__ == '__main__': main()
