"""Training throughput of a BatchTopK SAE: medsae against SAELens, dictionary_learning, overcomplete and EleutherAI's sparsify, in one run, at several widths.

The benchmark's own environment (outside the repository; the peers pull in wandb, nnsight,
transformer-lens, ... which medsae does not need):

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install --upgrade pip
    /tmp/benchvenv/bin/pip install -e /work/main            # medsae itself (and torch)
    /tmp/benchvenv/bin/pip install sae-lens dictionary-learning overcomplete eai-sparsify

(the PyPI names; they import as `sae_lens`, `dictionary_learning`, `overcomplete`, `sparsify`. Tested with
sae-lens 6.54.12, dictionary-learning 0.1.0, overcomplete 0.3.0, eai-sparsify 1.3.3, matplotlib 3.8.4, torch 2.14.1.)
overcomplete 0.3.0 calls matplotlib.cm.get_cmap, gone in matplotlib 3.9, when its package is imported: its adapter
below puts the same lookup back under that name where it is missing, so `matplotlib<3.9` is no longer needed.
On a GPU machine that reaches no registry, bench/gpu_wheels.sh fetches the peers as wheels beforehand and
bench/gpu_device.sh installs them there (bench/GPU.md).

Run it on a quiet machine, from the repository root:

    /tmp/benchvenv/bin/python bench/train_throughput.py --out bench/train_throughput   # d_in 1024, d_sae 8k/16k/64k, k 32/64, batch 4096
    /tmp/benchvenv/bin/python bench/train_throughput.py --device cuda --steps 50 --warmup 5
    /tmp/benchvenv/bin/python bench/train_throughput.py --d_in 64 --d_sae 512 --k 8 --batch 256 --steps 3 --warmup 1   # a smoke test

Every trainer runs its library's own training step (medsae `SAETrainer.step`, both its sparse and
dense variants; SAELens `SAETrainer.step`; dictionary_learning `BatchTopKTrainer.update`;
overcomplete `train_sae` with its `top_k_auxiliary_loss`; sparsify `SparseCoder` with the step its
`Trainer` takes: forward, FVU loss, backward, the decoder-parallel gradient removed, Adam, unit decoder
rows; on CPU through its eager `embedding_bag` decoder, Triton off) on the same batches in the same order:
structured activations (sparse non-negative combinations of a random unit dictionary, plus noise),
`--warmup` untimed steps then `--steps` timed ones, the same peak learning rate and no lr warmup
for all. After training, the FVU of every SAE is computed by the same function (medsae's `fvu`:
summed per-dimension variance of x - x_hat over that of x) on the same held-out batch, through
each library's own encode and decode in training mode (top k x batch over the held-out batch:
the inference thresholds of the peers are not yet estimated after a few steps). It prints
activations/s, s/step, the FVU, the machine's dense fp32 GEMM rate and the share of it that the
encoder's product alone represents at each step time, and medsae's ratio to the fastest peer.
A peer that is not installed is reported as skipped; one that fails, with its error.

sparsify trains a TopK SAE (k per sample), not BatchTopK, so `medsae-topk` (medsae's TopK through the
same trainer) is its like-for-like row. The one-GEMM bound of a step is the time of the encoder's dense
fp32 product alone (`--bound_dtype bfloat16` on a GPU), (batch x d_in) @ (d_in x d_sae), measured right before each trainer on the same
shapes: a trainer's ratio to the bound is that product's time over its step time. After the timed steps
medsae's BatchTopK trainer runs `--profile_steps` more under torch.profiler, and its step is broken down
by the `record_function` ranges the trainer marks (encoder product, top-k selection, the rest of the
forward, backward, clipping, optimizer, decoder norms). `--out PREFIX` writes PREFIX.md and PREFIX.jsonl.

On a CPU that multiplies bf16 at least 2x faster than fp32 (04's screen_pays: AMX, or avx512_bf16 as on the AMD EPYC of
`bench/train_throughput_amd.md`), medsae's TopK and BatchTopK select
from a bf16 screen (03c_sparse: the same selection as the fp32 product, values to fp32 rounding), so
their step can take less time than the fp32 product alone: a ratio above 100 %. `medsae-fp32` and
`medsae-topk-fp32` are the same trainers without the screen.
"""
import argparse, json, os, platform, time
from pathlib import Path

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


