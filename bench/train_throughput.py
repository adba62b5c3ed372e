"""Training throughput of a BatchTopK SAE: medsae's dense and sparse steps, and the peers when installed.

    python bench/train_throughput.py --steps 10

Every trainer sees the same in-memory activations (sparse non-negative combinations of a random
dictionary, plus noise) for the same number of steps; the script prints activations/s, the FVU on a
held-out batch after training, the machine's own dense fp32 GEMM rate, and the fraction of it that
the step achieves counting only the encoder's product (the one GEMM a sparse step cannot avoid).
The peers (SAELens, dictionary_learning, overcomplete) run if importable, else are skipped with a
message: install them in the benchmark's own environment, not medsae's.
"""
import argparse, time

import torch
import torch.nn.functional as F

from medsae.core import set_quiet
from medsae.sae import sae_class
from medsae.training import SAETrainer, TrainConfig, fvu


def structured_batches(n_batches, batch, d_in, n_atoms, k_true, seed=0):
    "Batches of activations: k_true non-negative atoms of a random unit dictionary each, plus noise."
    g = torch.Generator().manual_seed(seed)
    atoms = F.normalize(torch.randn(n_atoms, d_in, generator=g), dim=1)
    out = []
    for _ in range(n_batches):
        idx = torch.rand(batch, n_atoms, generator=g).topk(k_true, dim=1).indices.flatten()
        w = torch.rand(batch * k_true, generator=g) + 0.5
        x = F.embedding_bag(idx, atoms, torch.arange(0, batch * k_true, k_true), mode='sum', per_sample_weights=w)
        out.append(x + 0.05 * torch.randn(batch, d_in, generator=g))
    return out


def gemm_gflops(batch, d_in, d_sae, reps=3):
    "Dense fp32 GEMM rate of this machine on the encoder's shape."
    a, b = torch.randn(batch, d_in), torch.randn(d_in, d_sae)
    a @ b
    t = time.perf_counter()
    for _ in range(reps): a @ b
    return 2 * batch * d_in * d_sae * reps / (time.perf_counter() - t) / 1e9


def timed(step, batches, steps, warmup):
    "Run `step` on `warmup` + `steps` batches; seconds spent on the last `steps`."
    for i in range(warmup): step(batches[i % len(batches)])
    t = time.perf_counter()
    for i in range(steps): step(batches[(warmup + i) % len(batches)])
    return time.perf_counter() - t


def medsae_run(sparse, a, batches, held_out):
    torch.manual_seed(0)
    sae = sae_class('batchtopk')(d_in=a.d_in, d_sae=a.d_sae, k=a.k)
    tr = SAETrainer(sae, TrainConfig(batch_size=a.batch, lr=a.lr, sparse=sparse, log_every=10**9, warmup_steps=1), a.steps + a.warmup)
    secs = timed(tr.step, batches, a.steps, a.warmup)
    with torch.no_grad(): f = fvu(held_out, sae.decode(sae.encode(held_out)))  # train mode: batch top-k, as in training
    return secs, float(f)


def peer_overcomplete(a, batches, held_out):
    from overcomplete.sae import BatchTopKSAE
    torch.manual_seed(0)
    sae = BatchTopKSAE(a.d_in, nb_concepts=a.d_sae, top_k=a.k * a.batch, device='cpu')
    opt = torch.optim.Adam(sae.parameters(), lr=a.lr)
    def step(x):
        opt.zero_grad(); _, _, x_hat = sae(x); ((x - x_hat) ** 2).sum(-1).mean().backward(); opt.step()
    secs = timed(step, batches, a.steps, a.warmup)
    with torch.no_grad(): f = fvu(held_out, sae(held_out)[2])
    return secs, float(f)


def peer_dictionary_learning(a, batches, held_out):
    from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer, BatchTopKSAE
    torch.manual_seed(0)
    tr = BatchTopKTrainer(steps=a.steps + a.warmup, activation_dim=a.d_in, dict_size=a.d_sae, k=a.k, layer=0, lm_name='bench', lr=a.lr, warmup_steps=1, device='cpu')
    n = [0]
    def step(x): tr.update(n[0], x); n[0] += 1
    secs = timed(step, batches, a.steps, a.warmup)
    with torch.no_grad(): f = fvu(held_out, tr.ae.decode(tr.ae.encode(held_out, use_threshold=False)))
    return secs, float(f)


def peer_saelens(a, batches, held_out):
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    torch.manual_seed(0)
    sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=a.d_in, d_sae=a.d_sae, k=a.k, device='cpu'))
    opt = torch.optim.Adam(sae.parameters(), lr=a.lr)
    def step(x):
        opt.zero_grad(); x_hat = sae.decode(sae.encode(x)); ((x - x_hat) ** 2).sum(-1).mean().backward(); opt.step()
    secs = timed(step, batches, a.steps, a.warmup)
    with torch.no_grad(): f = fvu(held_out, sae.decode(sae.encode(held_out)))
    return secs, float(f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--d_in', type=int, default=1024); p.add_argument('--d_sae', type=int, default=8192)
    p.add_argument('--k', type=int, default=32); p.add_argument('--batch', type=int, default=4096)
    p.add_argument('--steps', type=int, default=10, help='timed steps per trainer')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--threads', type=int, help='torch threads (default: torch\'s choice)')
    a = p.parse_args()
    set_quiet()
    if a.threads: torch.set_num_threads(a.threads)
    batches = structured_batches(min(8, a.steps + a.warmup) + 1, a.batch, a.d_in, a.d_sae, a.k)
    held_out, batches = batches[-1], batches[:-1]
    peak = gemm_gflops(a.batch, a.d_in, a.d_sae)
    enc_flop = 2 * a.batch * a.d_in * a.d_sae
    print(f"BatchTopK d_in={a.d_in} d_sae={a.d_sae} k={a.k} batch={a.batch}; {a.steps} timed steps after {a.warmup} warmup; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"dense fp32 GEMM ({a.batch}x{a.d_in})@({a.d_in}x{a.d_sae}): {peak:.1f} GFLOP/s")
    runs = {'medsae sparse': lambda: medsae_run(True, a, batches, held_out), 'medsae dense': lambda: medsae_run(False, a, batches, held_out),
            'dictionary_learning': lambda: peer_dictionary_learning(a, batches, held_out), 'SAELens': lambda: peer_saelens(a, batches, held_out),
            'overcomplete': lambda: peer_overcomplete(a, batches, held_out)}
    rates = {}
    print(f"{'trainer':<20} {'act/s':>8} {'s/step':>7} {'FVU':>7} {'encoder GEMM share of peak':>27}")
    for name, run in runs.items():
        try: secs, f = run()
        except ImportError as e: print(f"{name:<20} skipped: not installed here ({e.name})"); continue
        except Exception as e: print(f"{name:<20} failed: {type(e).__name__}: {e}"); continue
        per_step = secs / a.steps
        rates[name] = a.batch / per_step
        print(f"{name:<20} {rates[name]:8.0f} {per_step:7.3f} {f:7.4f} {enc_flop / per_step / 1e9 / peak:27.1%}")
    peers = {k: v for k, v in rates.items() if not k.startswith('medsae')}
    if peers:
        best = max(peers, key=peers.get)
        print(f"medsae sparse / fastest peer ({best}): {rates['medsae sparse'] / peers[best]:.2f}x")
    if 'medsae dense' in rates: print(f"medsae sparse / medsae dense: {rates['medsae sparse'] / rates['medsae dense']:.2f}x")


if __name__ == '__main__':
    main()
