"""Train a classifier on Kuzushiji-MNIST and print the course's log and confusion matrix.

    python3 kuzu_main.py --net lin     # or full, or conv
    python3 kuzu_main.py --net conv --recipe course                    # the course's plain SGD
    python3 kuzu_main.py --net conv --load_model conv.pth --epochs 0   # evaluate a saved model

The networks come from kuzu.py (the file students write: NetLin, NetFull, NetConv), checked
against the course's contract before training (kuzu_nets.py); the data from kuzu_data.py.
Besides the log it saves, in --plot_dir, the learning curves (after every epoch), the
confusion matrix, the most confused pairs as images and what the network looks at, and it
lists every file it wrote at the end.
"""
import argparse
import os
import sys
import time
from collections import namedtuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

import kuzu_data
import kuzu_nets
import kuzu_plots
from common import (SEED, check_finite, describe, number, pick_device, pyplot, run_main, save_atomic,
                    seed_everything, writable_dir, writable_file)

# How each network is trained when its flags are left at their defaults. The course's recipe
# is plain SGD; by default lin and full use it, and conv its own (the course allows it):
# Nesterov momentum at a higher learning rate that rises and falls over the run (one-cycle),
# random shifts of up to a pixel, label smoothing and weight decay, all so that it
# generalises from few images instead of memorising them. A student's network that does
# not suit that recipe (no batch norm, say) trains with --recipe course.
COURSE = dict(lr=0.01, mom=0.5, nesterov=False, schedule="constant", shift=0, weight_decay=0.0, label_smoothing=0.0)
CONV = dict(lr=0.1, mom=0.9, nesterov=True, schedule="onecycle", shift=1, weight_decay=5e-4, label_smoothing=0.1)
RECIPES = {"default": {"lin": COURSE, "full": COURSE, "conv": CONV}, "course": dict.fromkeys(kuzu_nets.NETS, COURSE)}
CHANCE = 0.15  # a test accuracy up to this share after an epoch is no better than guessing (0.1)
MAX_EPOCHS = 10000
MAX_SHIFT = 27  # a shift of 28 pixels or more moves the whole image out of view

# What test() finds on a split: average loss, number correct, the 10x10 confusion matrix,
# and for every image its predicted class and the probability the model gave that class.
Evaluation = namedtuple("Evaluation", "loss correct confusion predicted confidence")


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


def train(args, model, images, labels, optimizer, scheduler, epoch, generator, progress=False):
    """One pass over the shuffled training set, logging every log_interval batches; a progress
    bar over the batches when `progress`. Returns the mean negative log likelihood of the
    training batches (without label smoothing, so that it compares with the test loss)."""
    model.train()
    num_batches = (len(labels) + args.batch_size - 1) // args.batch_size
    total_nll = torch.zeros((), device=labels.device)
    with tqdm(total=num_batches, desc=f"epoch {epoch}", unit="batch", leave=False, file=sys.stdout,
              disable=not progress) as bar:  # closed, and wiped, even when Ctrl-C stops the epoch
        for batch_idx, (data, target) in enumerate(kuzu_data.batches(images, labels, args.batch_size, generator)):
            if args.shift:
                data = kuzu_data.random_shift(data, args.shift, generator)
            optimizer.zero_grad()
            output = model(data)
            loss = nll_loss(output, target, args.label_smoothing)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_nll += F.nll_loss(output.detach(), target, reduction="sum")
            if batch_idx % args.log_interval == 0:
                bar.write(f"Train Epoch: {epoch} [{batch_idx * args.batch_size}/{len(labels)} "
                          f"({100.0 * batch_idx / num_batches:.0f}%)]\tLoss: {loss.item():.6f}", file=sys.stdout)
            if progress:
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
                bar.update()
    return total_nll.item() / len(labels)


@torch.no_grad()
def test(args, model, images, labels):
    """Evaluate the model on a split; see Evaluation."""
    model.eval()
    total_loss, predicted, confidence = 0.0, [], []
    for data, target in kuzu_data.batches(images, labels, args.test_batch_size):
        output = model(data)
        total_loss += F.nll_loss(output, target, reduction="sum").item()
        best, guess = output.max(dim=1)
        predicted.append(guess)
        confidence.append(best.exp())
    predicted = torch.cat(predicted)
    confusion = torch.bincount(labels * 10 + predicted, minlength=100).view(10, 10).cpu()
    return Evaluation(total_loss / len(labels), int(confusion.trace()), confusion, predicted, torch.cat(confidence))


