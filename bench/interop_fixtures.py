"""Write the interop fixtures of `nbs/04b_interop.ipynb` with the other SAE libraries themselves.

Run with a virtual environment that has them (CI does not: the notebook reads only the stored fixtures):

    python3 -m venv /work/peers && /work/peers/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/peers/bin/pip install dictionary_learning==0.1.0 sae-lens==6.54.12 overcomplete==0.3.0 eai-sparsify==1.3.3
    /work/peers/bin/pip install 'matplotlib<3.9'  # overcomplete 0.3.0 imports matplotlib.cm.get_cmap, gone in 3.9
    PYTHONPATH=. /work/peers/bin/python bench/interop_fixtures.py

For every library x class x save method it builds a small SAE (d_in 16, d_sae 32, seeded, every bias and
threshold random), saves it with the library's own save path into `nbs/fixtures/interop/<library>/<case>/`,
loads it back with the library's own loader, and stores beside it `expected.safetensors`: a fixed batch `x`
and the library's codes and reconstructions of it. `case.json` says what was saved and how medsae is to be
asked to load it (the options a file cannot tell). The script is deterministic (seeded, one thread, a fixed hash seed). The medsae -> SAELens export cases write medsae SAEs with
medsae and store what SAELens's own loader computes from the export.
"""
import contextlib, io, json, os, shutil, sys, tempfile, warnings
from pathlib import Path

import torch
from safetensors.torch import save_file

D_IN, D_SAE, K, N = 16, 32, 4, 8
OUT = Path(__file__).resolve().parents[1]/'nbs'/'fixtures'/'interop'
warnings.filterwarnings('ignore')


def batch() -> torch.Tensor:
    "The fixed input: 8 rows, not centred and of unequal norms, so that centering and input normalisation matter."
    g = torch.Generator().manual_seed(1234)
    return torch.randn(N, D_IN, generator=g) * torch.linspace(0.5, 2.0, N)[:, None] + 0.3


@torch.no_grad()
def randomise(module: torch.nn.Module, seed: int, skip=()):
    "Give every float parameter and buffer of `module` seeded random values: weights ~ N(0, 1/d_in), biases ~ N(0, 0.3²)."
    g = torch.Generator().manual_seed(seed)
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if not t.is_floating_point() or t.dim() == 0 or name in skip: continue
        scale = 0.3 if t.dim() == 1 else D_IN ** -0.5 * (1 + torch.rand(1, generator=g).item())
        t.copy_(torch.randn(t.shape, generator=g) * scale)


def write_case(library: str, case: str, files: Path, x: torch.Tensor, codes: torch.Tensor, x_hat: torch.Tensor, **info):
    "Move what `files` holds into the fixture folder and store the expected outputs and the case's description."
    folder = OUT/library/case
    if folder.exists(): shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(files, folder)
    save_file({'x': x.contiguous(), 'codes': codes.detach().float().contiguous(), 'x_hat': x_hat.detach().float().contiguous()}, folder/'expected.safetensors')
    (folder/'case.json').write_text(json.dumps({'library': library, **info}, indent=1) + '\n')
    print(f'{library}/{case}: {sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())} bytes')


@contextlib.contextmanager
def scratch():
    with tempfile.TemporaryDirectory() as d: yield Path(d)