def gemm_seconds(batch, d_in, d_sae, device, reps=3, dtype=torch.float32):
    "Seconds of one dense encoder product (batch x d_in) @ (d_in x d_sae) on this machine, now (the best of `reps`)."
    a, b = torch.randn(batch, d_in, device=device, dtype=dtype), torch.randn(d_in, d_sae, device=device, dtype=dtype)
    out = torch.mm(a, b); sync(device)  # into one kept output: no page faults of a fresh block, the fastest way to run it
    best = float('inf')
    for _ in range(reps):
        t = time.perf_counter(); torch.mm(a, b, out=out); sync(device); best = min(best, time.perf_counter() - t)
    del out
    return best


def sync(device):
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


# Each adapter builds its library's SAE and trainer from the same settings and returns
# (train, reconstruct): `train(list_of_batches)` runs the library's training step on each batch in
# order; `reconstruct(x)` is x_hat through the library's own encode and decode, in training mode.

def medsae_adapter(a, sparse, arch='batchtopk', keep=None, screen=None):
    torch.manual_seed(0)
    sae = sae_class(arch)(d_in=a.d_in, d_sae=a.d_sae, k=a.k)
    tr = SAETrainer(sae.to(a.device), TrainConfig(batch_size=a.batch, lr=a.lr, sparse=sparse, log_every=10**9, warmup_steps=0, dead_after_tokens=10**12,
                                                  device=a.device, screen=screen), 10**9)  # no run end within the bench: no metrics step, no lr decay
    def train(batches):
        for x in batches: tr.step(x)
    def reconstruct(x): sae.train(); return sae.decode(sae.encode(x))
    if keep is not None: keep['trainer'] = tr
    return train, reconstruct


def sparsify_adapter(a):
    if torch.device(a.device).type != 'cuda': os.environ.setdefault('SPARSIFY_DISABLE_TRITON', '1')  # its Triton decoder is CUDA-only; on a GPU it keeps its default (Triton), read once when sparsify is first imported
    from sparsify import SparseCoder, SparseCoderConfig
    torch.manual_seed(0)
    sae = SparseCoder(a.d_in, SparseCoderConfig(num_latents=a.d_sae, k=a.k), device=a.device)
    opt = torch.optim.Adam(sae.parameters(), lr=a.lr)
    first = [True]
    def train(batches):
        for x in batches:
            if first[0]: sae.b_dec.data = x.mean(0); first[0] = False  # what sparsify's Trainer does at step 0
            sae.set_decoder_norm_to_unit_norm()
            out = sae(x)
            out.fvu.backward()
            sae.remove_gradient_parallel_to_decoder_directions()
            opt.step(); opt.zero_grad()
    def reconstruct(x): return sae(x).sae_out
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
    import matplotlib.cm
    if not hasattr(matplotlib.cm, 'get_cmap'):  # overcomplete 0.3.0's package import builds colormaps through matplotlib.cm.get_cmap, gone in matplotlib 3.9;
        import matplotlib; matplotlib.cm.get_cmap = matplotlib.colormaps.get_cmap  # its training never draws: the same lookup under its new name
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


PHASES = ['encoder product', 'top-k selection', 'forward', 'backward', 'gradient clipping', 'optimizer', 'decoder norms']

