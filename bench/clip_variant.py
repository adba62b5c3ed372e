"""A synthetic-cxr-clip weights file measured as the shipped one is: zero-shot AUROC per label, then the demo's SAE shapes, or the whole demo, on its activations.

`medsae train-clip` trains variants of the demo's CLIP (02b_synthetic_clip). This loads one in place of the shipped
weights for the whole process (every `get_model('synthetic-cxr-clip')` reads it, and cached activations are checked
against it), prints 02b's quality check (the zero-shot AUROC of each label on the 1,000 images of the synthetic set's
`test` split), then either runs `bench/demo_shapes.py` with the remaining arguments (the demo's SAE trained and scored
on this model's activations, each shape chosen on validation images), or, with `--demo DIR` as the only other argument,
the whole demo (`run_demo`) at the joint embedding and at `visual.layer4` (`--layer4_shape`, default 128x4), printing
each run's ground-truth table and goals.

From the repository root, a data root of its own per weights file:

    python bench/clip_variant.py third.safetensors --data_root /tmp/variant/data --grid 24x3,32x3 --seeds 0,1,2
    python bench/clip_variant.py third.safetensors --data_root /tmp/variant/data --hook_point visual.layer4 --grid 128x4,256x4
    python bench/clip_variant.py third.safetensors --demo /tmp/variant/demo
"""
import os, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import medsae.synthclip as synthclip


def zero_shot(weights:Path):
    "02b's quality check on these weights: each label's zero-shot AUROC on the 1,000 test images."
    from medsae.data import CHEXPERT_LABELS
    from medsae.models import auroc, get_model, zero_shot_scores
    from medsae.synthetic import SYNTH_FINDINGS, SYNTH_SPLITS, synth_cxr
    items = [synth_cxr(SYNTH_SPLITS['test'] + i, 0) for i in range(1000)]
    x = synthclip.GrayPreprocess(128).tensor(torch.from_numpy(np.stack([d['image'] for d in items])))
    y = np.stack([d['labels'] for d in items])
    zs = zero_shot_scores(get_model('synthetic-cxr-clip', device='cpu'), x)
    print(f'{weights.name}: zero-shot AUROC on 1,000 test images')
    print('| ' + ' | '.join(SYNTH_FINDINGS + ['No Finding']) + ' |\n|' + '---|' * (len(SYNTH_FINDINGS) + 1))
    print('| ' + ' | '.join(f'{auroc(zs[f], y[:, CHEXPERT_LABELS.index(f)]):.3f}' for f in SYNTH_FINDINGS + ['No Finding']) + ' |', flush=True)


def whole_demo(folder:Path, layer4_shape:str):
    "The demo at the joint embedding (its default shape) and at visual.layer4: each run's ground-truth table and goals."
    from medsae.core import load_table, set_quiet
    from medsae.demo import DemoConfig, run_demo
    from medsae.evaluation import ground_truth_goals
    set_quiet(True); pd.set_option('display.width', 250); pd.set_option('display.max_columns', 20)
    d4, k4 = map(int, layer4_shape.split('x'))
    for hook, shape in ((None, {}), ('visual.layer4', {'d_sae': d4, 'k': k4})):
        t0 = time.time()
        page = run_demo(DemoConfig(data_root=str(folder/'data'), hook_point=hook, out=str(folder/f'report_{hook or "embedding"}'), **shape))
        table = load_table(page.parent/'ground_truth.csv')
        print(f'== {hook or "joint embedding"} {shape or "(default shape)"}: {time.time() - t0:.0f} s')
        print(table.round(3).to_string()); print(ground_truth_goals(table).to_string(), flush=True)


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith('-'): sys.exit(f'usage: python {sys.argv[0]} WEIGHTS.safetensors [bench/demo_shapes.py options | --demo DIR [--layer4_shape DxK]]')
    weights = Path(sys.argv[1]).resolve()
    if not weights.exists(): sys.exit(f'{weights}: no such weights file')
    synthclip.synthetic_clip_weights = lambda: weights  # read wherever the shipped weights are looked up
    synthclip.synthetic_cxr_clip.default_weights = synthclip.synthetic_clip_weights  # and what cached activations are checked against
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); torch.set_num_threads(2)
    zero_shot(weights)
    rest = sys.argv[2:]
    if rest[:1] == ['--demo']:
        shape = rest[rest.index('--layer4_shape') + 1] if '--layer4_shape' in rest else '128x4'
        return whole_demo(Path(rest[1]), shape)
    sys.path.insert(0, str(Path(__file__).parent))
    import demo_shapes
    sys.argv = ['demo_shapes.py'] + rest
    demo_shapes.main()


if __name__ == '__main__':
    main()