# ---------------------------------------------------------------- dictionary_learning
def dictionary_learning_cases():
    from dictionary_learning.dictionary import AutoEncoder, AutoEncoderNew, GatedAutoEncoder, JumpReluAutoEncoder
    from dictionary_learning.trainers.top_k import AutoEncoderTopK, TopKTrainer
    from dictionary_learning.trainers.batch_top_k import BatchTopKSAE, BatchTopKTrainer
    from dictionary_learning.trainers.matryoshka_batch_top_k import MatryoshkaBatchTopKSAE, MatryoshkaBatchTopKTrainer
    from dictionary_learning.trainers.standard import StandardTrainer, StandardTrainerAprilUpdate
    from dictionary_learning.trainers.gdm import GatedSAETrainer
    from dictionary_learning.trainers.jumprelu import JumpReluTrainer
    from dictionary_learning.training import trainSAE
    from dictionary_learning.utils import load_dictionary
    x = batch()

    def built(cls, seed, threshold=None):
        "A factory the trainer calls as its `dict_class`: the class, with random weights (and a trained threshold)."
        def make(*args, **kw):
            ae = cls(*args, **kw)
            randomise(ae, seed, skip=('threshold',))
            if threshold is not None: ae.threshold.data = torch.as_tensor(threshold, dtype=torch.float32).expand_as(ae.threshold).clone()
            return ae
        return make

    def train_save(trainer, seed, threshold=None, **kw):
        "Save as the trainers do: `trainSAE` (0 steps) writes `config.json` and `ae.pt` into `trainer_0/`."
        cls = kw.pop('dict_class')
        with scratch() as d:
            with contextlib.redirect_stdout(io.StringIO()):
                trainSAE(data=iter([]), trainer_configs=[dict(trainer=trainer, activation_dim=D_IN, dict_size=D_SAE, steps=10_000, layer=0, lm_name='tiny', seed=seed,
                                                               device='cpu', dict_class=built(cls, seed, threshold), **kw)],
                         steps=0, save_dir=str(d), device='cpu')
            yield d/'trainer_0'

    def outputs(ae):
        with torch.no_grad(): f = ae.encode(x); return f, ae.decode(f)

    cases = [  # case, trainer, dict class, threshold, trainer options
        ('AutoEncoder', StandardTrainer, AutoEncoder, None, {}),
        ('AutoEncoder_april', StandardTrainerAprilUpdate, AutoEncoder, None, {}),
        ('GatedAutoEncoder', GatedSAETrainer, GatedAutoEncoder, None, {}),
        ('AutoEncoderTopK', TopKTrainer, AutoEncoderTopK, 0.2, dict(k=K)),
        ('BatchTopKSAE', BatchTopKTrainer, BatchTopKSAE, 0.35, dict(k=K)),
        ('BatchTopKSAE_untrained', BatchTopKTrainer, BatchTopKSAE, None, dict(k=K)),
        ('JumpReluAutoEncoder', JumpReluTrainer, JumpReluAutoEncoder, torch.rand(D_SAE, generator=torch.Generator().manual_seed(7)) * 0.6, {}),
        ('MatryoshkaBatchTopKSAE', MatryoshkaBatchTopKTrainer, MatryoshkaBatchTopKSAE, 0.35, dict(k=K, group_fractions=[0.25, 0.25, 0.5])),
        ('MatryoshkaBatchTopKSAE_untrained', MatryoshkaBatchTopKTrainer, MatryoshkaBatchTopKSAE, None, dict(k=K, group_fractions=[0.25, 0.25, 0.5])),
    ]
    for i, (case, trainer, cls, thr, kw) in enumerate(cases):
        for folder in train_save(trainer, 100 + i, thr, dict_class=cls, **kw):
            cfg = json.loads((folder/'config.json').read_text())['trainer']
            ae, _ = load_dictionary(str(folder), 'cpu')  # the library's own loader of a trainer's folder
            f, x_hat = outputs(ae)
            write_case('dictionary_learning', case, folder, x, f, x_hat, dict_class=cfg['dict_class'], trainer_class=cfg['trainer_class'], save='trainSAE (ae.pt + config.json)')
            if case in ('AutoEncoderTopK', 'BatchTopKSAE', 'AutoEncoder'):  # the same state dict as a bare .pt, without its config
                with scratch() as d:
                    shutil.copy(folder/'ae.pt', d/f'{case}.pt')
                    write_case('dictionary_learning', f'{case}_bare_pt', d, x, f, x_hat, dict_class=cfg['dict_class'], save='bare .pt (state dict)',
                               load={'sae_type_name': cfg['dict_class']})
                    write_case('dictionary_learning', f'{case}_bare_pt_untyped', d, x, f, x_hat, dict_class=cfg['dict_class'], save='bare .pt (state dict)')
    # The April trainer with dict_class=AutoEncoderNew: its config.json still says "AutoEncoder" (hard-coded), so the library's
    # own load_dictionary fails (AutoEncoder cannot load these keys); the class its keys name loads it.
    for folder in train_save(StandardTrainerAprilUpdate, 120, dict_class=AutoEncoderNew):
        ae = AutoEncoderNew.from_pretrained(str(folder/'ae.pt'))
        f, x_hat = outputs(ae)
        write_case('dictionary_learning', 'AutoEncoderNew_april', folder, x, f, x_hat, dict_class='AutoEncoderNew', trainer_class='StandardTrainerAprilUpdate',
                   save='trainSAE (ae.pt + config.json saying "AutoEncoder")', note='load_dictionary fails on it; loaded with AutoEncoderNew.from_pretrained')