def breakdown(trainer, batches):
    """Milliseconds per step of each phase of medsae's step, from the trainer's record_function ranges; 'forward' is the rest of the forward.
    On the CPU a range's time is its CPU time; on CUDA it is the GPU time of the kernels launched in it (its CPU time there is launches and waits),
    and 'other' is the rest of the step's wall time: the GPU's idle time included."""
    from torch.profiler import profile, ProfilerActivity
    dev = trainer.sae.device
    cuda = dev.type == 'cuda'
    with profile(activities=[ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * cuda) as p:
        sync(dev); t = time.perf_counter()
        for x in batches: trainer.step(x)
        sync(dev); total = time.perf_counter() - t
    ms = {ph: 0. for ph in PHASES}
    spent = (lambda e: getattr(e, 'device_time_total', None) or e.cuda_time_total) if cuda else (lambda e: e.cpu_time_total)
    from torch.autograd import DeviceType
    for e in p.events():  # on CUDA each range is also a GPU-side annotation spanning it whole: counted once, from its CPU event's kernels
        if e.name.startswith('medsae: ') and e.name[8:] in ms and getattr(e, 'device_type', DeviceType.CPU) == DeviceType.CPU: ms[e.name[8:]] += spent(e) / 1e3 / len(batches)
    ms['forward'] -= ms['encoder product'] + ms['top-k selection']
    ms['step'] = total * 1e3 / len(batches)
    ms['other'] = ms['step'] - sum(ms[ph] for ph in PHASES)
    return ms


def one_config(a, d_sae, k, names, rows):
    "Every trainer in `names` at one width and k; appends a dict per trainer to `rows`."
    a = argparse.Namespace(**{**vars(a), 'd_sae': d_sae, 'k': k})
    data = [x.to(a.device) for x in structured_batches(a.warmup + a.steps + 1, a.batch, a.d_in, min(d_sae, 16384), k)]
    held_out, warm, timed_batches = data[-1], data[:a.warmup], data[a.warmup:-1]
    keep = {}
    screen = {'auto': None, 'on': True}[a.screen]
    adapters = {'medsae': lambda: medsae_adapter(a, True, keep=keep, screen=screen), 'medsae-topk': lambda: medsae_adapter(a, True, 'topk', screen=screen),
                'medsae-dense': lambda: medsae_adapter(a, False), 'medsae-fp32': lambda: medsae_adapter(a, True, screen=False),
                'medsae-topk-fp32': lambda: medsae_adapter(a, True, 'topk', screen=False), 'saelens': lambda: saelens_adapter(a),
                'dictionary_learning': lambda: dictionary_learning_adapter(a), 'overcomplete': lambda: overcomplete_adapter(a),
                'sparsify': lambda: sparsify_adapter(a)}
    print(f"\n== d_in={a.d_in} d_sae={d_sae} k={k} batch={a.batch}: {a.steps} timed steps after {a.warmup} warmup ({a.steps * a.batch} timed activations each)")
    print(f"{'trainer':<20} {'act/s':>9} {'s/step':>8} {'GEMM s':>7} {'of bound':>9} {'FVU':>7}")
    for name in names:
        bound = gemm_seconds(a.batch, a.d_in, d_sae, a.device, dtype=getattr(torch, a.bound_dtype))
        row = dict(trainer=name, d_in=a.d_in, d_sae=d_sae, k=k, batch=a.batch, steps=a.steps, warmup=a.warmup, gemm_s=bound)
        try: secs, f = run(adapters[name], a, warm, timed_batches, held_out)
        except ImportError as e: print(f"{name:<20} skipped: not installed here ({e.name})"); row['skipped'] = str(e); rows.append(row); continue
        except Exception as e: print(f"{name:<20} failed: {type(e).__name__}: {e}"); row['failed'] = f"{type(e).__name__}: {e}"; rows.append(row); continue
        per_step = secs / a.steps
        row.update(act_s=a.batch / per_step, s_step=per_step, of_bound=bound / per_step, fvu=f)
        print(f"{name:<20} {row['act_s']:9.0f} {per_step:8.3f} {bound:7.3f} {row['of_bound']:9.1%} {f:7.4f}")
        if name == 'medsae' and a.profile_steps:
            row['breakdown_ms'] = breakdown(keep['trainer'], data[:a.profile_steps])
            print('   medsae step, ms: ' + ', '.join(f"{ph} {v:.0f}" for ph, v in row['breakdown_ms'].items()))
        rows.append(row)
        if a.device == 'cpu': import gc; gc.collect()


def steps_note(rows):
    "'8,192: 5, 65,536: 2': the timed steps at each width."
    return ', '.join(f"{w:,}: {s}" for w, s in sorted({(r['d_sae'], r['steps']) for r in rows}))


def markdown(rows, a):
    "The tables of a run: per width and k, every trainer's rate, its share of the one-GEMM bound, FVU and medsae's ratio to it; then medsae's step breakdown."
    dev = torch.cuda.get_device_name(a.device) if a.device.startswith('cuda') else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    out = [f"Run: `{a.command}`", '', f"{dev}, torch {torch.__version__}, device {a.device}, bound in {a.bound_dtype}; "
           f"d_in {a.d_in}, batch {a.batch}; per width, every trainer runs {a.warmup} untimed + the same timed steps on the same batches "
           f"({steps_note(rows)} timed steps).", '',
           '| d_sae | k | trainer | activations/s | of one-GEMM bound | FVU after equal tokens | medsae ÷ this |', '|---|---|---|---|---|---|---|']
    for r in rows:
        ref = next((m for m in rows if m['trainer'] == ('medsae-topk' if r['trainer'] == 'sparsify' else 'medsae') and m['d_sae'] == r['d_sae'] and m['k'] == r['k'] and 'act_s' in m), None)
        if 'act_s' not in r: out.append(f"| {r['d_sae']:,} | {r['k']} | {r['trainer']} | {'skipped' if 'skipped' in r else 'failed: ' + r['failed'][:60]} | | | |"); continue
        ratio = '' if r['trainer'].startswith('medsae') or ref is None else f"{ref['act_s'] / r['act_s']:.2f}×" + (' (TopK)' if r['trainer'] == 'sparsify' else '')
        out.append(f"| {r['d_sae']:,} | {r['k']} | {r['trainer']} | {r['act_s']:,.0f} | {r['of_bound']:.0%} | {r['fvu']:.4f} | {ratio} |")
    bd = [r for r in rows if 'breakdown_ms' in r]
    if bd:
        timed = 'the GPU time of the kernels each range launched; other: the rest of the wall time, idle GPU included' if torch.device(a.device).type == 'cuda' else 'CPU time'
        out += ['', f"medsae's BatchTopK step, milliseconds per step by phase (`record_function` ranges under torch.profiler, after the timed steps; {timed}):", '',
                '| d_sae | k | ' + ' | '.join(PHASES) + ' | other | step | encoder product ÷ step |', '|' + '---|' * (len(PHASES) + 5)]
        for r in bd:
            m = r['breakdown_ms']
            out.append(f"| {r['d_sae']:,} | {r['k']} | " + ' | '.join(f"{m[ph]:.0f}" for ph in PHASES) + f" | {m['other']:.0f} | {m['step']:.0f} | {m['encoder product'] / m['step']:.0%} |")
    return '\n'.join(out) + '\n'


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--d_in', type=int, default=1024)
    p.add_argument('--d_sae', default='8192,16384,65536', help='comma-separated widths')
    p.add_argument('--k', default='32,64', help='comma-separated k')
    p.add_argument('--batch', type=int, default=4096)
    p.add_argument('--steps', type=int, default=5, help='timed steps per trainer at the narrowest width; a width w times wider runs max(2, steps / w) (the peers take ~10 s a step at 64k on 2 cores)')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    p.add_argument('--profile_steps', type=int, default=2, help="medsae steps profiled after the timed ones (0: none)")
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--threads', type=int, help="torch threads (default: torch's choice)")
    p.add_argument('--bound_dtype', default='float32', help="dtype of the one-GEMM bound's product (bfloat16 on a GPU, where medsae trains under bf16 autocast)")
    p.add_argument('--only', help='comma-separated subset of: medsae,medsae-topk,medsae-fp32,medsae-topk-fp32,medsae-dense,saelens,dictionary_learning,overcomplete,sparsify '
                                  '(medsae and medsae-topk select from a bf16 screen where it pays, the -fp32 ones from the fp32 product)')
    p.add_argument('--screen', choices=['auto', 'on'], default='auto', help="medsae's and medsae-topk's bf16 screen: where it pays (04's screen_pays), or always (on a CPU where bf16 is slower than screen_pays asks)")
    p.add_argument('--out', help='write PREFIX.md (the tables) and PREFIX.jsonl (one line per trainer and width)')
    a = p.parse_args()
    a.command = 'python bench/train_throughput.py ' + ' '.join(os.sys.argv[1:])
    set_quiet()
    if a.threads: torch.set_num_threads(a.threads)
    names = a.only.split(',') if a.only else ['medsae', 'medsae-topk', 'saelens', 'dictionary_learning', 'overcomplete', 'sparsify']
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}")
    rows = []
    widths = [int(w) for w in a.d_sae.split(',')]
    for d_sae in widths:
        for k in map(int, a.k.split(',')):
            one_config(argparse.Namespace(**{**vars(a), 'steps': max(2, a.steps * min(widths) // d_sae)}), d_sae, k, names, rows)
            if a.out: write_out(rows, a)  # after every width and k: a run stopped by a time limit keeps what it measured
    print('\n' + markdown(rows, a))


def write_out(rows, a):
    "PREFIX.md (the tables) and PREFIX.jsonl (one line per trainer and width) of the rows so far."
    Path(a.out + '.md').write_text(markdown(rows, a))
    Path(a.out + '.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))


if __name__ == '__main__':
    main()
