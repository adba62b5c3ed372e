"""Peak memory of one training epoch read from other tools' activation files, and the time of a pass over a SAELens cache.

README's "Large runs" quotes, for the readers in `medsae.tensor_files` (files read a range of rows at a time by byte
offset, never whole), the peak RSS of one epoch of `medsae train --buffer_size 0` on:

    saev     a saev cache of 12 layers (1,000 images of 256 patches + CLS = 257 tokens, d 128), trained on layer 5
             (`--key 5`): only that layer's bytes should be read, not all 12 layers of each image;
    pt       a ~2 GB zip `.pt` (what `torch.save` writes) of one (400,000, 1280) float32 tensor: read by byte offset,
             where memory-mapping it would grow RSS toward the file's size;
    npy      a `.npy` of the same shape;

and the time of one pass over a SAELens (>= 4) Hugging Face `datasets` cache of 10^6 rows in 1,000 record batches,
read one record batch at a time (`ArrowRows` seeks to where each batch starts; reading the stream from its start for
each read would grow with the square of its length). This script rebuilds those inputs under --work and measures them,
each in a fresh process:

    imports    a process that only imports torch and medsae's training code (README: "about 580 MiB of each figure is
               the interpreter with torch and medsae imported"), and one that imports torch alone;
    train      for each input, `medsae train --load_activations_path P [--key K] --arch topk --d_sae 256 --k 8
               --batch_size 4096 --epochs 1 --buffer_size 0 --device cpu ...`, run as the command line runs it
               (`medsae.cli.main`) by `python -c`, which then prints its own `ru_maxrss` before the interpreter exits.
               The SAELens cache is trained on too (an extra row);
    breakdown  on the `.npy`: reading each shard (`ActivationStore._read`, 65,536 rows) and dropping it; the same
               keeping the last until the next is read; one epoch of `StoreBatches(buffer_size=0)` batches, no training;
    pass       open the `datasets` cache with `activation_files(path, column)`, then read it 1,000 rows (one record
               batch) at a time; the open and the pass are timed apart.

Two peaks are given for each process: `ru_maxrss` from `os.wait4` (that child alone, to its very end) and the one it
prints itself at the end of its work. They differ by what the interpreter's shutdown touches (about 125 MiB with
torch imported, after `atexit`), which raises the first where the work itself peaked lower.

Each input is written (by a child process, so that this one stays small: see `write`), synced to disk, measured and
deleted before the next (peak disk: about 2.1 GB; 0.4 GB with --quick); --work is removed at the end unless --keep.

    python bench/reader_memory.py --out bench/reader_memory.md     # the README's sizes: 2-3 minutes on 2 cores
    python bench/reader_memory.py --quick                          # a fifth of the rows, 10^5 datasets rows: about a minute
    PYTHONPATH=/tmp/medsae_copy python bench/reader_memory.py      # measure another copy of medsae (the children run in --work,
                                                                   # so the checkout's own medsae/ is not on their path first)

The report names the medsae the children imported, its commit and whether its medsae/ had uncommitted changes.
"""
import argparse, json, os, platform, resource, shutil, subprocess, sys, time
from pathlib import Path

COLUMN = 'blocks.0.hook_resid_pre'  # SAELens names the column after the hook point
TRAIN = ['--arch', 'topk', '--d_sae', '256', '--k', '8', '--batch_size', '4096', '--epochs', '1', '--buffer_size', '0', '--checkpoint_every', '0', '--device', 'cpu']


def sizes(quick):
    "The inputs' sizes: the README's, or a smaller set for --quick."
    full = dict(saev_images=1000, saev_layers=12, saev_patches=256, saev_d=128, saev_layer=5, file_rows=400_000, file_d=1280,
                ds_rows=10**6, ds_batch=1000, ds_context=1, ds_d=16)
    if quick: full.update(saev_images=200, file_rows=80_000, ds_rows=10**5)
    return full


def du(path):
    "(apparent bytes, bytes allocated on disk) of a file or folder (saev allocates its last shard whole: a sparse file)."
    files = [path] if path.is_file() else [f for f in path.rglob('*') if f.is_file()]
    return sum(f.stat().st_size for f in files), sum(f.stat().st_blocks * 512 for f in files)


# ---- inputs, written as each tool writes them (in a child process: see `write`) ----

