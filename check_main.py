"""Part 2: train, or check hand-set weights of, a two-layer network on the 3x3 checkerboard.

    python3 check_main.py --act sig --hid 5                 # train from random weights
    python3 check_main.py --act step --hid 4 --set_weights  # check the hand-designed step network
    python3 check_main.py --act sig --hid 4 --set_weights   # the same weights times SIG_SCALE, with sigmoid

Every run prints the weights, a table of the activations on the nine points,
each hidden node's dividing line and the accuracy, and saves pictures of what
each node computes over the plane. Nine points are far too few for a GPU to
help, so everything runs on the CPU.
"""
import argparse
import os

import torch
import torch.nn.functional as F

from check import ACTIVATIONS, HAND_WEIGHTS, MLP, SIG_SCALE, load_data, load_weights, save_weights, weights_json
from common import UserError, pyplot, run_main, save_figure, seed_everything

HOLD_EPOCHS = 2000  # training stops once 100% accuracy has held this many epochs
LOG_EVERY = 100
PLOT_RANGE = (-1.0, 3.0)  # the grid 0..2 with a margin of 1 on every side
PLOT_STEPS = 201


def accuracy(output, targets):
    """Percentage of points on the right side of 0.5."""
    return 100.0 * ((output >= 0.5).float() == targets).float().mean().item()


def train(net, inputs, targets, lr, max_epochs, log=True):
    """Full-batch Adam on binary cross-entropy, until 100% accuracy has held
    for HOLD_EPOCHS epochs or max_epochs have run; return the epochs run."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    held = 0
    for epoch in range(1, max_epochs + 1):
        optimizer.zero_grad()
        output = net(inputs)
        loss = F.binary_cross_entropy(output, targets)
        loss.backward()
        optimizer.step()
        acc = accuracy(output, targets)
        held = held + 1 if acc == 100 else 0
        if log and epoch % LOG_EVERY == 0:
            print(f"ep: {epoch:6d} loss: {loss.item():.4f} acc: {acc:5.1f}")
        if held >= HOLD_EPOCHS:
            break
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


def activation_table(net, inputs, targets):
    """Inputs, every hidden activation, output, target and whether it is right, one row per point."""
    with torch.no_grad():
        output = net(inputs)
    number = "{:.0f}" if net.act == "step" else "{:.3f}"
    header = ["x", "y"] + [f"h{i}" for i in range(1, net.hidden.shape[1] + 1)] + ["out", "target", "correct"]
    rows = [header]
    for point, hidden, out, target in zip(inputs.tolist(), net.hidden.tolist(), output[:, 0].tolist(),
                                          targets[:, 0].tolist()):
        correct = "yes" if (out >= 0.5) == (target == 1) else "NO"
        rows.append([f"{point[0]:g}", f"{point[1]:g}"] + [number.format(h) for h in hidden]
                    + [number.format(out), f"{target:g}", correct])
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows)


def draw(plt, inputs, targets, title, values=None):
    """One picture: a node's activation over the plane (if given) with the nine points on top."""
    fig, ax = plt.subplots(figsize=(5, 4))
    if values is not None:
        image = ax.imshow(values.numpy(), origin="lower", extent=PLOT_RANGE + PLOT_RANGE, vmin=0, vmax=1, cmap="gray")
        fig.colorbar(image, ax=ax, label="activation")
    for target, colour in ((0, "tab:blue"), (1, "tab:orange")):
        points = inputs[targets[:, 0] == target].numpy()
        ax.scatter(points[:, 0], points[:, 1], s=90, c=colour, edgecolors="black", label=f"target {target}")
    ax.set(xlim=PLOT_RANGE, ylim=PLOT_RANGE, xlabel="x", ylabel="y", title=title, aspect="equal")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncol=2, fontsize="small")
    return fig