# ---------------------------------------------------------------- SAELens
def saelens_cases():
    import sae_lens
    from sae_lens import SAE, TrainingSAE
    from sae_lens.training.activation_scaler import ActivationScaler
    from sae_lens.saes.standard_sae import StandardSAEConfig, StandardTrainingSAEConfig
    from sae_lens.saes.gated_sae import GatedSAEConfig, GatedTrainingSAEConfig
    from sae_lens.saes.jumprelu_sae import JumpReLUSAEConfig, JumpReLUTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKSAEConfig, TopKTrainingSAEConfig
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAEConfig
    from sae_lens.saes.matryoshka_batchtopk_sae import MatryoshkaBatchTopKTrainingSAEConfig
    from sae_lens.saes.abstopk_sae import AbsTopKSAEConfig
    x = batch()
    base = dict(d_in=D_IN, d_sae=D_SAE)

    def build(cfg, seed, training):
        sae = (TrainingSAE if training else SAE).from_dict(cfg.to_dict())
        randomise(sae, seed, skip=('threshold', 'topk_threshold'))
        with torch.no_grad():
            if hasattr(sae, 'threshold'): sae.threshold.copy_(torch.rand(D_SAE, generator=torch.Generator().manual_seed(seed)) * 0.6)
            if hasattr(sae, 'topk_threshold'): sae.topk_threshold.fill_(0.35)
        return sae

    def outputs(sae, xin=x):
        with torch.no_grad(): return sae.encode(xin), sae(xin)

    inference = [  # case, config
        ('standard', StandardSAEConfig(**base)),
        ('standard_no_b_dec', StandardSAEConfig(**base, apply_b_dec_to_input=False)),
        ('gated', GatedSAEConfig(**base)),
        ('jumprelu', JumpReLUSAEConfig(**base)),
        ('topk', TopKSAEConfig(**base, k=K)),
        ('topk_rescale', TopKSAEConfig(**base, k=K, rescale_acts_by_decoder_norm=True)),
        ('abstopk', AbsTopKSAEConfig(**base, k=K)),
        ('standard_layer_norm', StandardSAEConfig(**base, normalize_activations='layer_norm')),
        ('standard_constant_norm_rescale', StandardSAEConfig(**base, normalize_activations='constant_norm_rescale')),
        ('topk_layer_norm', TopKSAEConfig(**base, k=K, normalize_activations='layer_norm')),
        ('standard_expected_average_only_in', StandardSAEConfig(**base, normalize_activations='expected_average_only_in')),
        ('standard_covariance_whitening', StandardSAEConfig(**base, normalize_activations='covariance_whitening')),
    ]
    for i, (case, cfg) in enumerate(inference):
        sae = build(cfg, 200 + i, training=False)
        with scratch() as d:
            sae.save_model(d)
            back = SAE.load_from_disk(d)  # the library's own loader
            f, x_hat = outputs(back)
            write_case('saelens', case, d, x, f, x_hat, architecture=cfg.architecture(), save='SAE.save_model (inference)',
                       normalize_activations=cfg.normalize_activations)

    matryoshka = dict(k=K, matryoshka_widths=[8, 16, D_SAE])
    training = [  # case, config, activation scaling factor of the trainer (expected_average_only_in)
        ('standard_training', StandardTrainingSAEConfig(**base), None),
        ('gated_training', GatedTrainingSAEConfig(**base), None),
        ('jumprelu_training', JumpReLUTrainingSAEConfig(**base), None),
        ('topk_training', TopKTrainingSAEConfig(**base, k=K), None),  # rescale_acts_by_decoder_norm=True, SAELens's training default
        ('topk_training_no_rescale', TopKTrainingSAEConfig(**base, k=K, rescale_acts_by_decoder_norm=False), None),
        ('topk_training_layer_norm', TopKTrainingSAEConfig(**base, k=K, normalize_activations='layer_norm'), None),
        ('batchtopk_training', BatchTopKTrainingSAEConfig(**base, k=K), None),
        ('batchtopk_training_no_rescale', BatchTopKTrainingSAEConfig(**base, k=K, rescale_acts_by_decoder_norm=False), None),
        ('matryoshka_batchtopk_training', MatryoshkaBatchTopKTrainingSAEConfig(**base, **matryoshka), None),
        ('standard_training_expected_average_only_in', StandardTrainingSAEConfig(**base, normalize_activations='expected_average_only_in'), 1.7),
        ('batchtopk_training_expected_average_only_in', BatchTopKTrainingSAEConfig(**base, k=K, normalize_activations='expected_average_only_in'), 1.7),
        ('standard_training_expected_average_only_in_no_scaler', StandardTrainingSAEConfig(**base, normalize_activations='expected_average_only_in'), False),
    ]
    for i, (case, cfg, scale) in enumerate(training):
        sae = build(cfg, 300 + i, training=True)
        with scratch() as d:
            sae.save_model(d)  # what the trainer's save_checkpoint writes every n_checkpoints
            if scale: ActivationScaler(scaling_factor=scale).save(str(d/'activation_scaler.json'))  # ... with the trainer's activation scaler beside it
            # what the library makes of the checkpoint: the training SAE loaded back, the trainer's scaling folded in as its fit() does
            # at the end, then its inference SAE (BatchTopK becomes JumpReLU there, with the running threshold)
            back = TrainingSAE.load_from_disk(d)
            if scale: back.fold_activation_norm_scaling_factor(scale)
            with scratch() as e:
                back.save_inference_model(e)
                inf = SAE.load_from_disk(e)
            f, x_hat = outputs(inf)
            info = dict(architecture=cfg.architecture(), save='TrainingSAE.save_model (training checkpoint)' + (' + activation_scaler.json' if scale else ''),
                        normalize_activations=cfg.normalize_activations, expected_from=f'its inference SAE ({inf.cfg.architecture()}) via save_inference_model')
            write_case('saelens', case, d, x, f, x_hat, **info)
            if cfg.architecture() in ('batchtopk', 'matryoshka_batchtopk') and not scale:  # and the inference model the trainer writes at the end
                with scratch() as e:
                    sae.save_inference_model(e)
                    inf = SAE.load_from_disk(e)
                    f, x_hat = outputs(inf)
                    write_case('saelens', case.replace('_training', '_inference'), e, x, f, x_hat, architecture=inf.cfg.architecture(),
                               training_architecture=cfg.architecture(), save='TrainingSAE.save_inference_model')



