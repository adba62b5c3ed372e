"""How the demo's SAE shape (d_sae, k) is chosen: on validation images only, by one written rule.

Each (d_sae, k) of the grid is trained exactly as `medsae demo` trains it (`demo_train`, the same data, seed and
steps), and its features are written on the validation and held-out splits (`sae_features`, as the ground-truth
stage reads them). Per finding, the latent and threshold are chosen on validation (`choose_units`).

The rule (13_demo, *Why 48 latents and 6,000 steps*): among the shapes with at most 10 % of latents dead on validation images, those
whose ten findings have ten distinct latents; then the most of the issue's goals met on validation (findings whose latent
reaches F1 >= 0.8, and at a spatial hook point also findings whose latent points at >= 0.8 on the validation images'
masks); then the best mean validation F1. Over several seeds (`--seeds 0,1,2`) it also prints the rule applied to all of
them at once: the shapes that keep both conditions at every seed, then the goals and the F1 averaged over the seeds. A
shape is (d_sae, k, steps): `--steps 1500,3000` adds the training length to the grid. The held-out columns are printed for
the record; they take no part in the choice.

From the repository root (the demo's own activations are extracted first if the data root has none):

    python bench/demo_shapes.py --data_root /tmp/shapes/data                       # the joint embedding
    python bench/demo_shapes.py --data_root /tmp/shapes/data --hook_point visual.layer4 --grid 64x4,128x4,128x8,256x8
    python bench/demo_shapes.py --data_root /tmp/shapes/data --seeds 0,1,2          # the same grid over three SAE seeds
    python bench/demo_shapes.py --data_root /tmp/shapes/data --grid 24x3 --seeds 0,1,2 --names   # and how many findings' latents are named right
    python bench/demo_shapes.py --data_root /tmp/shapes/data --steps 1500,3000 --seeds 0,1,2   # and the training length
    python bench/demo_shapes.py --data_root /tmp/shapes/data24k --n_train 24000 --steps 6000    # more images, longer training (a data root of its own per n_train)

It prints a Markdown table (one row per shape and seed) and, per seed, the shape the rule picks. `--names` adds how many of the
ten findings' latents (chosen on validation) are named with the finding, by zero-shot scores over the validation images (the
demo's default) and, at the joint embedding, by decoder direction, with the demo's vocabulary options.
"""
import argparse, dataclasses, os
from pathlib import Path

import numpy as np
import torch

from medsae.core import set_quiet
from medsae.demo import DemoConfig, demo_activations, demo_pointing, demo_shape, demo_train, dense_rows, finding_labels
from medsae.features import sae_features
from medsae.activations import ActivationStore
from medsae.evaluation.ground_truth import choose_units, held_out_scores, name_is
from medsae.naming import joint_embeddings, name_by_vocab, name_by_zero_shot
from medsae.models import get_model
from medsae.synthetic import SYNTH_FINDINGS


def split_features(cfg:DemoConfig, sae_dir, split:str):
    "The SAE's features on one split (written once, cached in the data root)."
    n = {cfg.split_val: cfg.n_val, cfg.split_test: cfg.n_test}[split]
    return sae_features(sae_dir, cfg.model, cfg.dataset, split, cfg.hook_point, data_root=cfg.data_root, extract_kwargs={'num_workers': 0}, n=n)


