"""Train a classifier on Kuzushiji-MNIST and print the course's log and confusion matrix.

    python3 kuzu_main.py --net lin     # or full, or conv
"""
import argparse
import os
import time

import torch
import torch.nn.functional as F

import kuzu
from common import UserError, pick_device, pyplot, run_main, save_atomic, save_figure, seed_everything

# How each network is trained when its flags are left at their defaults. lin and full
# use the course's plain SGD; conv uses its own recipe (the course allows it): Nesterov
# momentum at a higher learning rate that rises and falls over the run (one-cycle),
# random shifts of up to a pixel, label smoothing and weight decay, all so that it
# generalises from few images instead of memorising them.
RECIPES = {
    "lin": dict(lr=0.01, mom=0.5, nesterov=False, schedule="constant", shift=0, weight_decay=0.0, label_smoothing=0.0),
    "full": dict(lr=0.01, mom=0.5, nesterov=False, schedule="constant", shift=0, weight_decay=0.0, label_smoothing=0.0),
    "conv": dict(lr=0.1, mom=0.9, nesterov=True, schedule="onecycle", shift=1, weight_decay=5e-4, label_smoothing=0.1),
}


def nll_loss(output, target, smoothing=0.0):
    """Negative log likelihood of log-probabilities; with smoothing the target
    keeps 1 - smoothing on the true class and spreads the rest over all classes."""
    loss = F.nll_loss(output, target)
    if smoothing:
        loss = (1 - smoothing) * loss - smoothing * output.mean(dim=1).mean()
    return loss


def make_optimizer(args, model):
    """SGD with the flags' learning rate, momentum and weight decay."""
    return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.mom,
                           nesterov=args.nesterov and args.mom > 0, weight_decay=args.weight_decay)


def make_scheduler(args, optimizer, num_train):
    """The learning-rate schedule, stepped once per batch over the whole run."""
    if args.schedule == "onecycle":
        steps = args.epochs * ((num_train + args.batch_size - 1) // args.batch_size)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def train(args, model, images, labels, optimizer, scheduler, epoch, generator):
    """One pass over the shuffled training set, logging every log_interval batches."""
    model.train()
    num_batches = (len(labels) + args.batch_size - 1) // args.batch_size
    for batch_idx, (data, target) in enumerate(kuzu.batches(images, labels, args.batch_size, generator)):
        if args.shift:
            data = kuzu.random_shift(data, args.shift, generator)
        optimizer.zero_grad()
        loss = nll_loss(model(data), target, args.label_smoothing)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * args.batch_size}/{len(labels)} "
                  f"({100.0 * batch_idx / num_batches:.0f}%)]\tLoss: {loss.item():.6f}")


@torch.no_grad()
def test(args, model, images, labels):
    """Return (average loss, number correct, 10x10 confusion matrix) on a split."""
    model.eval()
    total_loss, confusion = 0.0, torch.zeros(100, dtype=torch.long, device=labels.device)
    for data, target in kuzu.batches(images, labels, args.test_batch_size):
        output = model(data)
        total_loss += F.nll_loss(output, target, reduction="sum").item()
        confusion += torch.bincount(target * 10 + output.argmax(dim=1), minlength=100)
    confusion = confusion.view(10, 10).cpu()
    return total_loss / len(labels), int(confusion.trace()), confusion


def format_confusion(confusion):
    """The confusion matrix as text: rows are true classes, columns predicted ones."""
    width = max(5, len(str(int(confusion.max()))) + 1)
    lines = [" true\\pred" + "".join(f"{name:>{width}}" for name in kuzu.CLASSES)]
    for name, row in zip(kuzu.CLASSES, confusion.tolist()):
        lines.append(f"{name:>10}" + "".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)