def write_saev(folder, n, layers, patches, d, max_patches_per_shard=2_400_000, chunk=50):
    """A saev shards folder (saev's newer field names, with shards.json), as nbs/00d_tensor_files.ipynb's `write_saev` lays it
    out: each shard `acts{i:06}.bin` a headerless float32 array (images per shard, layers, tokens, d) allocated whole;
    saev's default of 2,400,000 patches a shard holds 778 images of 257 tokens x 12 layers."""
    import numpy as np
    T, L = patches + 1, len(layers)
    per = max_patches_per_shard // (T * L)
    folder.mkdir(parents=True)
    (folder/'metadata.json').write_text(json.dumps({'family': 'clip', 'ckpt': 'bench', 'layers': layers, 'content_tokens_per_example': patches,
        'cls_token': True, 'd_model': d, 'n_examples': n, 'max_tokens_per_shard': max_patches_per_shard, 'data': 'bench', 'dtype': 'float32',
        'protocol': '2.1'}, indent=4))
    rng, shards = np.random.default_rng(0), []
    for i, s in enumerate(range(0, n, per)):
        m, name = min(per, n - s), f'acts{i:06}.bin'
        mm = np.memmap(folder/name, np.float32, 'w+', shape=(per, L, T, d))  # allocated whole, as saev does
        for a in range(0, m, chunk): mm[a:min(a + chunk, m)] = rng.standard_normal((min(chunk, m - a), L, T, d), dtype=np.float32)
        mm.flush(); del mm
        shards.append({'name': name, 'n_examples': m})
    (folder/'shards.json').write_text(json.dumps(shards))


def write_pt(path, n, d):
    "One (n, d) float32 tensor saved with `torch.save` (a zip file whose storage is stored, not compressed)."
    import torch
    g, x = torch.Generator().manual_seed(0), torch.empty(n, d)
    for a in range(0, n, 65536): x[a:a + 65536] = torch.randn(min(65536, n - a), d, generator=g)
    torch.save(x, path)


def write_npy(path, n, d, chunk=65536):
    "One (n, d) float32 C-ordered `.npy`, written a chunk of rows at a time."
    import numpy as np
    rng, x = np.random.default_rng(0), np.lib.format.open_memmap(path, 'w+', np.float32, (n, d))
    for a in range(0, n, chunk): x[a:a + chunk] = rng.standard_normal((min(chunk, n - a), d), dtype=np.float32)
    x.flush()


def write_datasets(folder, n, context, d):
    """A SAELens (>= 4) cache: a `datasets.save_to_disk` folder with the hook point's column, an Array2D (context, d), and
    token_ids, as nbs/00d_tensor_files.ipynb builds one; `datasets` writes 1,000 rows to a record batch."""
    import datasets, numpy as np
    feats = datasets.Features({COLUMN: datasets.Array2D((context, d), 'float32'), 'token_ids': datasets.Sequence(datasets.Value('int32'), length=context)})
    x = np.random.default_rng(0).standard_normal((n, context, d), dtype=np.float32)
    datasets.disable_progress_bars()
    datasets.Dataset.from_dict({COLUMN: x, 'token_ids': np.zeros((n, context), np.int32)}, features=feats).save_to_disk(str(folder))


def write_input(kind, path, S):
    "Write one input (in the child process `write` starts)."
    if kind == 'saev': write_saev(path, S['saev_images'], list(range(S['saev_layers'])), S['saev_patches'], S['saev_d'])
    if kind == 'pt': write_pt(path, S['file_rows'], S['file_d'])
    if kind == 'npy': write_npy(path, S['file_rows'], S['file_d'])
    if kind == 'datasets': write_datasets(path, S['ds_rows'], S['ds_context'], S['ds_d'])


# ---- measurements, each in a fresh process ----

