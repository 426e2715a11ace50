"""Part 2: train, or check hand-set weights of, the two-layer network of check.py on the 3x3 checkerboard.

    python3 check_main.py --act sig --hid 5                 # train from random weights
    python3 check_main.py --act step --hid 4 --set_weights  # check the weights entered in MLP.set_weights
    python3 check_main.py --act sig --hid 4 --set_weights   # the same, with sigmoid (set_weights scales them)

It runs any check.py that keeps the course's contract (check_data.py checks it and says in one
line what is wrong): the MLP of the check.py beside this script, with the hidden nodes that
set_weights enters, whatever --hid says. A sigmoid network that set_weights leaves below 100% is
trained on from those weights, as in the course. Every run prints the weights, a table of the
activations on the data's points, each hidden node's dividing line and the accuracy. In
--plot_dir it saves that table as CSV, the network drawn with its weights, all dividing lines on
one picture and what each node computes over the plane (check_plots.py draws them), under names
that tell runs apart (run_name), and lists every file written. Nine points are far too few for a
GPU to help, so everything runs on the CPU.
"""
import argparse
import csv
import io
import os
import re

import torch
import torch.nn.functional as F

from check_data import (ACTIVATIONS, DATA_FILE, build_mlp, check_forward, check_probabilities, enter_hand_weights,
                        get_weights, hidden_nodes, init_weights, load_data, load_weights, put_weights,
                        save_weights, weights_json)
from check_plots import all_pictures
from common import (SEED, UserError, check_finite, number, pyplot, run_main, save_png, save_text,
                    seed_everything, writable_dir, writable_file)

HOLD_EPOCHS = 2000  # training stops once 100% accuracy has held this many epochs
LOG_EVERY = 100
# Nine points need at most 4 hidden nodes; each node gets its own picture and a row of the
# network diagram, which gets hard to read past about 10 nodes.
MAX_HID = 16
MAX_LR = 10


def accuracy(output, targets):
    """Percentage of points on the right side of 0.5; a NaN output is never right."""
    right = ((output >= 0.5) == (targets == 1)) & ~output.isnan()
    return 100.0 * right.float().mean().item()


def train(net, inputs, targets, lr, max_epochs, log=True):
    """Full-batch Adam on binary cross-entropy, until 100% accuracy has held
    for HOLD_EPOCHS epochs or max_epochs have run; return the epochs run.
    UserError as soon as the output stops being finite (the training diverged)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    held = 0
    for epoch in range(1, max_epochs + 1):
        optimizer.zero_grad()
        output = net(inputs)
        if not torch.isfinite(output).all():
            raise UserError(f"the training diverged at epoch {epoch}: the output is NaN; "
                            "try a smaller --lr or --init")
        check_probabilities(output.detach(), epoch)
        loss = F.binary_cross_entropy(output, targets)
        loss.backward()
        optimizer.step()
        acc = accuracy(output, targets)
        held = held + 1 if acc == 100 else 0
        if log and epoch % LOG_EVERY == 0:
            print(f"ep: {epoch:6d} loss: {loss.item():.4f} acc: {acc:5.1f}")
        if held >= HOLD_EPOCHS:
            break
    check_finite(net.parameters(), "the trained weights")
    return epoch


def signed_sum(terms):
    """Write a sum of (coefficient, variable) terms with proper signs, leaving
    out zero terms: [(2, 'x'), (0, 'y'), (-0.5, '')] -> '2*x - 0.5'."""
    parts = []
    for coef, var in terms:
        if coef == 0:
            continue
        text = f"{abs(coef):.4g}" + (f"*{var}" if var else "")
        if parts:
            parts.append(("- " if coef < 0 else "+ ") + text)
        else:
            parts.append(("-" if coef < 0 else "") + text)
    return " ".join(parts) or "0"


def line_equation(w1, w2, b):
    """The dividing line w1*x + w2*y + b = 0, also solved for y, or for x when the
    line is close to vertical (|w2| < |w1| / 10, which includes w2 = 0), where
    solving for y would give a huge slope."""
    equation = signed_sum([(w1, "x"), (w2, "y"), (b, "")]) + " = 0"
    if w1 == w2 == 0:
        return f"{equation}  (no line: this node's net input is the same everywhere)"
    if abs(w2) >= abs(w1) / 10:
        return f"{equation}  ->  y = {signed_sum([(-w1 / w2, 'x'), (-b / w2, '')])}"
    return f"{equation}  ->  x = {signed_sum([(-w2 / w1, 'y'), (-b / w1, '')])}"


def activation_rows(net, act, inputs, targets):
    """The activation table of the net with activation `act` as rows of text: a header, then per
    point its inputs, every hidden activation, the output, the target and whether it is right (a
    NaN output never is)."""
    with torch.no_grad():
        output = net(inputs)
    number = "{:.0f}" if act == "step" else "{:.3f}"
    header = ["x", "y"] + [f"h{i}" for i in range(1, net.hid.shape[1] + 1)] + ["out", "target", "correct"]
    rows = [header]
    for point, hidden, out, target in zip(inputs.tolist(), net.hid.tolist(), output[:, 0].tolist(),
                                          targets[:, 0].tolist()):
        correct = "yes" if out == out and (out >= 0.5) == (target == 1) else "NO"  # out != out: NaN
        rows.append([f"{point[0]:g}", f"{point[1]:g}"] + [number.format(h) for h in hidden]
                    + [number.format(out), f"{target:g}", correct])
    return rows


def activation_table(net, act, inputs, targets):
    """The activation table as printed: right-aligned columns."""
    rows = activation_rows(net, act, inputs, targets)
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows)


def csv_text(rows):
    """Rows of cells as CSV text."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def run_name(args, hid, trained):
    """What tells this run's files apart from other runs': the activation, the `hid` hidden nodes the
    net has and where the weights came from (`trained`: by training, also on from set weights), e.g.
    step4_set, sig4_set, sig4_set-trained, sig5_trained-seed0, step4_file-mine, sig4_set_x5."""
    if args.weights is not None:
        stem = os.path.splitext(os.path.basename(args.weights))[0]
        source = "file-" + re.sub(r"[^\w.-]", "_", stem)
    elif args.set_weights:
        source = "set-trained" if trained else "set"
    else:
        source = f"trained-seed{args.seed}"
    scale = f"_x{args.scale:g}" if args.scale is not None else ""
    return f"{args.act}{hid}_{source}{scale}"


