"""A synthetic-cxr-clip weights file measured as the shipped one is: zero-shot AUROC per label, then the demo's SAE shapes on its activations.

`medsae train-clip` trains variants of the demo's CLIP (02b_synthetic_clip). This loads one in place of the shipped
weights for the whole process (every `get_model('synthetic-cxr-clip')` reads it), prints 02b's quality check (the
zero-shot AUROC of each label on the 1,000 images of the synthetic set's `test` split), then runs
`bench/demo_shapes.py` with the remaining arguments: the demo's SAE trained and scored on this model's activations,
each shape chosen on validation images.

From the repository root, a data root of its own per weights file:

    python bench/clip_variant.py third.safetensors --data_root /tmp/variant/data --grid 24x3,32x3 --seeds 0,1,2
    python bench/clip_variant.py third.safetensors --data_root /tmp/variant/data --hook_point visual.layer4 --grid 128x4,256x4
"""
import os, sys
from pathlib import Path

import numpy as np
import torch

import medsae.synthclip as synthclip


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith('-'): sys.exit(f'usage: python {sys.argv[0]} WEIGHTS.safetensors [bench/demo_shapes.py options]')
    weights = Path(sys.argv[1]).resolve()
    if not weights.exists(): sys.exit(f'{weights}: no such weights file')
    synthclip.synthetic_clip_weights = lambda: weights  # read wherever the shipped weights are looked up
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); torch.set_num_threads(2)
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
    sys.path.insert(0, str(Path(__file__).parent))
    import demo_shapes
    sys.argv = ['demo_shapes.py'] + sys.argv[2:]
    demo_shapes.main()


if __name__ == '__main__':
    main()