def plot_all(net, inputs, targets, plot_dir, show=False):
    """Save check.jpg (the data), hid_{H}_{i}.jpg (hidden node i) and out_{H}.jpg (the output)."""
    plt = pyplot(show)
    steps = torch.linspace(*PLOT_RANGE, PLOT_STEPS)
    grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")  # rows follow y, as imshow expects
    with torch.no_grad():
        output = net(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
    hid = net.hidden.shape[1]
    pictures = {"check.jpg": draw(plt, inputs, targets, "the 3x3 check task")}
    for i in range(hid):
        values = net.hidden[:, i].reshape(PLOT_STEPS, PLOT_STEPS)
        pictures[f"hid_{hid}_{i + 1}.jpg"] = draw(plt, inputs, targets, f"hidden node {i + 1} ({net.act})", values)
    pictures[f"out_{hid}.jpg"] = draw(plt, inputs, targets, f"output ({net.act}, {hid} hidden)",
                                      output.reshape(PLOT_STEPS, PLOT_STEPS))
    try:
        paths = [save_figure(fig, f"{plot_dir}/{name}") for name, fig in pictures.items()]
    except OSError as err:
        raise UserError(f"cannot save pictures in {plot_dir}: {err.strerror or err}") from None
    if show:
        plt.show()
    plt.close("all")
    return paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Two-layer network on the 3x3 checkerboard (check.csv).")
    parser.add_argument("--act", choices=ACTIVATIONS, default="sig",
                        help="activation at hidden and output: sig (sigmoid) or step (Heaviside) (default: sig)")
    parser.add_argument("--hid", type=int, default=5, help="number of hidden nodes (default: 5)")
    # Defaults tuned for reliability (the course used --init 0.1 --lr 0.01): see README, Part 2
    parser.add_argument("--init", type=float, default=0.03, help="std of the random initial weights (default: 0.03)")
    parser.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (default: 0.1)")
    parser.add_argument("--epoch", type=int, default=200000, help="maximum number of epochs (default: 200000)")
    parser.add_argument("--set_weights", action="store_true",
                        help="check the hand-designed weights in check.py instead of training")
    parser.add_argument("--weights", metavar="FILE",
                        help="check the weights in this JSON file instead of training (keys in_hid_weight, "
                             "hid_bias, hid_out_weight, out_bias)")
    parser.add_argument("--scale", type=float, metavar="K",
                        help=f"multiply the set weights and biases by K (default: {SIG_SCALE} for the shipped "
                             "weights with --act sig, else 1)")
    parser.add_argument("--save_weights", metavar="FILE", help="write the final weights to this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--data", default="check.csv", help="CSV file with columns x,y,target (default: check.csv)")
    parser.add_argument("--plot_dir", default="plot", help="folder for the pictures (default: plot)")
    parser.add_argument("--show", action="store_true", help="also open the pictures in windows")
    return parser.parse_args(argv)


def main():
    args = parse_args()
    if args.hid < 1:
        raise UserError(f"--hid must be at least 1, got {args.hid}")
    if args.init < 0 or args.lr <= 0 or args.epoch < 1:
        raise UserError("--init must be >= 0, --lr > 0 and --epoch >= 1")
    if args.scale is not None and args.scale <= 0:
        raise UserError(f"--scale must be positive, got {args.scale:g}")
    if os.path.exists(args.plot_dir) and not os.path.isdir(args.plot_dir):
        raise UserError(f"--plot_dir {args.plot_dir} is a file, not a folder")
    hand_set = args.set_weights or args.weights is not None
    hand_hid = len(HAND_WEIGHTS["hid_bias"])
    if args.set_weights and args.weights is None and args.hid != hand_hid:
        raise UserError(f"the hand-designed weights in check.py have {hand_hid} hidden nodes: use --hid {hand_hid}")
    if args.act == "step" and not hand_set:
        raise UserError("a step network cannot be trained by gradient descent (the step function has zero "
                        "gradient everywhere): give it weights with --set_weights or --weights FILE")
    torch.set_num_threads(1)  # nine points: tiny tensor ops run fastest on one thread
    seed_everything(args.seed)
    inputs, targets = load_data(args.data)
    net = MLP(args.hid, args.act)

    if hand_set:
        net.set_weights(load_weights(args.weights) if args.weights else None, args.scale)
        print("set weights (no training):")
    else:
        net.init_weights(args.init)
        epochs = train(net, inputs, targets, args.lr, args.epoch)
        print(f"stopped after {epochs} epochs\nfinal weights:")
    print(weights_json(net.get_weights(decimals=4)))
    print(activation_table(net, inputs, targets))
    print("\ndividing lines of the hidden nodes:")
    for i, ((w1, w2), b) in enumerate(zip(net.in_hid.weight.tolist(), net.in_hid.bias.tolist()), start=1):
        print(f"  h{i}: {line_equation(w1, w2, b)}")
    with torch.no_grad():
        final = accuracy(net(inputs), targets)
    print(f"\nfinal accuracy: {final:.1f}%")
    if args.save_weights:
        save_weights(net, args.save_weights)
        print(f"weights saved to {args.save_weights}")
    paths = plot_all(net, inputs, targets, args.plot_dir, args.show)
    print(f"pictures saved to {args.plot_dir}/: {', '.join(os.path.basename(path) for path in paths)}")


if __name__ == "__main__":
    run_main(main)