def run_title(args, hid, epochs):
    """What the pictures' titles say about the run: the network, where its weights came from and
    the `epochs` it was trained, e.g. 'sig 2-5-1 network, random weights (seed 0), trained for 8110 epochs'."""
    if args.weights is not None:
        source = f"weights from {os.path.basename(args.weights)}"
    elif args.set_weights:
        source = ("step " if args.scale is not None else "") + "weights set by hand (set_weights)"
    else:
        source = f"random weights (seed {args.seed})"
    if args.scale is not None:
        source += f" times {args.scale:g}"
    return f"{args.act} 2-{hid}-1 network, {source}" + (f", trained for {epochs} epochs" if epochs else "")


def save_outputs(net, inputs, targets, args, epochs):
    """Save the activation table as CSV and the pictures (PNG) in args.plot_dir; return the paths.
    The picture of the data is named after the data file, the others after the run (run_name);
    `epochs`: how many the net was trained, 0 for none."""
    name = run_name(args, hidden_nodes(net), epochs > 0)
    paths = [save_text(csv_text(activation_rows(net, args.act, inputs, targets)),
                       os.path.join(args.plot_dir, f"table_{name}.csv"))]
    plt = pyplot(args.show)
    data = os.path.splitext(os.path.basename(args.data))[0]
    try:
        for kind, fig in all_pictures(plt, net, args.act, inputs, targets,
                                      run_title(args, hidden_nodes(net), epochs), os.path.basename(args.data)):
            file = f"{data}.png" if kind == "data" else f"{kind}_{name}.png"
            paths.append(save_png(fig, os.path.join(args.plot_dir, file)))
            if not args.show:
                plt.close(fig)  # a run with many hidden nodes would otherwise hold dozens of figures
    except OSError as err:
        raise UserError(f"cannot save pictures in {args.plot_dir or 'the current folder'}: "
                        f"{err.strerror or err}") from None
    if args.show:
        plt.show()
    plt.close("all")
    return paths


