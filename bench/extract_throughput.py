"""Images/s of medsae's extraction path against the bare model forward pass on the same images.

The extraction path is `medsae.activations.extract_activations` on a model from `medsae.models` at its joint-embedding
hook point: PNG images decoded and preprocessed in DataLoader workers while the model runs, `hook_activations`, shards
written to disk, meta written. The bare forward pass is the model's own `encode_image` on the same images, already
decoded, preprocessed and batched in memory (that preparation is not timed). Target: extraction >= 90 % of bare.
At a spatial hook point (`--hook_point visual.layer4`: 49 vectors of 2048 a 224 px image for RN50, 400 KB of float32)
extraction writes every position; the bare pass is still the whole `encode_image`.
Runs alternate (bare, extraction, bare, extraction, ...) and the best of each is reported, so that a load that
comes and goes on a shared machine does not favour either.

    python bench/extract_throughput.py                                # CPU: open_clip RN50 (random weights), 224 px
    python bench/extract_throughput.py --device cuda --n_images 4096 --batch_size 256 --shard_size 1024
"""
import argparse, io, os, tempfile, time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from medsae.core import get_device, get_dtype, set_quiet
from medsae.activations import extract_activations
from medsae.models import get_model


class PngImages(Dataset):
    "Random RGB images held as PNG bytes, decoded when an item is read (as files on disk would be)."
    name, split, label_names = 'bench-png', 'train', []
    def __init__(self, n, size, seed=0):
        rng = np.random.default_rng(seed)
        self.png = []
        for _ in range(n):
            buf = io.BytesIO(); Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format='PNG')
            self.png.append(buf.getvalue())
    def __len__(self): return len(self.png)
    def __getitem__(self, i): return {'image': Image.open(io.BytesIO(self.png[i])).convert('RGB'), 'labels': torch.empty(0), 'text': '', 'id': str(i)}


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def bare_rate(model, batches, device):
    "Images/s of `encode_image` alone on batches already in memory."
    sync(device); t0 = time.perf_counter()
    for b in batches: model.encode_image(b).cpu()
    sync(device)
    return sum(len(b) for b in batches) / (time.perf_counter() - t0)


def extraction_rate(model, ds, args, device, dtype, root):
    "Images/s of a whole extraction, from the dataset's PNG bytes to shards and meta on disk."
    sync(device); t0 = time.perf_counter()
    store = extract_activations(model, ds, 'train', args.hook_point, data_root=root, batch_size=args.batch_size, num_workers=args.num_workers,
                                shard_size=args.shard_size, device=str(device), dtype=dtype, overwrite=True)
    secs = time.perf_counter() - t0
    assert store.n == len(ds)
    return len(ds) / secs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model_name', default='open_clip:RN50', help='a medsae model name')
    p.add_argument('--weights', default='random', help="the model's weights (default: random, so nothing is downloaded)")
    p.add_argument('--tiny', action='store_true', help='the tiny version of the architecture')
    p.add_argument('--hook_point', default=None, help="where extraction reads (default: the joint embedding); e.g. visual.layer4 for a spatial map")
    p.add_argument('--n_images', type=int, default=48)
    p.add_argument('--batch_size', type=int, default=16)
    p.add_argument('--shard_size', type=int, default=32)
    p.add_argument('--num_workers', type=int, default=None, help='DataLoader workers (default: cores - 1, at most 8)')
    p.add_argument('--device', default=None)
    p.add_argument('--dtype', default=None)
    p.add_argument('--repeats', type=int, default=2, help='timed runs of each, alternating; the best of each is reported')
    args = p.parse_args(argv)
    set_quiet()
    device = get_device(args.device); dtype = get_dtype(args.dtype, device)
    model = get_model(args.model_name, weights=None if args.tiny else args.weights, device=device, tiny=args.tiny, dtype=dtype)
    ds = PngImages(args.n_images, model.image_size + model.image_size // 8)
    batches = list(torch.stack([model.preprocess(ds[i]['image']) for i in range(len(ds))]).split(args.batch_size))
    with tempfile.TemporaryDirectory() as d:
        bare_rate(model, batches[:1], device); extraction_rate(model, PngImages(args.batch_size, 16), args, device, dtype, d)  # warm up both
        runs = [(bare_rate(model, batches, device), extraction_rate(model, ds, args, device, dtype, d)) for _ in range(args.repeats)]
    bare, ext = max(r[0] for r in runs), max(r[1] for r in runs)
    workers = args.num_workers if args.num_workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))
    dev = torch.cuda.get_device_name(device) if device.type == 'cuda' else f'cpu, {torch.get_num_threads()} threads'
    print('| device | model | hook point | px | dtype | batch | images | workers | bare forward img/s | extraction img/s | extraction / bare |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    print(f'| {dev} | {args.model_name}{" tiny" if args.tiny else ""} | {args.hook_point or "embedding"} | {model.image_size} | {str(dtype).removeprefix("torch.")} | {args.batch_size} '
          f'| {len(ds)} | {workers} | {bare:.1f} | {ext:.1f} | {100 * ext / bare:.0f} % |')


if __name__ == '__main__': main()
