"""Peak RSS and wall time of each evaluation stage on a synthetic FeatureStore, at two sizes (issue #22: memory bounded by a chunk, not by N).

    python bench/eval_memory.py --ns 100000 1000000 [--root /tmp/medsae_evalmem]

Writes random CSR feature shards (d_sae 4096, 32 non-zeros a row, 14 labels, 8,192 rows a shard) and an activation store of
64-dim embeddings of the same samples, once per N; then runs every stage in a fresh interpreter and prints a markdown table of
ru_maxrss (the whole process: interpreter, imports and the stage; nothing subtracted) and wall time.
"""
import argparse, json, resource, subprocess, sys, time
from pathlib import Path

D_SAE, K, N_LABELS, SHARD, D_EMB = 4096, 32, 14, 8192, 64
STAGES = ('imports', 'open', 'stats', 'ms', 'actms', 'chexpert', 'probe1d', 'probe', 'browser', 'vlmname', 'vlmeval')

def write_stores(root:Path, n:int):
    "The features folder and the embeddings folder of n synthetic samples (skipped if written)."
    import numpy as np, torch
    from medsae.core import save_tensors, save_json
    from medsae.features import feature_shard_file
    from medsae.activations import shard_file
    feats, emb = root/'features', root/'embeddings'
    if (feats/'meta.json').exists() and (emb/'meta.json').exists(): return
    feats.mkdir(parents=True, exist_ok=True); emb.mkdir(parents=True, exist_ok=True)
    rng, names = np.random.default_rng(0), [f'finding_{c}' for c in range(N_LABELS)]
    prevalence = np.linspace(0.02, 0.4, N_LABELS)
    for j, s in enumerate(range(0, n, SHARD)):
        m = min(SHARD, n - s)
        cols = np.sort(rng.integers(0, D_SAE - K, (m, K)), 1) + np.arange(K)  # K distinct latents a row
        vals = rng.exponential(1., (m, K)).astype(np.float32) + 1e-3
        y = (rng.random((m, N_LABELS)) < prevalence).astype(np.float32); y[rng.random((m, N_LABELS)) < 0.1] = np.nan
        ids = [f'patient{i:08d}/study1/view1_frontal' for i in range(s, s + m)]
        save_tensors(feats/feature_shard_file(j), {'indptr': torch.arange(0, m * K + 1, K), 'indices': torch.from_numpy(cols.reshape(-1).astype(np.int32)),
                                                 'values': torch.from_numpy(vals.reshape(-1)), 'labels': torch.from_numpy(y), 'index': torch.arange(s, s + m)},
                     meta={'d_sae': D_SAE, 'label_names': names, 'ids': ids})
        save_tensors(emb/shard_file(j), {'acts': torch.from_numpy(rng.standard_normal((m, D_EMB), dtype=np.float32)), 'labels': torch.from_numpy(y),
                                        'index': torch.arange(s, s + m)}, meta={'label_names': names, 'ids': ids})
    save_json(emb/'meta.json', {'request': {'synthetic': n}})
    save_json(feats/'meta.json', {'request': {'synthetic': n, 'activations': str(emb), 'arch': 'topk', 'd_sae': D_SAE}})

class _Images:
    "A dataset of blank images whose ids match the synthetic store's."
    def __getitem__(self, i):
        import numpy as np
        return {'id': f'patient{i:08d}/study1/view1_frontal', 'image': np.full((64, 64), i % 255, np.uint8)}

def run_stage(stage:str, root:Path):
    "Run one stage here; print its peak RSS (MiB) and wall time as JSON."
    t0 = time.time()
    from medsae.features import FeatureStore, compute_stats, save_stats, load_stats
    from medsae.activations import ActivationStore
    from medsae.evaluation import monosemanticity_scores, activation_version_scores, chexpert_scores, fit_probes_1d, probe1d_scores, train_probe
    from medsae.browser import browser_data
    from medsae.vlm import RecordedVLM, name_by_vlm, naming_eval_answers
    import pandas as pd
    t1 = time.time()
    if stage != 'imports':
        fs, emb = FeatureStore(root/'features'), ActivationStore(root/'embeddings')
        if stage == 'stats': save_stats(compute_stats(fs), root/'stats.safetensors')
        if stage == 'ms': monosemanticity_scores(fs, emb)
        if stage == 'actms': activation_version_scores(fs)
        if stage == 'chexpert': chexpert_scores(fs)
        if stage == 'probe1d': probe1d_scores(fs, probes=fit_probes_1d(fs, steps=3))
        if stage == 'probe': train_probe(fs, steps=5)
        if stage == 'browser': browser_data(fs, load_stats(root/'stats.safetensors'), _Images(), latents=list(range(32)))
        if stage == 'vlmname': name_by_vlm(fs, RecordedVLM(lambda im, p: '{"concept": "x", "description": "y"}'), dataset=_Images(), stats=load_stats(root/'stats.safetensors'),
                                           latents=list(range(32)), data_root=root/'data', sae_name='bench', overwrite=True)
        if stage == 'vlmeval': naming_eval_answers(fs, pd.DataFrame({'neuron': range(32), 'concept': 'x'}), RecordedVLM(lambda im, p: 'yes'), dataset=_Images(),
                                                   n_images=8, relative_threshold=True, threshold=0.5)
    print(json.dumps({'stage': stage, 'rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'import_s': t1 - t0, 'wall_s': time.time() - t1}))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--ns', type=int, nargs='+', default=[100_000, 1_000_000]); p.add_argument('--root', default='/tmp/medsae_evalmem')
    p.add_argument('--stages', nargs='+', default=list(STAGES)); p.add_argument('--stage'); p.add_argument('--dir')
    a = p.parse_args()
    if a.stage: return run_stage(a.stage, Path(a.dir))
    res = {}
    for n in a.ns:
        d = Path(a.root)/str(n)
        write_stores(d, n)
        for s in a.stages:
            out = subprocess.run([sys.executable, __file__, '--stage', s, '--dir', str(d)], capture_output=True, text=True)
            if out.returncode: print(out.stderr[-3000:], file=sys.stderr); res[n, s] = None; continue
            res[n, s] = json.loads(out.stdout.strip().splitlines()[-1]); print(n, res[n, s], file=sys.stderr, flush=True)
    print('| stage | ' + ' | '.join(f'RSS MiB (N={n:.0e}) | s (N={n:.0e})' for n in a.ns) + ' | RSS ratio |')
    print('|---|' + '---|---|' * len(a.ns) + '---|')
    for s in a.stages:
        r = [res[n, s] for n in a.ns]
        cells = ' | '.join('failed | -' if x is None else f"{x['rss_mib']:.0f} | {x['wall_s']:.1f}" for x in r)
        ratio = f"{r[-1]['rss_mib'] / r[0]['rss_mib']:.2f}" if all(r) else '-'
        print(f'| {s} | {cells} | {ratio} |')

if __name__ == '__main__': main()
