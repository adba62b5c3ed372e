"""Monosemanticity score at scale: N images x d_sae latents, timed end to end on this machine.

The features are synthetic and sparse like a TopK SAE's: k active latents per image, distinct, at random,
with positive values. They are written to disk as a features folder of CSR shards of 1,024 images,
the layout `medsae features` writes. The embeddings are N random unit vectors of width d_e, held in memory.
`monosemanticity_scores` then streams the shards. Per block of `--batch_size` images it does one sparse x dense
product into the (d_sae, d_e) float64 state. It never forms the N x N similarity matrix.

From the repository root:

    python bench/ms_bench.py --n 100000 --d_sae 16384           # the target size: k 32, d_e 512
    python bench/ms_bench.py --n 10000 --d_sae 4096 --threads 1 # smaller
    python bench/ms_bench.py --n 2000 --d_sae 512 --check 16    # smoke test, with an exact check

It prints the seconds spent writing the features and scoring them (wall clock, and the process's CPU time, which
a busy shared machine inflates less), images/s, and the peak resident memory
(ru_maxrss of the process: the data generation is included). It also prints the RSS just before scoring, so
the scoring's own peak is the difference when it is the larger. `--check m` recomputes m latents' MS directly,
in dense float64 (min-max normalise, then ||sum_n a_n e_n||^2 over the normalised columns), and prints the largest difference.
"""
import argparse, resource, shutil, tempfile, time
from pathlib import Path

import torch
import torch.nn.functional as F

from medsae.core import set_quiet, save_tensors
from medsae.features import FeatureStore, feature_shard_file
from medsae.evaluation.monosemanticity import monosemanticity_scores


def rss_mib() -> float:
    "Resident memory of this process now, MiB."
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')


def write_sparse_features(folder:Path, n:int, d_sae:int, k:int, shard_rows:int=1024, seed:int=0) -> FeatureStore:
    "A features folder of n images with k distinct active latents each (k - 1 random gaps below d_sae / k keep them distinct)."
    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for j, s in enumerate(range(0, n, shard_rows)):
        rows = min(shard_rows, n - s)
        gaps = torch.randint(1, max(2, d_sae // k), (rows, k), generator=g)
        gaps[:, 0] = torch.randint(0, d_sae, (rows,), generator=g)
        indices = (gaps.cumsum(1) % d_sae).sort(1).values.to(torch.int32).flatten()
        values = torch.rand(rows * k, generator=g) + 0.05
        save_tensors(folder/feature_shard_file(j), {'indptr': torch.arange(0, rows * k + 1, k), 'indices': indices, 'values': values,
                                                    'labels': torch.zeros(rows, 0), 'index': torch.arange(s, s + rows)},
                     meta={'d_sae': d_sae, 'label_names': [], 'ids': [str(i) for i in range(s, s + rows)]})
    return FeatureStore(folder)


def ms_dense(a:torch.Tensor, E:torch.Tensor) -> torch.Tensor:
    "MS of the columns of a dense (n, m) block, directly: min-max normalise, then the factorised double sum."
    a = a.double()
    at = (a - a.amin(0)) / (a.amax(0) - a.amin(0))
    S, sq = at.T @ E.double(), at.pow(2).sum(0)
    return (S.pow(2).sum(1) - sq) / (at.sum(0) ** 2 - sq)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=100_000, help='images')
    p.add_argument('--d_sae', type=int, default=16_384, help='latents')
    p.add_argument('--k', type=int, default=32, help='active latents per image')
    p.add_argument('--d_e', type=int, default=512, help='embedding width')
    p.add_argument('--batch_size', type=int, default=1024, help='images per block')
    p.add_argument('--threads', type=int, default=2, help='torch threads')
    p.add_argument('--check', type=int, default=0, help='recompute this many latents directly and compare')
    p.add_argument('--dir', help='where to write the features (default: a temporary folder, removed after)')
    args = p.parse_args()
    torch.set_num_threads(args.threads); set_quiet(True)
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp())/'features'
    try:
        t0 = time.perf_counter()
        feats = write_sparse_features(folder, args.n, args.d_sae, args.k)
        E = F.normalize(torch.randn(args.n, args.d_e, generator=torch.Generator().manual_seed(1)), dim=1)
        t_write = time.perf_counter() - t0
        rss_before = rss_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        ms = monosemanticity_scores(feats, E, batch_size=args.batch_size)
        t_ms, c_ms = time.perf_counter() - t0, time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"N={args.n} images x d_sae={args.d_sae} latents, k={args.k}, d_e={args.d_e}, batch {args.batch_size}, {args.threads} thread(s)")
        print(f"write features + embeddings: {t_write:.1f} s; monosemanticity_scores: {t_ms:.1f} s wall, {c_ms:.1f} s CPU ({args.n / t_ms:,.0f} images/s)")
        print(f"RSS before scoring {rss_before:.0f} MiB; peak RSS {peak:.0f} MiB; state (d_sae x d_e float64) {args.d_sae * args.d_e * 8 / 2**20:.0f} MiB")
        print(f"{int(ms.defined.sum())} latents defined; mean MS {ms.ms[ms.defined].mean():.5f} (random unit embeddings: near 0)")
        if args.check:
            cols = torch.linspace(0, args.d_sae - 1, args.check).long().tolist()
            want = ms_dense(feats.columns(cols), E)
            print(f"check on {args.check} latents: max |streamed - direct| = {(torch.tensor(ms.ms.values[cols]) - want).abs().max():.2e}")
    finally:
        if not args.dir: shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == '__main__': main()