def medsae_export_cases():
    "medsae -> SAELens: medsae SAEs exported by medsae, loaded by SAELens's own loader."
    from sae_lens import SAE
    from medsae.sae import sae_class, save_sae
    from medsae.interop import export_saelens
    x = batch()
    for i, (case, kw) in enumerate((('standard', {}), ('standard_april', {}), ('topk', dict(k=K)), ('jumprelu', {}), ('batchtopk', dict(k=K)),
                                    ('matryoshka_batchtopk', dict(k=K, group_sizes=(8, 8, 16))), ('gated', {}), ('topk_normalized', dict(k=K)))):
        arch, act_scale = case.removesuffix('_normalized'), 0.25 if case.endswith('_normalized') else None  # trained with --normalize: inputs were scaled by act_scale
        torch.manual_seed(400 + i)
        s = sae_class(arch)(d_in=D_IN, d_sae=D_SAE, **kw)
        randomise(s, 400 + i, skip=('threshold',))
        with torch.no_grad():
            if arch == 'jumprelu': s.threshold.copy_(torch.rand(D_SAE) * 0.6)
            if 'batchtopk' in arch: s.threshold.fill_(0.35)
        s.eval()
        with scratch() as d:
            save_sae(s, d/'medsae', training={'act_scale': act_scale} if act_scale else None)
            export_saelens(d/'medsae', d/'saelens')  # from the folder: its record's act_scale folded in
            back = SAE.load_from_disk(d/'saelens')
            with torch.no_grad(): f, x_hat = back.encode(x), back(x)
            write_case('medsae_export', case, d, x, f, x_hat, architecture=arch, save='medsae save_sae + export_saelens', expected_from='SAE.load_from_disk of the export',
                       **({'act_scale': act_scale} if act_scale else {}))