def split_rows(cfg:DemoConfig, sae_dir, split:str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    "Image-level SAE codes (max-pooled at a spatial hook point), raw activations and the planted labels of one split."
    feats = split_features(cfg, sae_dir, split)
    return dense_rows(feats), dense_rows(ActivationStore(feats.request['activations'])), finding_labels(feats, SYNTH_FINDINGS)


def pointing(cfg:DemoConfig, sae_dir, split:str, units:dict) -> dict:
    "Per finding with masks, the pointing game of its latent (`units`: finding -> latent) over the split's images that have it, as the demo plays it; empty at the joint embedding."
    p = demo_pointing(dataclasses.replace(cfg, split_test=split), split_features(cfg, sae_dir, split), units)
    return p.set_index('finding').pointing.to_dict()


def names_right(cfg:DemoConfig, sae_dir, units:dict) -> dict:
    "How many findings' latents (`units`: finding -> latent) the demo's naming options name with the finding: by zero-shot scores, and by decoder direction at the embedding."
    m = get_model(cfg.model)
    val = sae_features(sae_dir, cfg.model, cfg.dataset, cfg.split_val, cfg.hook_point, data_root=cfg.data_root, n=cfg.n_val)
    kw = dict(restrict_to=cfg.known_words, sentences=cfg.known_words, sections=cfg.name_sections, save=False)  # as the demo names
    by = {'zero-shot': name_by_zero_shot(val, joint_embeddings(val, m, cfg.data_root, num_workers=0), m, cfg.vocab, **kw)}
    if cfg.hook_point in (None, m.embed_hook): by['decoder'] = name_by_vocab(sae_dir, m, cfg.vocab, **kw)
    return {k: sum(name_is(f, df.concept[j]) for f, j in units.items()) for k, df in by.items()}


def evaluate(cfg:DemoConfig, names:bool=False) -> dict:
    "Train (or load) the demo SAE of `cfg` and score it on validation and held-out images."
    model = lambda: get_model(cfg.model)
    for split in (cfg.split_val, cfg.split_test): demo_activations(cfg, split, model)  # extracted once, cached in the data root
    sae_dir, _ = demo_train(cfg, demo_activations(cfg, cfg.split_train, model))
    (cv, nv, yv), (ct, nt, yt) = split_rows(cfg, sae_dir, cfg.split_val), split_rows(cfg, sae_dir, cfg.split_test)
    chosen = choose_units(cv, yv, SYNTH_FINDINGS, positive=True)
    held = held_out_scores(chosen, ct, yt)
    neurons = held_out_scores(choose_units(nv, yv, SYNTH_FINDINGS, signed=True), nt, yt)
    units = chosen.unit.astype(int).to_dict()
    pv, pt = pointing(cfg, sae_dir, cfg.split_val, units), pointing(cfg, sae_dir, cfg.split_test, units)
    return {'val_mean': chosen.val_f1.mean(), 'val_distinct': chosen.unit.nunique(), 'val_dead': float((cv.max(0) <= 0).mean()),
            'val_goals': int((chosen.val_f1 >= .8).sum()) + sum(v >= .8 for v in pv.values()), 'val_pointing': pv,
            'test_mean': held.f1.mean(), 'neuron_mean': neurons.f1.mean(), 'test_08': int((held.f1 >= .8).sum()),
            'test_dead': float((ct.max(0) <= 0).mean()), 'f1': held.f1.round(2).to_dict(), 'test_pointing': pt,
            'names': names_right(cfg, sae_dir, units) if names else {}}


BASE_STEPS = 1500  # the step count whose SAEs a data root holds itself (the demo's before its training length joined the grid): other seeds and lengths get folders of their own


def seed_root(data_root:str, seed:int, steps:int=BASE_STEPS) -> str:
    "The data root of one seed and step count: the given one for seed 0 at `BASE_STEPS`, else a folder inside it sharing its activations (an SAE's name carries neither)."
    if seed == 0 and steps == BASE_STEPS: return data_root
    root = Path(data_root)/(f'seed{seed}' + ('' if steps == BASE_STEPS else f'-steps{steps}'))
    root.mkdir(parents=True, exist_ok=True)
    if not (root/'activations').exists(): (root/'activations').symlink_to((Path(data_root)/'activations').resolve(), target_is_directory=True)
    return str(root)


def shape(r:dict) -> tuple[int, int, int]: return r['d_sae'], r['k'], r['steps']


def pick(rows:list[dict]) -> tuple[tuple[int, int, int], float, float]|None:
    "The rule over the rows of one seed or several: the shapes with at most 10 % dead on validation at every seed, then those with ten distinct latents at every seed, then the most goals met and the best validation F1, each averaged over the seeds. The shape, and those two averages."
    by = {}
    for r in rows: by.setdefault(shape(r), []).append(r)
    ok = {s: rs for s, rs in by.items() if all(r['val_dead'] <= .1 for r in rs)}
    distinct = {s: rs for s, rs in ok.items() if all(r['val_distinct'] == len(SYNTH_FINDINGS) for r in rs)} or ok
    if not distinct: return None
    score = {s: (float(np.mean([r['val_goals'] for r in rs])), float(np.mean([r['val_mean'] for r in rs]))) for s, rs in distinct.items()}
    best = max(score, key=score.get)
    return (best, *score[best])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data_root', required=True)
    p.add_argument('--hook_point', default=None)
    p.add_argument('--grid', default='16x2,16x3,24x2,24x3,24x4,32x3,32x4', help='d_sae x k, comma-separated')
    p.add_argument('--seeds', default='0', help='SAE seeds, comma-separated (the demo uses 0)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--n_train', type=int, default=DemoConfig.n_train, help="training images (the demo's 6000); a data root holds the activations of one n_train")
    p.add_argument('--steps', default=None, help="training steps, comma-separated (default: the demo's at the hook point, `DEMO_SHAPES`)")
    p.add_argument('--names', action='store_true', help="also count the findings whose latent is named with the finding")
    a = p.parse_args()
    a.steps = a.steps or str(demo_shape(DemoConfig(hook_point=a.hook_point))[2])
    torch.set_num_threads(a.threads); set_quiet(True); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    rows = []
    print('| seed | d_sae, k, steps | val: mean F1 | val: distinct latents | val: dead | val: goals met | held out: mean F1 (latents / neurons) '
          '| held out: F1 ≥ 0.8 | held out: pointing ≥ 0.8 | held out: dead | held out F1 per finding |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    short = lambda d: ' '.join(f'{f[:5]} {v:.2f}' for f, v in d.items())
    for seed in map(int, a.seeds.split(',')):
        for steps in map(int, a.steps.split(',')):
            for s in a.grid.split(','):
                d_sae, k = map(int, s.split('x'))
                cfg = DemoConfig(data_root=seed_root(a.data_root, seed, steps), hook_point=a.hook_point, d_sae=d_sae, k=k, seed=seed,
                                 n_train=a.n_train, steps=steps)
                r = {'seed': seed, 'd_sae': d_sae, 'k': k, 'steps': steps, **evaluate(cfg, a.names)}
                rows.append(r)
                pt = f"{sum(v >= .8 for v in r['test_pointing'].values())}" if r['test_pointing'] else '–'
                print(f"| {seed} | {d_sae}, {k}, {steps} | {r['val_mean']:.3f} | {r['val_distinct']} | {r['val_dead']:.0%} | {r['val_goals']} "
                      f"| {r['test_mean']:.3f} / {r['neuron_mean']:.3f} | {r['test_08']} | {pt} | {r['test_dead']:.0%} | {short(r['f1'])} |"
                      + ''.join(f" names ({k}): {v} of 10 |" for k, v in r['names'].items())
                      + (f" val pointing: {short(r['val_pointing'])} | held-out pointing: {short(r['test_pointing'])} |" if r['val_pointing'] else ''), flush=True)
    for seed in sorted({r['seed'] for r in rows}):
        best = pick([r for r in rows if r['seed'] == seed])
        print(f"seed {seed}: the rule picks " + (', '.join(map(str, best[0])) if best else 'nothing (every shape has > 10 % dead)'))
    if len({r['seed'] for r in rows}) > 1:
        best = pick(rows)
        print("over the seeds: the rule picks " + (f"{', '.join(map(str, best[0]))} ({best[1]:.1f} goals met and mean F1 {best[2]:.3f} on validation, averaged over the seeds)" if best else 'nothing'))


if __name__ == '__main__':
    main()