def run_child(cmd, log, cwd):
    "Run `cmd` to the end; (wall s, peak RSS MiB of that process alone, its output)."
    env = {**os.environ, 'MEDSAE_QUIET': '1', 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'}
    with open(log, 'w') as f:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    out = Path(log).read_text()
    if os.waitstatus_to_exitcode(status) != 0: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{out[-3000:]}")
    return wall, ru.ru_maxrss / 1024, out  # Linux: KiB


def write(args, kind, path, work):
    """Write input `kind` in a child process, then sync it to disk. Not in this process: Linux carries the memory high-water mark
    of the process that forks across exec, so a child's `ru_maxrss` is at least what this process held when it started it
    (a parent that had just held a 2 GB tensor would make every later child read 2 GB). This process stays small."""
    t0 = time.perf_counter()
    run_child([sys.executable, __file__, '--write', kind, '--path', str(path), *(['--quick'] if args.quick else [])], work/f'write_{kind}.log', work)
    os.sync()  # the writes are on disk: no writeback during the measured run
    print(f"wrote {kind} in {time.perf_counter() - t0:.1f} s", flush=True)


SELF_PEAK = "print('SELF_PEAK', __import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss / 1024, flush=True)"
IMPORTS = "import torch, medsae.cli, medsae.training, medsae.activations, medsae.batches, medsae.tensor_files"
TRAIN_CODE = f"import sys; from medsae.cli import main; rc = main(sys.argv[1:]); {SELF_PEAK}; sys.exit(rc)"  # `medsae train ...`, as .venv/bin/medsae runs it
BREAKDOWN = """
import sys
from medsae.activations import ActivationStore
from medsae.batches import StoreBatches
s, what = ActivationStore(sys.argv[1]), sys.argv[2]
if what == 'read_drop':
    for j in range(len(s.sizes)): x = s._read(j); del x
if what == 'read_keep':
    for j in range(len(s.sizes)): x = s._read(j)
if what == 'batches':
    b = StoreBatches(s, 4096, buffer_size=0)
    for _ in range(len(b)): next(b)
print('SHARD_MIB', s.sizes[0] * s.d_in * 4 / 2**20, len(s.sizes))
"""
PASS = """
import json, sys, time
from medsae.tensor_files import activation_files
path, column, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter(); layout, parts = activation_files(path, column); t1 = time.perf_counter()
rows = 0
for p in parts:
    for a in range(0, len(p), step): rows += len(p.read(a, a + step))
t2 = time.perf_counter()
print(json.dumps({'layout': layout, 'files': len(parts), 'record_batches': sum(len(p.rows.starts) for p in parts), 'rows': rows,
                  'reads': sum(-(-len(p) // step) for p in parts), 'open_s': t1 - t0, 'pass_s': t2 - t1}))
"""

def self_peak(out):
    "The peak a child printed itself (MiB)."
    return float([l for l in out.splitlines() if l.startswith('SELF_PEAK')][-1].split()[1])


def measure(name, code, argv, work):
    "Run `python -c code argv` in a fresh process: (wall s, ru_maxrss MiB from wait4, the peak it printed at the end of its work MiB, output)."
    wall, rss, out = run_child([sys.executable, '-c', code, *map(str, argv)], work/f'{name}.log', work)
    return wall, rss, self_peak(out), out


WARN_WORDS = ('memory-mapped', 'read whole', 'legacy')

def train_row(name, path, key, rows, d, work):
    "Train one epoch on `path` in a fresh process: the table's row."
    argv = ['train', '--load_activations_path', path, *(['--key', key] if key is not None else []), *TRAIN, '--out', work/f'sae_{name}', '--overwrite', '--data_root', work/'data']
    wall, rss, inner, out = measure(name, TRAIN_CODE, argv, work)
    apparent, on_disk = du(path)
    warned = [l.strip() for l in out.splitlines() if any(w in l for w in WARN_WORDS)]
    final = [l.strip() for l in out.splitlines() if 'd_in=' in l]
    print(f"{name}: {rss:,.0f} MiB ({inner:,.0f} before exit), {wall:.1f} s; {final[-1] if final else ''}{'; WARN ' + warned[0] if warned else ''}", flush=True)
    return {'input': name, 'rows': rows, 'd': d, 'bytes': apparent, 'disk_bytes': on_disk, 'rss_mib': rss, 'inner_mib': inner, 'wall_s': wall,
            'result': final[-1] if final else '', 'warnings': warned}


def machine():
    try: return subprocess.run('lscpu | head', shell=True, capture_output=True, text=True).stdout.rstrip()
    except OSError: return platform.processor()


def provenance(work):
    "Which medsae the children import (run where they run), and its git state: commit, and uncommitted changes under medsae/ (or that it is not a checkout)."
    out = subprocess.run([sys.executable, '-c', 'import medsae, pathlib; print(pathlib.Path(medsae.__file__).parent)'], capture_output=True, text=True, cwd=work)
    pkg = Path(out.stdout.strip() or '?')
    git = lambda *a: subprocess.run(['git', '-C', str(pkg.parent), *a], capture_output=True, text=True).stdout.strip()
    head = git('rev-parse', '--short', 'HEAD')
    if not head: return f"medsae from `{pkg}` (not a git checkout)"
    dirty = git('status', '--porcelain', '--', str(pkg)).splitlines()
    return f"medsae from `{pkg}` at commit {head}" + (f", with uncommitted changes to {len(dirty)} file(s) under it" if dirty else " (no uncommitted changes under it)")


def report(args, S, rows, imports, breakdown, ds_pass, torch_version, total_s):
    gb = lambda b: f"{b / 1e9:.2f} GB" if b >= 1e9 / 2 else f"{b / 1e6:.0f} MB"
    q = lambda v: '–' if args.quick else f"{v:,}"
    what = {'saev': f"saev cache, {S['saev_layers']} layers x {S['saev_images']:,} images x {S['saev_patches'] + 1} tokens, `--key {S['saev_layer']}`",
            'pt': f"`torch.save` zip `.pt`, one ({S['file_rows']:,}, {S['file_d']}) float32 tensor",
            'npy': f"`.npy` ({S['file_rows']:,}, {S['file_d']}) float32",
            'datasets': f"SAELens `datasets` cache, {S['ds_rows']:,} rows of ({S['ds_context']}, {S['ds_d']}), column `{COLUMN}`"}
    cmd = (f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get('PYTHONPATH') else '') + 'python bench/reader_memory.py' + (' --quick' if args.quick else '') + (f' --out {args.out}' if args.out else '')
    L = ["# Reader memory benchmark\n",
         f"`{cmd}` ({total_s / 60:.1f} minutes in all)\n",
         "```", machine(), "```\n",
         imports['medsae'] + f"; torch {torch_version}, Python {platform.python_version()}, {os.cpu_count()} CPUs. Each figure is a fresh process. "
         "*Peak RSS* is its `ru_maxrss` as `os.wait4` gives it (that process alone, to its very end, nothing subtracted); *before exit* is the "
         "`ru_maxrss` the process printed itself when its work was done, before the interpreter shut down (shutdown with torch imported "
         "touches about 125 MiB more, which shows in the first where the work peaked lower). Wall time is the whole process, interpreter "
         "start and imports included. Training is `medsae train` run by `python -c` through `medsae.cli.main`, as the command line runs it:\n",
         f"`medsae train --load_activations_path INPUT [--key KEY] {' '.join(TRAIN)} --out ... --overwrite`\n",
         "on inputs this script wrote just before (each synced to disk, then deleted after its run; their pages are in the page cache, "
         "which RSS does not count unless the reader maps them).\n",
         "| input | rows | d | file size | peak RSS MiB | before exit MiB | wall s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        size = gb(r['bytes']) + (f" ({gb(r['disk_bytes'])} on disk)" if r['disk_bytes'] < 0.95 * r['bytes'] else '')
        L.append(f"| {what[r['input']]} | {r['rows']:,} | {r['d']} | {size} | {r['rss_mib']:,.0f} | {r['inner_mib']:,.0f} | {r['wall_s']:.1f} |")
    for name, code in [('imports', IMPORTS), ('torch', 'import torch')]:
        w, rss, inner = imports[name]
        L.append(f"| imports only: `{code}` | | | | {rss:,.0f} | {inner:,.0f} | {w:.1f} |")
    L += ["", "Rows are the rows of d trained on (a saev image is 257 of them). Each run's last line:\n", "```"]
    L += [f"{r['input']}: {r['result']}" for r in rows] + ["```\n"]
    warned = [f"- {r['input']}: {w}" for r in rows for w in r['warnings']]
    L += ["Reader warnings (a file memory-mapped or read whole): " + ("none.\n" if not warned else "\n"), *warned, ""]
    shard = breakdown['shard_mib']
    L += ["## Where the `.npy` run's memory goes\n",
          f"The same `.npy` ({S['file_rows']:,} x {S['file_d']}), read as `medsae train` reads it: {breakdown['shards']} shards of 65,536 rows "
          f"({shard:,.0f} MiB each; the last shorter). Each a fresh process:\n",
          "| what | peak RSS MiB | before exit MiB | over imports (before exit), in shards | wall s |", "|---|---:|---:|---:|---:|"]
    base_inner = imports['imports'][2]
    for key, label in [('read_drop', 'each shard read (`ActivationStore._read`) and dropped'),
                       ('read_keep', 'each shard read, the last kept until the next is read'),
                       ('batches', 'one epoch of `StoreBatches(store, 4096, buffer_size=0)`, no training')]:
        w, rss, inner = breakdown[key]
        L.append(f"| {label} | {rss:,.0f} | {inner:,.0f} | {(inner - base_inner) / shard:.1f} | {w:.1f} |")
    npy = next(r for r in rows if r['input'] == 'npy')
    L += [f"| `medsae train` (the table above) | {npy['rss_mib']:,.0f} | {npy['inner_mib']:,.0f} | {(npy['inner_mib'] - base_inner) / shard:.1f} | {npy['wall_s']:.1f} |", ""]
    L += ["## SAELens `datasets` pass\n",
          f"A fresh process opens the cache with `activation_files(path, '{COLUMN}')` and reads it {S['ds_batch']:,} rows at a time "
          f"(one record batch a read):\n",
          "| rows | record batches | reads | open s | pass s |", "|---:|---:|---:|---:|---:|",
          f"| {ds_pass['rows']:,} | {ds_pass['record_batches']:,} | {ds_pass['reads']:,} | {ds_pass['open_s']:.3f} | {ds_pass['pass_s']:.3f} |", ""]
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    L += [f"This script's own process peaked at {parent:,.0f} MiB (the inputs are written by children of their own), below every figure above, "
          "so no child's `ru_maxrss` carries the parent's (Linux keeps the high-water mark of the forking process across exec).", ""]
    return '\n'.join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help='write the markdown report here (e.g. bench/reader_memory.md)')
    ap.add_argument('--quick', action='store_true', help='a fifth of the rows and 10^5 datasets rows: about a minute')
    ap.add_argument('--work', default='/tmp/reader_bench', help='where the inputs are written (removed at the end)')
    ap.add_argument('--keep', action='store_true', help='keep --work')
    ap.add_argument('--write', choices=['saev', 'pt', 'npy', 'datasets'], help=argparse.SUPPRESS)  # internal: write one input, in a process of its own
    ap.add_argument('--path', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write: return write_input(args.write, Path(args.path), sizes(args.quick))
    S, work, t_start = sizes(args.quick), Path(args.work), time.perf_counter()
    shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
    rows, imports, breakdown = [], {}, {}
    try:
        imports['medsae'] = provenance(work)
        for name, code in [('imports', IMPORTS), ('torch', 'import torch')]:
            w, rss, inner, out = measure(name, f"{code}; print('TORCH', torch.__version__); {SELF_PEAK}", [], work)
            imports[name], torch_version = (w, rss, inner), out.split('TORCH ')[1].split()[0]
            print(f"{name}: {rss:,.0f} MiB ({inner:,.0f} before exit), {w:.1f} s", flush=True)

        p = work/'saev'
        write(args, 'saev', p, work)
        rows.append(train_row('saev', p, S['saev_layer'], S['saev_images'] * (S['saev_patches'] + 1), S['saev_d'], work)); shutil.rmtree(p)

        p = work/'acts.pt'
        write(args, 'pt', p, work)
        rows.append(train_row('pt', p, None, S['file_rows'], S['file_d'], work)); p.unlink()

        p = work/'acts.npy'
        write(args, 'npy', p, work)
        rows.append(train_row('npy', p, None, S['file_rows'], S['file_d'], work))
        for what in ('read_drop', 'read_keep', 'batches'):
            w, rss, inner, out = measure(what, BREAKDOWN + SELF_PEAK, [p, what], work)
            breakdown[what] = (w, rss, inner)
            shard, breakdown['shards'] = [l.split()[1:] for l in out.splitlines() if l.startswith('SHARD_MIB')][-1]
            breakdown['shard_mib'], breakdown['shards'] = float(shard), int(breakdown['shards'])
            print(f"npy {what}: {rss:,.0f} MiB ({inner:,.0f} before exit), {w:.1f} s", flush=True)
        p.unlink()

        p = work/'saelens'
        write(args, 'datasets', p, work)
        _, _, out = run_child([sys.executable, '-c', PASS, str(p), COLUMN, str(S['ds_batch'])], work/'pass.log', work)
        ds_pass = json.loads(out.strip().splitlines()[-1])
        print(f"datasets pass: {ds_pass}", flush=True)
        rows.append(train_row('datasets', p, COLUMN, S['ds_rows'] * S['ds_context'], S['ds_d'], work))
    finally:
        if not args.keep: shutil.rmtree(work, ignore_errors=True)
    md = report(args, S, rows, imports, breakdown, ds_pass, torch_version, time.perf_counter() - t_start)
    print(md)
    if args.out: Path(args.out).write_text(md)


if __name__ == '__main__': main()
