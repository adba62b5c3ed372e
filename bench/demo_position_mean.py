"""Is the spatial demo's split by zone each position's own offset? An SAE trained on position vectors less their position's mean.

At `visual.layer4` the demo's SAE (256 latents, k 4) reads each position's vector. 13_demo finds consolidation and edema
split among latents by where in the lung they are. Each cell of the 4 x 4 map has a mean vector of its own over the
training images (what is usually at that place); this script trains the demo's SAE twice on the same training
positions, once on the vectors as they are and once on each vector less its position's training mean (the same
mean taken off the validation and held-out positions), and scores both as the demo's ground-truth stage does:
image-level codes max-pooled over positions, each finding's latent and threshold chosen on validation images
(`choose_units`), F1 on held-out images.

From the repository root, with the demo's layer4 activations in the data root (extracted first if missing):

    python bench/demo_position_mean.py --data_root /tmp/shapes/data --seeds 0,1,2

Each SAE is trained as the demo trains it (`demo_train_config`: the same batches, steps and learning rate), on rows
scaled to unit mean norm as the demo's training reads them.
"""
import argparse, dataclasses, os

import torch

from medsae.activations import ActivationStore
from medsae.core import seed_everything, set_quiet
from medsae.demo import DemoConfig, demo_activations, demo_train_config, finding_labels
from medsae.evaluation.ground_truth import choose_units, held_out_scores
from medsae.features import position_rows
from medsae.models import get_model
from medsae.sae import sae_class
from medsae.synthetic import SYNTH_FINDINGS
from medsae.training import train_sae


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data_root', required=True)
    p.add_argument('--hook_point', default='visual.layer4')
    p.add_argument('--shape', default='256x4', help="d_sae x k (the demo's at visual.layer4)")
    p.add_argument('--seeds', default='0')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads); set_quiet(True); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    d_sae, k = map(int, a.shape.split('x'))
    cfg = DemoConfig(data_root=a.data_root, hook_point=a.hook_point, d_sae=d_sae, k=k)
    model = lambda: get_model(cfg.model)
    splits = (cfg.split_train, cfg.split_val, cfg.split_test)
    stores = {s: demo_activations(cfg, s, model) for s in splits}
    x = {s: position_rows(st.to_tensor(normalize=False).float()) for s, st in stores.items()}  # (images, positions, channels)
    y = {s: finding_labels(st, SYNTH_FINDINGS) for s, st in stores.items()}
    n, P, C = x[cfg.split_train].shape
    mean = x[cfg.split_train].mean(0)  # (positions, channels): each cell's training mean
    print(f'{a.hook_point}: {n} training images x {P} positions x {C} channels; SAE {d_sae} latents, k {k}')
    print('| seed | vectors | val: mean F1 | held out: mean F1 | held out: F1 ≥ 0.8 | held out: dead | held out F1 per finding |')
    print('|---|---|---|---|---|---|---|')
    for seed in map(int, a.seeds.split(',')):
        for tag, off in (('as they are', torch.zeros_like(mean)), ("less their position's mean", mean)):
            rows = {s: (v - off).reshape(-1, C) for s, v in x.items()}
            scale = float(rows[cfg.split_train].norm(dim=1).mean())
            seed_everything(seed)
            run = dataclasses.replace(cfg, seed=seed)
            sae = sae_class('batchtopk')(d_in=C, d_sae=d_sae, k=k)
            tcfg = dataclasses.replace(demo_train_config(run, n, P), normalize=False)
            sae = train_sae(sae, rows[cfg.split_train] / scale, tcfg).sae.eval()
            with torch.no_grad(): codes = {s: sae.encode(rows[s] / scale).view(len(x[s]), P, -1).amax(1).numpy() for s in splits[1:]}
            chosen = choose_units(codes[cfg.split_val], y[cfg.split_val], SYNTH_FINDINGS, positive=True)
            held = held_out_scores(chosen, codes[cfg.split_test], y[cfg.split_test])
            dead = float((codes[cfg.split_test].max(0) <= 0).mean())
            f1 = ' '.join(f'{f[:5]} {v:.2f}' for f, v in held.f1.items())
            print(f'| {seed} | {tag} | {chosen.val_f1.mean():.3f} | {held.f1.mean():.3f} | {int((held.f1 >= .8).sum())} | {dead:.0%} | {f1} |', flush=True)


if __name__ == '__main__':
    main()
