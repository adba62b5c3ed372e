"""Training throughput of a BatchTopK SAE: medsae against SAELens, dictionary_learning and overcomplete, in one run.

The benchmark's own environment (outside the repository; the peers pull in wandb, nnsight,
transformer-lens, ... which medsae does not need):

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install --upgrade pip
    /tmp/benchvenv/bin/pip install -e /work/main            # medsae itself (and torch)
    /tmp/benchvenv/bin/pip install sae-lens dictionary-learning overcomplete
    /tmp/benchvenv/bin/pip install "matplotlib<3.9"           # overcomplete 0.3.0 calls matplotlib.cm.get_cmap, gone in 3.9

(the PyPI names; they import as `sae_lens`, `dictionary_learning`, `overcomplete`. Tested with
sae-lens 6.54.12, dictionary-learning 0.1.0, overcomplete 0.3.0, matplotlib 3.8.4, torch 2.14.1.)

Run it on a quiet machine, from the repository root:

    /tmp/benchvenv/bin/python bench/train_throughput.py                       # the full size: d_in 1024, d_sae 8192, k 32, batch 4096
    /tmp/benchvenv/bin/python bench/train_throughput.py --device cuda --steps 50 --warmup 5
    /tmp/benchvenv/bin/python bench/train_throughput.py --d_in 64 --d_sae 512 --k 8 --batch 256 --steps 3 --warmup 1   # a smoke test

Every trainer runs its library's own training step (medsae `SAETrainer.step`, both its sparse and
dense variants; SAELens `SAETrainer.step`; dictionary_learning `BatchTopKTrainer.update`;
overcomplete `train_sae` with its `top_k_auxiliary_loss`) on the same batches in the same order:
structured activations (sparse non-negative combinations of a random unit dictionary, plus noise),
`--warmup` untimed steps then `--steps` timed ones, the same peak learning rate and no lr warmup
for all. After training, the FVU of every SAE is computed by the same function (medsae's `fvu`:
summed per-dimension variance of x - x_hat over that of x) on the same held-out batch, through
each library's own encode and decode in training mode (top k x batch over the held-out batch:
the inference thresholds of the peers are not yet estimated after a few steps). It prints
activations/s, s/step, the FVU, the machine's dense fp32 GEMM rate and the share of it that the
encoder's product alone represents at each step time, and medsae's ratio to the fastest peer.
A peer that is not installed is reported as skipped; one that fails, with its error.
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


def gemm_gflops(batch, d_in, d_sae, device, reps=3):
    "Dense fp32 GEMM rate of this machine on the encoder's shape."
    a, b = torch.randn(batch, d_in, device=device), torch.randn(d_in, d_sae, device=device)
    a @ b; sync(device)
    t = time.perf_counter()
    for _ in range(reps): a @ b
    sync(device)
    return 2 * batch * d_in * d_sae * reps / (time.perf_counter() - t) / 1e9


def sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


# Each adapter builds its library's SAE and trainer from the same settings and returns
# (train, reconstruct): `train(list_of_batches)` runs the library's training step on each batch in
# order; `reconstruct(x)` is x_hat through the library's own encode and decode, in training mode.

def medsae_adapter(a, sparse):
    torch.manual_seed(0)
    sae = sae_class('batchtopk')(d_in=a.d_in, d_sae=a.d_sae, k=a.k)
    tr = SAETrainer(sae.to(a.device), TrainConfig(batch_size=a.batch, lr=a.lr, sparse=sparse, log_every=10**9, warmup_steps=0,
                                                  device=a.device, mixed_precision=False), a.steps + a.warmup)
    def train(batches):
        for x in batches: tr.step(x)
    def reconstruct(x): sae.train(); return sae.decode(sae.encode(x))
    return train, reconstruct


def saelens_adapter(a):
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer as LensTrainer
    torch.manual_seed(0)
    sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=a.d_in, d_sae=a.d_sae, k=a.k, device=a.device))
    tr = LensTrainer(SAETrainerConfig(total_training_samples=(a.steps + a.warmup) * a.batch, train_batch_size_samples=a.batch,
                                      lr=a.lr, lr_end=a.lr, device=a.device), sae, data_provider=iter(()))
    def train(batches):
        for x in batches: tr.step(x); tr.n_training_steps += 1  # what SAETrainer.fit does per batch
    def reconstruct(x): sae.train(); return sae.decode(sae.encode(x))
    return train, reconstruct


def dictionary_learning_adapter(a):
    from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer
    torch.manual_seed(0)
    tr = BatchTopKTrainer(steps=a.steps + a.warmup, activation_dim=a.d_in, dict_size=a.d_sae, k=a.k, layer=0, lm_name='bench',
                          lr=a.lr, warmup_steps=1, seed=0, device=a.device)
    n = [0]
    def train(batches):
        for x in batches: tr.update(n[0], x); n[0] += 1
    def reconstruct(x): return tr.ae.decode(tr.ae.encode(x, use_threshold=False))
    return train, reconstruct


def overcomplete_adapter(a):
    from overcomplete.sae import BatchTopKSAE
    from overcomplete.sae.losses import top_k_auxiliary_loss
    from overcomplete.sae.train import train_sae
    torch.manual_seed(0)
    sae = BatchTopKSAE(a.d_in, nb_concepts=a.d_sae, top_k=a.k * a.batch, device=a.device)  # top_k counts over the whole batch
    opt = torch.optim.Adam(sae.parameters(), lr=a.lr)
    def train(batches): train_sae(sae, batches, top_k_auxiliary_loss, opt, nb_epochs=1, clip_grad=1.0, monitoring=0, device=a.device)
    def reconstruct(x): sae.train(); return sae.decode(sae.encode(x)[1])
    return train, reconstruct


def run(adapter, a, warm, timed_batches, held_out):
    "Build, train on `warm` untimed then on `timed_batches` timed; (seconds, held-out FVU)."
    train, reconstruct = adapter()
    train(warm); sync(a.device)
    t = time.perf_counter()
    train(timed_batches); sync(a.device)
    secs = time.perf_counter() - t
    with torch.no_grad(): f = fvu(held_out, reconstruct(held_out))
    return secs, float(f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--d_in', type=int, default=1024); p.add_argument('--d_sae', type=int, default=8192)
    p.add_argument('--k', type=int, default=32); p.add_argument('--batch', type=int, default=4096)
    p.add_argument('--steps', type=int, default=10, help='timed steps per trainer')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--threads', type=int, help="torch threads (default: torch's choice)")
    p.add_argument('--only', help='comma-separated subset of: medsae,medsae-dense,saelens,dictionary_learning,overcomplete')
    a = p.parse_args()
    set_quiet()
    if a.threads: torch.set_num_threads(a.threads)
    data = [x.to(a.device) for x in structured_batches(a.warmup + a.steps + 1, a.batch, a.d_in, a.d_sae, a.k)]
    held_out, warm, timed_batches = data[-1], data[:a.warmup], data[a.warmup:-1]
    peak = gemm_gflops(a.batch, a.d_in, a.d_sae, a.device)
    enc_flop = 2 * a.batch * a.d_in * a.d_sae
    print(f"BatchTopK d_in={a.d_in} d_sae={a.d_sae} k={a.k} batch={a.batch}; {a.steps} timed steps after {a.warmup} warmup "
          f"({a.steps * a.batch} timed activations, the same for every trainer); device {a.device}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"dense fp32 GEMM ({a.batch}x{a.d_in})@({a.d_in}x{a.d_sae}): {peak:.1f} GFLOP/s")
    adapters = {'medsae': lambda: medsae_adapter(a, True), 'medsae-dense': lambda: medsae_adapter(a, False),
                'saelens': lambda: saelens_adapter(a), 'dictionary_learning': lambda: dictionary_learning_adapter(a),
                'overcomplete': lambda: overcomplete_adapter(a)}
    if a.only: adapters = {k: v for k, v in adapters.items() if k in a.only.split(',')}
    rates, fvus = {}, {}
    print(f"{'trainer':<20} {'act/s':>9} {'s/step':>8} {'FVU':>7} {'encoder GEMM share of peak':>27}")
    for name, adapter in adapters.items():
        try: secs, f = run(adapter, a, warm, timed_batches, held_out)
        except ImportError as e: print(f"{name:<20} skipped: not installed here ({e.name})"); continue
        except Exception as e: print(f"{name:<20} failed: {type(e).__name__}: {e}"); continue
        per_step = secs / a.steps
        rates[name], fvus[name] = a.batch / per_step, f
        print(f"{name:<20} {rates[name]:9.0f} {per_step:8.4f} {f:7.4f} {enc_flop / per_step / 1e9 / peak:27.1%}")
    peers = {k: v for k, v in rates.items() if not k.startswith('medsae')}
    if 'medsae' in rates and peers:
        best = max(peers, key=peers.get)
        print(f"medsae / fastest peer ({best}): {rates['medsae'] / peers[best]:.2f}x activations/s; FVU {fvus['medsae']:.4f} vs {fvus[best]:.4f}")
    if 'medsae' in rates and 'medsae-dense' in rates: print(f"medsae sparse / medsae dense: {rates['medsae'] / rates['medsae-dense']:.2f}x")


if __name__ == '__main__':
    main()