def format_confusion(confusion):
    """The confusion matrix as text: rows are true classes, columns predicted ones."""
    width = max(5, len(str(int(confusion.max()))) + 1)
    lines = [" true\\pred" + "".join(f"{name:>{width}}" for name in kuzu_data.CLASSES)]
    for name, row in zip(kuzu_data.CLASSES, confusion.tolist()):
        lines.append(f"{name:>10}" + "".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)


def most_confused(confusion, top=5):
    """The `top` largest off-diagonal cells as (true, predicted, count, share of true class),
    true and predicted as class indices."""
    off = confusion.clone()
    off.fill_diagonal_(0)
    counts, cells = off.flatten().topk(top)
    return [(c // 10, c % 10, int(n), int(n) / max(1, int(confusion[c // 10].sum())))
            for n, c in zip(counts.tolist(), cells.tolist()) if n > 0]


def per_class_accuracy(confusion):
    """Share of each true class (row) that was classified correctly; 0 for a class with no images."""
    return confusion.diagonal().double() / confusion.sum(dim=1).clamp(min=1)


def format_per_class(confusion, per_line=5):
    """Per-class accuracy as lines of `per_line` classes, under one heading."""
    cells = [f"{name} {100 * acc:.1f}%" for name, acc in zip(kuzu_data.CLASSES, per_class_accuracy(confusion).tolist())]
    heading = "Accuracy per class: "
    return "\n".join((heading if i == 0 else " " * len(heading)) + "  ".join(cells[i:i + per_line])
                     for i in range(0, len(cells), per_line))


def format_parameter_table(model):
    """One line per trainable tensor (name, layer type, shape, count), so the total printed
    above it can be checked by hand."""
    lines = [f"  {'parameter':<13} {'layer':<12} {'shape':<16} {'count':>9}"]
    for name, layer, shape, count in kuzu_nets.parameter_table(model):
        lines.append(f"  {name:<13} {layer:<12} {str(shape):<16} {count:>9,}")
    return "\n".join(lines)


def build_parser():
    """The command line: every numeric flag is checked (finite, in range) as it is read."""
    parser = argparse.ArgumentParser(description="Kuzushiji-MNIST classifiers (lin, full, conv)")
    add = parser.add_argument
    add("--net", choices=sorted(kuzu_nets.NETS), default="full",
        help="model: lin, full or conv, the classes NetLin, NetFull, NetConv of kuzu.py (default: full)")
    add("--recipe", choices=sorted(RECIPES), default="default",
        help="settings of the flags left unset: course is the course's SGD (lr 0.01, momentum 0.5, nothing "
             "else) for every net; default is that for lin and full, and conv's own recipe for conv (default: default)")
    add("--lr", type=number(float, 0, low_open=True), default=None,
        help="learning rate (default: 0.01; conv: 0.1, peak of its one-cycle schedule)")
    add("--mom", type=number(float, 0, 1, high_open=True), default=None, help="SGD momentum (default: 0.5; conv: 0.9)")
    add("--epochs", type=number(int, 0, MAX_EPOCHS), default=10,
        help="number of epochs to train; 0 evaluates the --load_model model only (default: 10)")
    add("--batch_size", type=number(int, 1), default=64, help="training batch size (default: 64)")
    add("--test_batch_size", type=number(int, 1), default=1000, help="test batch size (default: 1000)")
    add("--schedule", choices=["constant", "onecycle"], default=None,
        help="learning-rate schedule (default: constant; conv: onecycle)")
    add("--shift", type=number(int, 0, MAX_SHIFT), default=None,
        help="augment by random shifts of up to this many pixels (default: 0; conv: 1)")
    add("--weight_decay", type=number(float, 0), default=None, help="L2 weight decay (default: 0; conv: 5e-4)")
    add("--label_smoothing", type=number(float, 0, 1, high_open=True), default=None,
        help="share of the target spread over all classes (default: 0; conv: 0.1)")
    add("--seed", type=SEED, default=1, help="random seed (default: 1)")
    add("--log_interval", type=number(int, 1), default=100, help="batches between training log lines (default: 100)")
    add("--data_dir", default="./data", help="folder holding KMNIST/raw/ (default: ./data)")
    add("--save_model", metavar="PATH", default=None, help="save the trained weights to PATH (default: not saved)")
    add("--load_model", metavar="PATH", default=None,
        help="start from the weights saved in PATH by --save_model with the same --net (default: fresh weights)")
    add("--plot_dir", default="plot", help="folder for the pictures; '' is the current folder (default: plot)")
    add("--verbose", action="store_true", help="print the confusion matrix and time after every epoch "
        "(default: off: the matrix after the last epoch only)")
    add("--no_cuda", action="store_true", help="do not use CUDA (or MPS) even if available (default: off)")
    add("--show", action="store_true", help="also open the pictures in windows at the end (default: off)")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, value in RECIPES[args.recipe][args.net].items():
        if getattr(args, name, None) is None:  # nesterov has no flag: always the recipe's
            setattr(args, name, value)
    if args.epochs == 0 and args.load_model is None:
        parser.error("--epochs 0 evaluates a saved model: give it with --load_model PATH")
    return args


def check_outputs(args):
    """Check, before any work, that every file the run will write can be written."""
    writable_dir(args.plot_dir, "--plot_dir")
    if args.save_model is not None:
        writable_file(args.save_model, "--save_model")


def print_evaluation(result, num_images, show_matrix):
    """The course's test report: (the confusion matrix and) the Test set line."""
    if show_matrix:
        print(format_confusion(result.confusion))
    print(f"\nTest set: Average loss: {result.loss:.4f}, Accuracy: {result.correct}/{num_images} "
          f"({100.0 * result.correct / num_images:.0f}%)\n")


class Outputs:
    """The files a run writes: where its pictures go, what their titles say about the run (the
    net, where its weights came from, its training images and seed, and after training its
    epochs), the list of files written (printed at the end), and the time spent drawing (so
    the cost of the pictures shows in every run)."""

    def __init__(self, args, model, num_train):
        self.args, self.seconds, self.written = args, 0.0, {}
        name = type(model).__name__ + (f" from {os.path.basename(args.load_model)}" if args.load_model else "")
        start = f"{name}, then" if args.load_model else f"{name}:"
        self.run = f"{start} training on {num_train:,} images, seed {args.seed}"
        self.final = (f"{start} {args.epochs} epochs on {num_train:,} training images, seed {args.seed}"
                      if args.epochs else f"{name}, evaluated only (no training)")

    def path(self, name):
        return os.path.join(self.args.plot_dir, f"{name}_{self.args.net}.png")

    def draw(self, what, function, *args, **kwargs):
        """Call function(*args, **kwargs), which saves a picture of `what` and returns its path."""
        start = time.perf_counter()
        path = function(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.written[path] = what


def fit(args, model, train_data, test_data, generator, outputs):
    """Train for --epochs epochs, each followed by the course's test report and the learning
    curves drawn again; with --epochs 0 only test. Returns the last Evaluation."""
    num_test, progress, history = len(test_data[1]), sys.stdout.isatty(), []
    if not args.epochs:
        result = test(args, model, *test_data)
        print_evaluation(result, num_test, show_matrix=True)
        return result
    curves = kuzu_plots.LearningCurves(outputs.run, outputs.path("curves"), args.show)
    optimizer = make_optimizer(args, model)
    scheduler = make_scheduler(args, optimizer, len(train_data[1]))
    at_chance = False
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train_loss = train(args, model, *train_data, optimizer, scheduler, epoch, generator, progress)
        check_finite(model.state_dict().values(), f"the weights after epoch {epoch}")
        result = test(args, model, *test_data)
        if args.verbose:
            print(f"Epoch {epoch} trained in {time.perf_counter() - start:.1f} s")
        print_evaluation(result, num_test, show_matrix=args.verbose or epoch == args.epochs)
        if result.correct <= CHANCE * num_test and not at_chance:
            at_chance = True
            print(f"note: after epoch {epoch} the test accuracy is still at chance: the network is not learning. "
                  f"Try {'a smaller --lr' if args.recipe == 'course' else '--recipe course (plain SGD)'}, "
                  "and check that forward ends with log_softmax\n")
        history.append((train_loss, result.loss, 100.0 * result.correct / num_test))
        outputs.draw("learning curves", curves.save, history)
    curves.close()
    return result


def print_confusions(result):
    """The most confused pairs and the accuracy of every class."""
    print("Most confused (true -> predicted):")
    for true, predicted, count, share in most_confused(result.confusion):
        print(f"  {kuzu_data.CLASSES[true]:>3} -> {kuzu_data.CLASSES[predicted]:<3} {count:5d}  "
              f"({100 * share:.1f}% of {kuzu_data.CLASSES[true]})")
    print(format_per_class(result.confusion))


def draw_pictures(args, model, test_images, test_labels, result, outputs):
    """The confusion matrix, the most confused pairs as images and what the model looks at."""
    outputs.draw("confusion matrix", kuzu_plots.plot_confusion, result.confusion, outputs.final,
                 outputs.path("confusion"), args.show)
    pairs = [(true, predicted) for true, predicted, _, _ in most_confused(result.confusion)]
    if pairs:
        outputs.draw("most confused pairs as images", kuzu_plots.plot_confused_pairs, test_images, test_labels,
                     result.predicted, result.confidence, pairs, outputs.final, outputs.path("confused"),
                     show=args.show)
    try:  # the student's layers: what cannot be drawn is skipped, never a traceback after training
        outputs.draw("what the model looks at", kuzu_plots.plot_weights, model, test_images, outputs.final,
                     outputs.path("weights"), args.show)
    except kuzu_plots.NothingToDraw as reason:
        print(f"skipped the picture of what the model looks at: {reason}")
    except Exception as err:
        print(f"skipped the picture of what the model looks at: drawing failed ({describe(err, 'kuzu.py')})")


def main(argv=None):
    args = parse_args(argv)
    seed_everything(args.seed)
    device = pick_device(args.no_cuda)
    generator = torch.Generator().manual_seed(args.seed)  # shuffling and shifts, reproducible
    model, warnings = kuzu_nets.build(args.net, device)  # a network that breaks the contract stops here
    check_outputs(args)
    if args.load_model:
        kuzu_nets.load_weights(model, args.load_model, args.net, device)

    train_data = kuzu_data.load_split(args.data_dir, train=True, device=device)
    test_data = kuzu_data.load_split(args.data_dir, train=False, device=device)
    for warning in warnings:
        print(warning)
    print(f"{type(model).__name__}: {kuzu_nets.num_parameters(model):,} trainable parameters; device {device}; "
          f"{len(train_data[1])} training and {len(test_data[1])} test images")
    print(format_parameter_table(model))
    print(f"SGD{' (Nesterov)' if args.nesterov else ''} lr {args.lr} momentum {args.mom}, {args.schedule} schedule, "
          f"shifts up to {args.shift} px, weight decay {args.weight_decay}, label smoothing {args.label_smoothing}, "
          f"batch {args.batch_size}, seed {args.seed}")

    pyplot(args.show)  # import matplotlib now, so that the time of the pictures is drawing time only
    outputs = Outputs(args, model, len(train_data[1]))
    start = time.perf_counter()
    result = fit(args, model, train_data, test_data, generator, outputs)
    seconds = time.perf_counter() - start - outputs.seconds
    print_confusions(result)
    if args.save_model is not None:  # before the pictures: the weights are what the run was for
        save_atomic(model.state_dict(), args.save_model)
        outputs.written[args.save_model] = "model weights"
    draw_pictures(args, model, *test_data, result, outputs)
    done = f"{args.epochs} epochs trained in {seconds:.1f} s" if args.epochs else "Evaluated only"
    print(f"{done}, pictures drawn in {outputs.seconds:.1f} s; files written:")
    for path, what in outputs.written.items():
        print(f"  {path}  ({what})")
    if args.show:
        pyplot(True).show()


if __name__ == "__main__":
    run_main(main)