def build_parser():
    parser = argparse.ArgumentParser(description="The two-layer network of check.py on the 3x3 checkerboard "
                                     "(check.csv). Prints weights, activations, dividing lines and accuracy; "
                                     "saves the table and pictures in --plot_dir and lists every file written.")
    parser.add_argument("--act", choices=ACTIVATIONS, default="sig",
                        help="activation at hidden and output: sig (sigmoid) or step (Heaviside) (default: sig)")
    parser.add_argument("--hid", type=number(int, 1, MAX_HID), default=5,
                        help=f"number of hidden nodes, 1 to {MAX_HID} (each gets a picture); with "
                             "--set_weights, those that set_weights enters (default: 5)")
    # Defaults tuned for reliability (the course used --init 0.1 --lr 0.01): see README, Part 2
    parser.add_argument("--init", type=number(float, 0), default=0.03,
                        help="std of the random initial weights (default: 0.03)")
    # Adam moves every weight by about lr each epoch: past MAX_LR the sigmoids saturate at once
    parser.add_argument("--lr", type=number(float, 0, MAX_LR, low_open=True), default=0.1,
                        help=f"Adam learning rate, at most {MAX_LR:g} (default: 0.1)")
    parser.add_argument("--epoch", type=number(int, 1), default=200000,
                        help="maximum number of epochs (default: 200000)")
    parser.add_argument("--set_weights", action="store_true",
                        help="use the weights MLP.set_weights in check.py enters instead of training; a sigmoid "
                             "network below 100%% is then trained on from them (default: train)")
    parser.add_argument("--weights", metavar="FILE",
                        help="check the weights in this JSON file instead of training (keys in_hid_weight, "
                             "hid_bias, hid_out_weight, out_bias) (default: none)")
    parser.add_argument("--scale", type=number(float, 0, low_open=True), metavar="K",
                        help="multiply the set weights and biases by K: with --set_weights, those that "
                             "set_weights enters for a step network (default: set_weights's own factor, "
                             "a file's weights as written)")
    parser.add_argument("--save_weights", metavar="FILE",
                        help="write the final weights to this JSON file (default: not saved)")
    parser.add_argument("--seed", type=SEED, default=0, help="random seed, 0 to 2**32-1 (default: 0)")
    parser.add_argument("--data", default=DATA_FILE,
                        help="CSV file with columns x,y,target (0 or 1), after a header of three names or none "
                             "(default: check.csv beside this script)")
    parser.add_argument("--plot_dir", default="plot",
                        help="folder for the pictures and the table; '' is the current folder (default: plot)")
    parser.add_argument("--show", action="store_true", help="also open the pictures in windows (default: off)")
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def set_by_hand(net, args):
    """Enter the hand-designed weights of check.py into the net: what its set_weights enters, or
    with --scale K those it enters for a step network, times K."""
    enter_hand_weights(net)
    if args.scale is not None:
        design = build_mlp(args.hid, "step")
        enter_hand_weights(design)
        put_weights(net, get_weights(design), args.scale)


def main(argv=None):
    args = parse_args(argv)
    hand_set = args.set_weights or args.weights is not None
    if args.scale is not None and not hand_set:
        raise UserError("--scale multiplies set weights: use it with --set_weights or --weights FILE")
    if args.act == "step" and not hand_set:
        raise UserError("a step network cannot be trained by gradient descent (the step function has zero "
                        "gradient everywhere): give it weights with --set_weights or --weights FILE")
    torch.set_num_threads(1)  # nine points: tiny tensor ops run fastest on one thread
    seed_everything(args.seed)
    inputs, targets = load_data(args.data)
    net = build_mlp(args.hid, args.act)
    if args.weights is not None:
        put_weights(net, load_weights(args.weights), 1 if args.scale is None else args.scale)
    elif args.set_weights:
        set_by_hand(net, args)
    else:
        init_weights(net, args.init)
    check_forward(net, inputs)
    with torch.no_grad():
        output = net(inputs)
    before = accuracy(output, targets)
    # as in the course: set weights that sigmoid leaves short of 100% are a start for training
    trained = not hand_set or (args.set_weights and args.act == "sig" and before < 100)
    if trained:
        check_probabilities(output)
    # every input is read and checked: now the outputs, before any training
    writable_dir(args.plot_dir, "--plot_dir")
    if args.save_weights is not None:
        writable_file(args.save_weights, "--save_weights")

    if not trained:
        epochs = 0
        print("set weights (no training):")
    elif hand_set:
        print(f"the set weights get {before:.1f}% right with sigmoid: training on from them")
        epochs = train(net, inputs, targets, args.lr, args.epoch)
        with torch.no_grad():
            after = accuracy(net(inputs), targets)
        print(f"stopped after {epochs} epochs: accuracy {before:.1f}% before training, {after:.1f}% after\n"
              "final weights:")
    else:
        epochs = train(net, inputs, targets, args.lr, args.epoch)
        print(f"stopped after {epochs} epochs\nfinal weights:")
    print(weights_json(get_weights(net, decimals=4)))
    print(activation_table(net, args.act, inputs, targets))
    print("\ndividing lines of the hidden nodes:")
    for i, ((w1, w2), b) in enumerate(zip(net.in_hid.weight.tolist(), net.in_hid.bias.tolist()), start=1):
        print(f"  h{i}: {line_equation(w1, w2, b)}")
    with torch.no_grad():
        final = accuracy(net(inputs), targets)
    print(f"\nfinal accuracy: {final:.1f}%")
    written = []
    if args.save_weights is not None:
        save_weights(net, args.save_weights)
        written.append(args.save_weights)
    written += save_outputs(net, inputs, targets, args, epochs)
    print("files written:\n" + "\n".join(f"  {path}" for path in written))


if __name__ == "__main__":
    run_main(main)
