"""Why the demo's focal lung findings get no latent of their own: where against what, measured on the demo's own activations.

The synthetic set draws Lung Opacity, Consolidation, Lung Lesion and Fracture at a side and a zone of a lung, and the
reports name both. Two measurements on the joint-embedding activations `medsae demo` extracts (train, val, test):

1. Where against what. Among training images with exactly one finding, and that one focal, the share of the
   embedding's variance that the finding's kind explains (one-hot, least squares R²), and the share its place explains
   (side × zone). Checked: R² of a one-hot factor equals its between-group sum of squares over the total.
2. An intervention. The place directions (the centred means of the side × zone groups, 5 of them) are shrunk by a
   factor in every image, train, val and test alike, and the demo's SAE is trained again on the result, exactly as the
   demo trains it. If place drowned the kind, the focal findings' held-out latent F1 would rise to the probe's.

From the repository root, after `medsae demo --data_root DIR` (which extracts the activations):

    python bench/demo_causes.py --data_root DIR
    python bench/demo_causes.py --data_root DIR --shapes 16x2,24x2,32x3 --factors 1,0.5,0
"""
import argparse, dataclasses, os

import numpy as np
import torch

from medsae.activations import ActivationStore, activations_folder
from medsae.core import seed_everything, set_quiet
from medsae.demo import DemoConfig, demo_train_config, finding_labels
from medsae.evaluation.ground_truth import choose_units, held_out_scores
from medsae.sae import sae_class
from medsae.synthetic import SYNTH_FINDINGS, SYNTH_SPLITS, synth_cxr
from medsae.training import train_sae

FOCAL = ['Lung Opacity', 'Consolidation', 'Lung Lesion', 'Fracture']


def r2(x:np.ndarray, groups:list) -> float:
    "Share of the variance of the rows of `x` explained by a categorical factor (least squares on its one-hot coding)."
    keys = sorted(set(groups)); A = np.array([[g == k for k in keys] for g in groups], float)
    xc = x - x.mean(0); B = np.linalg.lstsq(A, xc, rcond=None)[0]
    return float(1 - ((xc - A @ B)**2).sum() / (xc**2).sum())


def between_share(x:np.ndarray, groups:list) -> float:
    "The same share, as the between-group sum of squares over the total (an independent check of `r2`)."
    xc, g = x - x.mean(0), np.array([str(v) for v in groups])
    return float(sum((g == k).sum() * (xc[g == k].mean(0)**2).sum() for k in set(g)) / (xc**2).sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data_root', required=True)
    p.add_argument('--shapes', default='16x2,24x2,32x3', help='d_sae x k of the SAEs trained on the shrunk activations')
    p.add_argument('--factors', default='1,0.5,0', help='what the place directions are multiplied by (1: as they are)')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads); set_quiet(True); os.environ.setdefault('HF_HUB_OFFLINE', '1')
    cfg = DemoConfig(data_root=a.data_root)
    stores = {s: ActivationStore(activations_folder(cfg.model, cfg.dataset, s, None, data_root=a.data_root)) for s in ('train', 'val', 'test')}
    x = {s: st.to_tensor(normalize=False).numpy() for s, st in stores.items()}
    y = {s: finding_labels(st, SYNTH_FINDINGS) for s, st in stores.items()}
    found = [synth_cxr(SYNTH_SPLITS['train'] + i, draw=False)['findings'] for i in range(len(x['train']))]
    one = [i for i, f in enumerate(found) if len(f) == 1 and next(iter(f)) in FOCAL]
    kind = [next(iter(found[i])) for i in one]; place = [(d['side'], d['zone']) for i in one for d in found[i].values()]
    xs = x['train'][one] / np.linalg.norm(x['train'][one], axis=1, keepdims=True)  # the demo's SAE reads unit-mean-norm rows; the shares are per row
    print(f'{len(one)} training images with exactly one finding, a focal one ({", ".join(FOCAL)})')
    for name, g in [('kind (what)', kind), ('side', [p[0] for p in place]), ('zone', [p[1] for p in place]), ('side × zone (where)', place),
                    ('kind + side × zone', list(zip(kind, place)))]:
        share = r2(xs, g)
        assert abs(share - between_share(xs, g)) < 1e-6, (name, share, between_share(xs, g))
        print(f'  {name:22s} explains {share:.3f} of the variance')
    keys = sorted(set(place))
    means = np.stack([x['train'][one][[p == k for p in place]].mean(0) for k in keys])
    U = np.linalg.svd(means - means.mean(0), full_matrices=False)[2][:len(keys) - 1]  # the place directions
    print('\n| place × | d_sae, k | distinct latents (val) | held-out mean F1 | ' + ' | '.join(f[:13] for f in SYNTH_FINDINGS) + ' |')
    print('|---|---|---|---|' + '---|' * len(SYNTH_FINDINGS))
    for factor in map(float, a.factors.split(',')):
        shrunk = {s: torch.from_numpy(v - (1 - factor) * (v @ U.T) @ U).float() for s, v in x.items()}
        scale = shrunk['train'].norm(dim=1).mean()  # unit mean norm, as the demo's training normalises
        for shape in a.shapes.split(','):
            d_sae, k = map(int, shape.split('x'))
            run = DemoConfig(data_root=a.data_root, d_sae=d_sae, k=k)
            seed_everything(run.seed)
            sae = train_sae(sae_class('batchtopk')(d_in=shrunk['train'].shape[1], d_sae=d_sae, k=k), shrunk['train'] / scale,
                            dataclasses.replace(demo_train_config(run, len(shrunk['train'])), normalize=None)).sae  # scaled above, as a store's normalize does
            with torch.no_grad(): cv, ct = (sae.encode(shrunk[s] / scale).numpy() for s in ('val', 'test'))
            chosen = choose_units(cv, y['val'], SYNTH_FINDINGS, positive=True)
            held = held_out_scores(chosen, ct, y['test'])
            print(f'| {factor:g} | {d_sae}, {k} | {chosen.unit.nunique()} | {held.f1.mean():.3f} | ' + ' | '.join(f'{v:.2f}' for v in held.f1) + ' |', flush=True)


if __name__ == '__main__':
    main()
