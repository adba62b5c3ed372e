"""How often naming by vocabulary names a tracked planted finding right, for given synthetic-cxr-clip weights and SAE size,
with `name_by_vocab`'s decoder-direction matching and with other ways of matching (07_naming, "Do the names find the
planted findings?", reports the tallies).

    python bench/naming_variants.py WEIGHTS [--d_sae 128] [--k 4] [--root DIR] [--restrict] [--sections]

WEIGHTS: a synthetic-cxr-clip .safetensors file (`medsae train-clip --out ...`), or `shipped`. The setting is 07's slow
check: joint embeddings of 6,000 training radiographs, a BatchTopK SAE (seed 0, 1,500 steps), its features on the 1,000
test radiographs; a finding is tracked when some latent separates it at AUROC >= 0.9. `--restrict` cuts the medical
vocabulary to the phrasings whose words all occur in the training reports (`restrict_vocab`); `--sections` keeps only its
labels, devices and findings sections (as `medsae demo` names). About 3 minutes on a 2-core CPU.
"""
import argparse, shutil, tempfile
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from medsae.core import seed_everything
from medsae.data import CHEXPERT_LABELS, get_dataset
from medsae.synthetic import SYNTH_FINDINGS, SYNTH_WORDS
from medsae.models import auroc, get_model
from medsae.activations import extract_activations
from medsae.training import TrainConfig, train_sae
from medsae.sae import sae_class
from medsae.features import sae_features
from medsae.naming import concept_scores, decoder_directions, embed_vocab, load_sae_checkpoint, load_vocab, restrict_vocab, vocab_sections

p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
p.add_argument('weights'); p.add_argument('--d_sae', type=int, default=128); p.add_argument('--k', type=int, default=4)
p.add_argument('--root', help='data root (default: a temporary folder)'); p.add_argument('--restrict', action='store_true')
p.add_argument('--sections', action='store_true')
a = p.parse_args()
model = get_model('synthetic-cxr-clip', weights=None if a.weights == 'shipped' else a.weights)
root = Path(a.root or tempfile.mkdtemp())/'data'
acts = extract_activations(model, 'synthetic-cxr', 'train', 'image_embeds', data_root=root, n=6000, batch_size=100, num_workers=0)
sae_dir = root/'sae_checkpoints'/f'bench_{a.d_sae}_{a.k}'
shutil.rmtree(sae_dir, ignore_errors=True)
seed_everything(0)
train_sae(sae_class('batchtopk')(d_in=acts.d_in, d_sae=a.d_sae, k=a.k), acts,
          TrainConfig(batch_size=256, steps=1500, lr=2e-3, warmup_steps=20, normalize=True, log_every=500, seed=0), out=sae_dir)
feats = sae_features(sae_dir, model, 'synthetic-cxr', 'test', data_root=root, n=1000, overwrite=True)
sae, info = load_sae_checkpoint(sae_dir)

words = {f: SYNTH_WORDS[f] + {'Lung Lesion': ('lesion',), 'Support Devices': ('line', 'support device')}.get(f, ()) for f in SYNTH_FINDINGS}
F_test, Y_test = feats.to_dense().numpy(), feats.labels.nan_to_num(0).numpy()
tracked = []
for f in SYNTH_FINDINGS:
    au = np.array([auroc(F_test[:, j], Y_test[:, CHEXPERT_LABELS.index(f)]) for j in range(feats.d_sae)])
    if au.max() >= .9: tracked.append((f, int(au.argmax())))

vocab = restrict_vocab('medical', get_dataset('synthetic-cxr', 'train', n=6000).texts) if a.restrict else load_vocab('medical')
if a.sections: vocab = {c: q for c, q in vocab.items() if vocab_sections('medical').get(c) in ('labels', 'devices', 'findings')}
names = list(vocab)
phrases = [q for ps in vocab.values() for q in ps]
owner = torch.repeat_interleave(torch.tensor([len(ps) for ps in vocab.values()]))
with torch.inference_mode(): P = model.encode_text(phrases, normalize=True).float()  # each phrasing, for the best-phrasing variants
C = embed_vocab(model, vocab)  # each concept, as name_by_vocab embeds it
Cc, Pc = F.normalize(C - C.mean(0), dim=1), F.normalize(P - P.mean(0), dim=1)
X = acts.to_tensor().float()  # the training embeddings the SAE read
with torch.inference_mode(): Z = sae.encode(X * (info['act_scale'] or 1.)).float()
live = (Z > 0).any(0)
Xn = F.normalize(X, dim=1)

def best_phrase(S): return torch.full((len(S), len(vocab)), -9.).scatter_reduce(1, owner.expand(len(S), -1), S, 'amax')
def csls(S, k=10): return 2 * S - S[live].topk(min(k, int(live.sum())), dim=0).values.mean(0)  # hub concepts pay their mean similarity to their k nearest latents
def zscore(A): return (A - A.mean(0)) / (A.std(0) + 1e-8)
D = F.normalize(decoder_directions(sae), dim=1)
D_img = F.normalize(Z.T @ (Xn - Xn.mean(0)), dim=1)  # activation-weighted mean of the centred image embeddings a latent fires on
variants = {
    'decoder direction (name_by_vocab)': D @ Cc.T,
    'decoder direction, best phrasing': best_phrase(D @ Pc.T),
    'decoder direction, CSLS': csls(D @ Cc.T),
    'image-side direction': D_img @ Cc.T,
    'image-side direction, best phrasing': best_phrase(D_img @ Pc.T),
    'activation vs zero-shot score correlation': zscore(Z).T @ zscore(Xn @ C.T) / len(Xn),
    'the same, scores centred per image (name_by_zero_shot)': zscore(Z).T @ zscore(concept_scores(X, C)) / len(Xn),
}
print(f'{a.weights}, SAE {a.d_sae}/k={a.k}{", restricted vocabulary" if a.restrict else ""}{", three sections" if a.sections else ""} ({len(names)} concepts): '
      f'{len(tracked)} tracked: ' + ', '.join(f'{f} #{j}' for f, j in tracked))
for v, S in variants.items():
    got = [(f, names[int(S[j].argmax())]) for f, j in tracked]
    right = sum(any(w in n for w in words[f]) for f, n in got)
    print(f'{v:42s} {right}/{len(got)}  ' + '; '.join(f'{f}: {n}' for f, n in got))
S = variants['decoder direction (name_by_vocab)']
ranks = {f: next(i + 1 for i, c in enumerate(S[j].argsort(descending=True).tolist()) if any(w in names[c] for w in words[f])) for f, j in tracked}
print('rank of the right term (decoder direction):', ', '.join(f'{f} {r}' for f, r in ranks.items()))
