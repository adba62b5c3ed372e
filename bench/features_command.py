"""What `medsae features` does per shard (write the feature shards, then the per-latent statistics), timed with whichever medsae is imported: run it once with today's code and once with the code of before #22, on the same machine.

    git worktree add /tmp/medsae-before-22 7101865                               # the last commit before #22's work
    PYTHONPATH=/tmp/medsae-before-22 python bench/features_command.py             # then
    python bench/features_command.py                                              # now

Data: `--shards` shards of 8,192 random rows of d_in 512 (seed 0); SAEs of 16,384 latents with random weights (seed 0):
TopK with k 32, BatchTopK with the inference threshold that keeps about 32 a row, a ReLU SAE whose bias leaves about 5 %
of its latents on. The statistics keep 16 top and 16 bottom samples per latent, as `medsae features` does. Prints, per
architecture, seconds per shard for the writing, the statistics and both, and the mean active latents per row.
"""
import argparse, tempfile, time
from pathlib import Path

import torch

import medsae
from medsae.core import set_quiet
from medsae.activations import ActivationStore, write_shard, shard_file
from medsae.sae import sae_class
from medsae.features import FeatureStore, write_feature_shards, compute_stats


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--archs', default='topk,batchtopk,standard')
    p.add_argument('--shards', type=int, default=4)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads); set_quiet(True)
    d_in, d_sae, k, rows = 512, 16384, 32, 8192
    print(f'medsae from {Path(medsae.__file__).parent}; {a.shards} shards of {rows} x {d_in}, d_sae {d_sae}, {a.threads} threads; seconds per shard')
    with tempfile.TemporaryDirectory() as tmp:
        tmp, g = Path(tmp), torch.Generator().manual_seed(0)
        for j in range(a.shards):
            write_shard(tmp/'acts'/shard_file(j), torch.randn(rows, d_in, generator=g), torch.zeros(rows, 3), torch.arange(j * rows, (j + 1) * rows),
                        [f'img{j * rows + i}' for i in range(rows)], {'label_names': ['a', 'b', 'c']})
        store = ActivationStore(tmp/'acts')
        for arch in a.archs.split(','):
            torch.manual_seed(0)
            sae = sae_class(arch)(d_in=d_in, d_sae=d_sae, **({'k': k} if arch != 'standard' else {})).eval()
            with torch.no_grad():
                pre = sae.pre_acts(store._read(0)[:512])
                if arch == 'batchtopk': sae.threshold.fill_(float(pre.flatten().topk(k * 512 + 1).values[-2:].mean()))
                if arch == 'standard': sae.b_enc.sub_(pre.quantile(0.95, dim=0))
            out = tmp/f'feats_{arch}'
            t0 = time.perf_counter(); write_feature_shards(out, sae, store); t1 = time.perf_counter()
            stats = compute_stats(FeatureStore(out), 16, 16); t2 = time.perf_counter()
            print(f'{arch:10s} write {(t1 - t0) / a.shards:5.2f}  statistics {(t2 - t1) / a.shards:5.2f}  both {(t2 - t0) / a.shards:5.2f}  '
                  f'active latents a row {float(stats.count.sum()) / stats.n:.0f}', flush=True)


if __name__ == '__main__': main()
