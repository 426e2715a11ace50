"""Time one training epoch on 60,000 images: the project's pipeline against the classic one;
with --pictures, time what kuzu_main.py's pictures add to a 10-epoch run instead.

classic: torchvision KMNIST Dataset with ToTensor + Normalize(0.5, 0.5), DataLoader
         batch 64, the course's train loop (the data decoded image by image, every epoch).
project: kuzu_data.load_split tensors sliced into batches by kuzu_main.train, with each
         network's own recipe (for conv: one-cycle schedule, random shifts, label smoothing).

Both run in this process on the same 60,000 images: the shared KMNIST subset tiled
to 60,000 when it is present, else synthetic images. Run it alone on the machine.

    python3 bench/bench_kuzu.py [--nets lin full conv] [--data_dir ../shared/data/kmnist-7k]
    python3 bench/bench_kuzu.py --pictures [--nets ...] [--data_dir ...]

--pictures draws, for each net (fresh weights: drawing does not depend on how well it was
trained), what a 10-epoch run draws: the learning curves after each of the 10 epochs, then
the confusion matrix (drawn before these pictures existed too), the most confused pairs and
the weights. It reports the wall and CPU seconds of each, the best of three tries, so a
loaded machine shows in the wall time and less in the CPU time.
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kuzu_data  # noqa: E402
import kuzu_main  # noqa: E402
import kuzu_nets  # noqa: E402
import kuzu_plots  # noqa: E402
from common import pyplot  # noqa: E402

N_IMAGES = 60000


def write_idx(path, array):
    """Write a uint8 array in the IDX layout torchvision reads."""
    with open(path, "wb") as f:
        f.write((0x0800 + array.ndim).to_bytes(4, "big"))
        for size in array.shape:
            f.write(size.to_bytes(4, "big"))
        f.write(array.astype(np.uint8).tobytes())


def make_60k(source_dir, root):
    """Write 60,000 training images (real ones tiled, or synthetic) as KMNIST files under root."""
    raw = os.path.join(root, "KMNIST", "raw")
    os.makedirs(raw)
    if source_dir and os.path.isdir(kuzu_data.raw_folder(source_dir)):
        real = torchvision.datasets.KMNIST(source_dir, train=True)
        reps = -(-N_IMAGES // len(real.targets))
        images = real.data.numpy().repeat(reps, axis=0)[:N_IMAGES]  # tiled
        labels = real.targets.numpy().repeat(reps)[:N_IMAGES]
        origin = f"real images from {source_dir}, tiled"
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, size=(N_IMAGES, 28, 28))
        labels = rng.integers(0, 10, size=N_IMAGES)
        origin = "synthetic images"
    for split in ("train", "t10k"):  # the project's loader checks all four files
        write_idx(os.path.join(raw, f"{split}-images-idx3-ubyte"), images)
        write_idx(os.path.join(raw, f"{split}-labels-idx1-ubyte"), labels)
    return origin


def classic_epoch(root, model):
    """The course's pipeline: Dataset + transforms + DataLoader, batch 64, no shuffle."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    loader = torch.utils.data.DataLoader(
        torchvision.datasets.KMNIST(root, train=True, transform=transform), batch_size=64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    model.train()
    start = time.perf_counter()
    for data, target in loader:
        optimizer.zero_grad()
        F.nll_loss(model(data), target).backward()
        optimizer.step()
    return time.perf_counter() - start


def project_epoch(root, net, model):
    """kuzu_main's own pipeline and recipe for this network, one epoch, logging off."""
    args = kuzu_main.parse_args(["--net", net, "--epochs", "1"])
    images, labels = kuzu_data.load_split(root, train=True)
    optimizer = kuzu_main.make_optimizer(args, model)
    scheduler = kuzu_main.make_scheduler(args, optimizer, len(labels))
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its first log line
        kuzu_main.train(args, model, images, labels, optimizer, scheduler, 1, torch.Generator().manual_seed(0))
    return time.perf_counter() - start


def best_of_three(draw):
    """The least (wall, CPU) seconds of three calls of draw()."""
    times = []
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        draw()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(t[0] for t in times), min(t[1] for t in times)


def time_pictures(nets, data_dir):
    """Print the seconds each of kuzu_main.py's pictures takes for each net on the test set."""
    pyplot()  # matplotlib's import is not drawing time
    images, labels = kuzu_data.load_split(data_dir, train=False)
    args = kuzu_main.parse_args(["--net", "lin"])
    history = [(1 / (e + 1), 1.2 / (e + 1), 50 + e) for e in range(10)]
    print(f"pictures of a 10-epoch run on {len(labels):,} test images; wall / CPU seconds, best of 3")
    print(f"{'net':5} {'curves x10':>12} {'confusion':>12} {'confused':>12} {'weights':>12} {'added':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for net in nets:
            model = kuzu_nets.build(net)[0]
            result = kuzu_main.test(args, model, images, labels)
            pairs = [(t, p) for t, p, _, _ in kuzu_main.most_confused(result.confusion)]
            path = os.path.join(folder, f"{net}.png")

            def curves():
                drawing = kuzu_plots.LearningCurves(net, path)
                for epoch in range(1, 11):
                    drawing.save(history[:epoch])
                drawing.close()
            parts = [best_of_three(curves),
                     best_of_three(lambda: kuzu_plots.plot_confusion(result.confusion, net, path)),
                     best_of_three(lambda: kuzu_plots.plot_confused_pairs(
                         images, labels, result.predicted, result.confidence, pairs, net, path)),
                     best_of_three(lambda: kuzu_plots.plot_weights(model, images, net, path))]
            added = [sum(p[i] for j, p in enumerate(parts) if j != 1) for i in (0, 1)]
            print(f"{net:5} " + " ".join(f"{w:5.2f} / {c:4.2f}" for w, c in parts + [added]), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", nargs="+", choices=sorted(kuzu_nets.NETS), default=["lin", "full", "conv"],
                        help="networks to time (default: all three)")
    parser.add_argument("--data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                            "data", "kmnist-7k"),
                        help="real KMNIST images to tile (default: the shared subset; synthetic if absent)")
    parser.add_argument("--pictures", action="store_true",
                        help="time the pictures of a 10-epoch run on the test set instead (default: off)")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.pictures:
        return time_pictures(args.nets, args.data_dir)
    with tempfile.TemporaryDirectory() as root:
        origin = make_60k(args.data_dir, root)
        print(f"one training epoch on {N_IMAGES:,} {origin}; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
        print(f"{'net':5} {'classic (s)':>12} {'project (s)':>12} {'speed-up':>9}")
        for net in args.nets:
            classic = classic_epoch(root, kuzu_nets.build(net)[0])
            project = project_epoch(root, net, kuzu_nets.build(net)[0])
            print(f"{net:5} {classic:12.2f} {project:12.2f} {classic / project:8.1f}x", flush=True)


if __name__ == "__main__":
    main()