def most_confused(confusion, top=5):
    """The `top` largest off-diagonal cells as (true, predicted, count, share of true class)."""
    off = confusion.clone()
    off.fill_diagonal_(0)
    counts, cells = off.flatten().topk(top)
    return [(kuzu.CLASSES[c // 10], kuzu.CLASSES[c % 10], int(n), int(n) / max(1, int(confusion[c // 10].sum())))
            for n, c in zip(counts.tolist(), cells.tolist()) if n > 0]


def plot_confusion(confusion, title, path, show=False):
    """Save the confusion matrix as a labelled heat map with the counts written in."""
    plt = pyplot(show)
    confusion = confusion.numpy()
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(len(kuzu.CLASSES))
    ax.set_xticks(ticks, kuzu.CLASSES)
    ax.set_yticks(ticks, kuzu.CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = confusion.max() / 2
    for i in ticks:
        for j in ticks:
            ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if confusion[i, j] > threshold else "black")
    save_figure(fig, path)
    if show:
        plt.show()
    plt.close(fig)
    return path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Kuzushiji-MNIST classifiers (lin, full, conv)")
    parser.add_argument("--net", choices=sorted(kuzu.MODELS), default="full", help="model: lin, full or conv (default: full)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.01; conv: 0.1, peak of its one-cycle schedule)")
    parser.add_argument("--mom", type=float, default=None, help="SGD momentum (default: 0.5; conv: 0.9)")
    parser.add_argument("--epochs", type=int, default=10, help="number of epochs to train (default: 10)")
    parser.add_argument("--batch_size", type=int, default=64, help="training batch size (default: 64)")
    parser.add_argument("--test_batch_size", type=int, default=1000, help="test batch size (default: 1000)")
    parser.add_argument("--schedule", choices=["constant", "onecycle"], default=None,
                        help="learning-rate schedule (default: constant; conv: onecycle)")
    parser.add_argument("--shift", type=int, default=None,
                        help="augment by random shifts of up to this many pixels (default: 0; conv: 1)")
    parser.add_argument("--weight_decay", type=float, default=None, help="L2 weight decay (default: 0; conv: 5e-4)")
    parser.add_argument("--label_smoothing", type=float, default=None,
                        help="share of the target spread over all classes (default: 0; conv: 0.1)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--log_interval", type=int, default=100, help="batches between training log lines (default: 100)")
    parser.add_argument("--data_dir", default="./data", help="folder holding KMNIST/raw/ (default: ./data)")
    parser.add_argument("--save_model", metavar="PATH", default=None, help="save the trained weights to PATH")
    parser.add_argument("--plot_dir", default="plot", help="folder for the confusion matrix image (default: plot)")
    parser.add_argument("--no_cuda", action="store_true", help="do not use CUDA (or MPS) even if available")
    parser.add_argument("--show", action="store_true", help="also open the confusion matrix plot in a window")
    args = parser.parse_args(argv)
    for name, value in RECIPES[args.net].items():
        if getattr(args, name, None) is None:  # nesterov has no flag: always the recipe's
            setattr(args, name, value)
    for name in ("epochs", "batch_size", "test_batch_size", "log_interval"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.lr <= 0 or min(args.mom, args.shift, args.weight_decay) < 0:
        parser.error("--lr must be positive; --mom, --shift and --weight_decay not negative")
    if not 0 <= args.label_smoothing < 1:
        parser.error("--label_smoothing must be in [0, 1)")
    return args


def main(argv=None):
    args = parse_args(argv)
    seed_everything(args.seed)
    device = pick_device(args.no_cuda)
    generator = torch.Generator().manual_seed(args.seed)  # shuffling and shifts, reproducible

    train_images, train_labels = kuzu.load_split(args.data_dir, train=True, device=device)
    test_images, test_labels = kuzu.load_split(args.data_dir, train=False, device=device)
    model = kuzu.MODELS[args.net]().to(device)
    print(f"{type(model).__name__}: {model.num_parameters():,} trainable parameters; device {device}; "
          f"{len(train_labels)} training and {len(test_labels)} test images")
    print(f"SGD{' (Nesterov)' if args.nesterov else ''} lr {args.lr} momentum {args.mom}, {args.schedule} schedule, "
          f"shifts up to {args.shift} px, weight decay {args.weight_decay}, label smoothing {args.label_smoothing}, "
          f"batch {args.batch_size}, seed {args.seed}")

    optimizer = make_optimizer(args, model)
    scheduler = make_scheduler(args, optimizer, len(train_labels))

    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train(args, model, train_images, train_labels, optimizer, scheduler, epoch, generator)
        seconds = time.perf_counter() - start
        loss, correct, confusion = test(args, model, test_images, test_labels)
        print(f"Epoch {epoch} trained in {seconds:.1f} s")
        print(format_confusion(confusion))
        print(f"\nTest set: Average loss: {loss:.4f}, Accuracy: {correct}/{len(test_labels)} "
              f"({100.0 * correct / len(test_labels):.0f}%)\n")

    print("Most confused (true -> predicted):")
    for true, predicted, count, share in most_confused(confusion):
        print(f"  {true:>3} -> {predicted:<3} {count:5d}  ({100 * share:.1f}% of {true})")
    path = plot_confusion(confusion, f"{type(model).__name__}: {correct}/{len(test_labels)} correct",
                          os.path.join(args.plot_dir, f"confusion_{args.net}.png"), args.show)
    print(f"Confusion matrix image saved to {path}")
    if args.save_model:
        save_atomic(model.state_dict(), args.save_model)
        print(f"Model saved to {args.save_model}")


if __name__ == "__main__":
    run_main(main)