# ---------------------------------------------------------------- overcomplete
def overcomplete_cases():
    from overcomplete.sae import SAE, TopKSAE, BatchTopKSAE, JumpSAE
    x = batch()
    cases = [  # case, class, options, what medsae is told
        ('SAE', SAE, {}, {'sae_type_name': 'overcomplete.SAE'}),
        ('TopKSAE', TopKSAE, dict(top_k=K), {'sae_type_name': 'overcomplete.TopKSAE:top_k=4'}),
        ('TopKSAE_no_top_k', TopKSAE, dict(top_k=K), {'sae_type_name': 'overcomplete.TopKSAE'}),
        ('JumpSAE', JumpSAE, {}, {'sae_type_name': 'overcomplete.JumpSAE'}),
        ('BatchTopKSAE', BatchTopKSAE, dict(top_k=K * N), {'sae_type_name': 'overcomplete.BatchTopKSAE:k=4'}),
        ('BatchTopKSAE_with_threshold', BatchTopKSAE, dict(top_k=K * N), {'sae_type_name': 'overcomplete.BatchTopKSAE:k=4'}),
        ('SAE_pickled_module', SAE, {}, {'sae_type_name': 'overcomplete.SAE'}),
        ('SAE_identity', SAE, dict(dictionary_params={'normalization': 'identity'}), {'sae_type_name': 'overcomplete.SAE'}),  # the file cannot say it: medsae must be told
        ('SAE_identity_told', SAE, dict(dictionary_params={'normalization': 'identity'}), {'sae_type_name': 'overcomplete.SAE:normalization=identity'}),
        ('TopKSAE_max_l2', TopKSAE, dict(top_k=K, dictionary_params={'normalization': 'max_l2'}), {'sae_type_name': 'overcomplete.TopKSAE:top_k=4,normalization=max_l2'}),
    ]
    for i, (case, cls, kw, load) in enumerate(cases):
        torch.manual_seed(500 + i)
        sae = cls(D_IN, D_SAE, **kw)
        randomise(sae, 500 + i, skip=('thresholds',))
        with torch.no_grad():
            if cls is JumpSAE: sae.thresholds.copy_(torch.log(torch.rand(D_SAE) * 0.6 + 0.01))
        if cls is BatchTopKSAE:
            sae.train()
            for b in range(3): sae.encode(torch.randn(N, D_IN, generator=torch.Generator().manual_seed(600 + b)))  # training steps set the running threshold (a plain attribute)
        sae.eval()
        with torch.no_grad(): _, f = sae.encode(x); x_hat = sae.decode(f)
        with scratch() as d:
            if case == 'SAE_pickled_module': torch.save(sae, d/f'{case}.pt')  # the whole module, pickled
            elif case == 'BatchTopKSAE_with_threshold': torch.save({**sae.state_dict(), 'running_threshold': sae.running_threshold}, d/f'{case}.pt')
            else: torch.save(sae.state_dict(), d/f'{case}.pt')  # overcomplete has no save method: a state dict, as its examples do
            # check: the library's own module, rebuilt from the file as a user would, computes the stored outputs
            re = cls(D_IN, D_SAE, **kw)
            sd = torch.load(d/f'{case}.pt', weights_only=False)
            if isinstance(sd, dict):
                thr = sd.pop('running_threshold', None)
                re.load_state_dict(sd)
                if cls is BatchTopKSAE: re.running_threshold = thr if thr is not None else sae.running_threshold
                re.eval()
                with torch.no_grad(): _, f2 = re.encode(x); assert torch.allclose(f2, f, atol=1e-6) and torch.allclose(re.decode(f2), x_hat, atol=1e-6)
            write_case('overcomplete', case, d, x, f, x_hat, sae_class=cls.__name__, save='torch.save(sae)' if 'pickled' in case else 'torch.save(sae.state_dict())',
                       options=kw, load=load)


# ---------------------------------------------------------------- sparsify
def sparsify_cases():
    "EleutherAI's sparsify: SparseCoders saved with their own save_to_disk (a hook point's folder: cfg.json + sae.safetensors)."
    from sparsify import SparseCoder, SparseCoderConfig
    import sparsify.sparse_coder as sparse_coder, sparsify.utils as sparsify_utils
    sparse_coder.decoder_impl = sparsify_utils.eager_decode  # its default decoder is a triton kernel, which needs a GPU: the library's own eager one
    x = batch()
    for i, (case, kw) in enumerate((('topk', {}), ('topk_skip_connection', dict(skip_connection=True)), ('groupmax', dict(activation='groupmax')))):
        torch.manual_seed(700 + i)
        coder = SparseCoder(D_IN, SparseCoderConfig(num_latents=D_SAE, k=K, **kw))
        randomise(coder, 700 + i)
        with torch.no_grad():
            enc = coder.encode(x)
            f, x_hat = torch.zeros(N, D_SAE).scatter(1, enc.top_indices, enc.top_acts), coder(x).sae_out
        with scratch() as d:
            coder.save_to_disk(d/'layers.0')
            back = SparseCoder.load_from_disk(d/'layers.0')  # check: the library's own loader computes the stored outputs
            with torch.no_grad(): assert torch.allclose(back(x).sae_out, x_hat)
            write_case('sparsify', case, d, x, f, x_hat, save='SparseCoder.save_to_disk', target='layers.0')


if __name__ == '__main__':
    if os.environ.get('PYTHONHASHSEED') != '0':  # SAELens writes an inference cfg.json from a set of field names: fix the hash seed, fix the key order
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, 'PYTHONHASHSEED': '0'})
    torch.set_num_threads(1)
    if OUT.exists(): shutil.rmtree(OUT)
    dictionary_learning_cases()
    saelens_cases()
    medsae_export_cases()
    overcomplete_cases()
    sparsify_cases()
