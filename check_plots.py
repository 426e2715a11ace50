"""Part 2's pictures: what each node computes over the plane, every hidden node's dividing
line on one picture, and the network drawn with its weights and biases.

Every function takes the numbers to draw (the network, or its weights as check_data.get_weights
returns them) and returns a matplotlib figure; check_main.py names and saves them. The pictures of
the plane show the square plot_range gives for the data, so any grid of points is in view.
"""
import math

import torch

from check_data import get_weights

PLOT_STEPS = 201
CLASS_COLOURS = ("tab:blue", "tab:orange")  # target 0, target 1
SIGN_COLOURS = {1: "#1f5fbf", -1: "#c62828", 0: "#808080"}  # positive, negative, zero weights
# Lines of hidden nodes: colours that differ from the two class colours; past eight, the
# colours repeat with another dash pattern.
LINE_COLOURS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive",
                "tab:cyan")
LINE_STYLES = ("-", "--", ":", "-.")


def plot_range(inputs):
    """The square (low, high) in x and y that the pictures of the plane show: the range of all the
    points' coordinates with a margin of half that range on every side (of 1 when the points share
    one value): -1..3 for the grid {0, 1, 2}, -2..2 for {-1, 0, 1}."""
    low, high = inputs.min().item(), inputs.max().item()
    margin = (high - low) / 2 or 1
    return low - margin, high + margin


def draw_points(ax, inputs, targets):
    """The data points in their class colours, and the axes set to plot_range."""
    for target, colour in enumerate(CLASS_COLOURS):
        points = inputs[targets[:, 0] == target].numpy()
        ax.scatter(points[:, 0], points[:, 1], s=90, c=colour, edgecolors="black", label=f"target {target}",
                   zorder=3)
    view = plot_range(inputs)
    ax.set(xlim=view, ylim=view, xlabel="x", ylabel="y", aspect="equal")


def all_pictures(plt, net, act, inputs, targets, title):
    """Every picture of a run, made one at a time so each can be saved and closed before the next:
    (name, figure) for the data, the network drawn ("net"), the dividing lines ("lines"), each
    hidden node (h1..hH) and the output ("out"). `act` is the net's activation, `title` says which
    network it is."""
    weights = get_weights(net)
    yield "data", data_picture(plt, inputs, targets, "the data")
    yield "net", network_picture(plt, weights, title)
    yield "lines", lines_picture(plt, weights, inputs, targets, f"dividing lines, {title}")
    yield from node_pictures(plt, net, act, inputs, targets)


def node_pictures(plt, net, act, inputs, targets):
    """For each hidden node and the output, one at a time: (name, figure) with its activation over
    the plane and the points on top; names h1..hH and out."""
    steps = torch.linspace(*plot_range(inputs), PLOT_STEPS)
    grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")  # rows follow y, as imshow expects
    with torch.no_grad():
        output = net(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
    hid = net.hid.shape[1]
    for i in range(hid):
        values = net.hid[:, i].reshape(PLOT_STEPS, PLOT_STEPS)
        yield f"h{i + 1}", data_picture(plt, inputs, targets, f"hidden node h{i + 1}, {act}", values)
    yield "out", data_picture(plt, inputs, targets, f"output ({hid} hidden), {act}",
                              output.reshape(PLOT_STEPS, PLOT_STEPS))


def data_picture(plt, inputs, targets, title, values=None):
    """The points, over a node's activation (values on the PLOT_STEPS grid over plot_range) if given."""
    fig, ax = plt.subplots(figsize=(5, 4))
    if values is not None:
        image = ax.imshow(values.numpy(), origin="lower", extent=plot_range(inputs) * 2, vmin=0, vmax=1,
                          cmap="gray")
        fig.colorbar(image, ax=ax, label="activation")
    draw_points(ax, inputs, targets)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncol=2, fontsize="small")
    return fig


# ---------------------------------------------------------------- dividing lines

def clip_line(w1, w2, b, low, high):
    """The two ends of the part of w1*x + w2*y + b = 0 inside the square [low, high]^2, or None
    when the line misses the square (or there is no line: w1 = w2 = 0)."""
    ends = []
    if w2 != 0:  # where the line crosses the left and right sides
        ends += [(x, -(w1 * x + b) / w2) for x in (low, high)]
    if w1 != 0:  # ... and the bottom and top
        ends += [(-(w2 * y + b) / w1, y) for y in (low, high)]
    inside = sorted({(round(x, 9), round(y, 9)) for x, y in ends if low <= x <= high and low <= y <= high})
    if len(inside) < 2:
        return None
    return inside[0], inside[-1]  # a line meets a square's border in at most two distinct points


# As fractions of the width of the view, so labels look the same whatever the data's range.
ARROW = 0.1      # length of the arrow to the firing side
NAME_AT = 0.055  # the name is written this far from the line on the other side
INSET = 0.025    # marks stay this far inside the border


def label_marks(w1, w2, segment, taken, view):
    """Where to mark a line in the square `view` (low, high): the point on it where the arrow
    starts, the arrow's tip and the spot for the node's name. Of the places a tenth, two tenths,
    ... of the way along the segment, the one whose marks are all in view and farthest from the
    points taken (the data points and the marks of lines placed earlier)."""
    width = view[1] - view[0]
    norm = math.hypot(w1, w2) / width
    nx, ny = w1 / norm, w2 / norm  # normal as long as the view is wide, pointing to where the node fires
    (x0, y0), (x1, y1) = segment
    candidates = []
    for fraction in (0.5, 0.3, 0.7, 0.1, 0.9, 0.2, 0.8, 0.4, 0.6):
        x, y = x0 + fraction * (x1 - x0), y0 + fraction * (y1 - y0)
        candidates.append(((x, y), (x + ARROW * nx, y + ARROW * ny), (x - NAME_AT * nx, y - NAME_AT * ny)))
    low, high = view[0] + INSET * width, view[1] - INSET * width
    inside = [marks for marks in candidates if all(low <= v <= high for mark in marks for v in mark)]
    return max(inside or candidates,
               key=lambda marks: min(math.dist(mark, other) for mark in marks for other in taken))


def lines_picture(plt, weights, inputs, targets, title):
    """Every hidden node's dividing line w1*x + w2*y + b = 0 on one picture with the points,
    each labelled h1..hH with an arrow to the side where the node fires (net input >= 0)."""
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    draw_points(ax, inputs, targets)
    view = plot_range(inputs)
    taken = [tuple(point) for point in inputs.tolist()]
    missing = []
    for k, ((w1, w2), b) in enumerate(zip(weights["in_hid_weight"], weights["hid_bias"])):
        name = f"h{k + 1}"
        segment = clip_line(w1, w2, b, *view)
        if segment is None:
            missing.append(name)
            continue
        colour, style = LINE_COLOURS[k % len(LINE_COLOURS)], LINE_STYLES[k // len(LINE_COLOURS) % len(LINE_STYLES)]
        ax.plot(*zip(*segment), color=colour, linestyle=style, linewidth=2)
        start, tip, name_spot = label_marks(w1, w2, segment, taken, view)
        taken += [start, tip, name_spot]
        ax.annotate("", xy=tip, xytext=start, arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=2))
        ax.text(*name_spot, name, color=colour, fontweight="bold", ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    ax.set_title(title)
    note = "arrows point to the side where the node fires"
    if missing:
        note += f"\nnot in view (no line here): {', '.join(missing)}"
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.1), ncol=2, fontsize="small", title=note,
              title_fontsize="small")
    return fig


# ---------------------------------------------------------------- the network drawn

def weight_text(value):
    """A weight or bias as the diagram writes it: three significant digits."""
    return f"{value:.3g}"


def network_numbers(weights):
    """What the diagram shows, from a weights dict: edges (from, to, weight) and biases {node: bias}."""
    edges = []
    for k, (wx, wy) in enumerate(weights["in_hid_weight"]):
        edges += [("x", f"h{k + 1}", wx), ("y", f"h{k + 1}", wy)]
    edges += [(f"h{k + 1}", "out", w) for k, w in enumerate(weights["hid_out_weight"][0])]
    biases = {f"h{k + 1}": b for k, b in enumerate(weights["hid_bias"])}
    biases["out"] = weights["out_bias"][0]
    return edges, biases


def sign(value):
    return (value > 0) - (value < 0)


def network_picture(plt, weights, title):
    """The 2-H-1 network: inputs x, y, hidden h1..hH (h1 at the top), output; every weight on its
    edge and every bias under its node, coloured by sign, line widths growing with |weight|."""
    edges, biases = network_numbers(weights)
    hid = len(biases) - 1
    # Hidden nodes one unit apart. Edge labels sit EDGE_AT of the way from x or y to a hidden node;
    # with the inputs INPUT_GAP apart, the labels of the 2H edges then fall evenly EDGE_AT / 2
    # apart in one column, so they cannot overlap.
    edge_at = 0.7
    input_gap = edge_at / (2 * (1 - edge_at))
    spots = {"x": (0, input_gap / 2), "y": (0, -input_gap / 2), "out": (2, 0)}
    spots.update({f"h{k + 1}": (1, (hid - 1) / 2 - k) for k in range(hid)})
    fig, ax = plt.subplots(figsize=(6.5, max(3.0, 0.75 * hid + 1.2)))
    largest = max((abs(w) for _, _, w in edges), default=0) or 1
    for start, end, weight in edges:
        (x0, y0), (x1, y1) = spots[start], spots[end]
        colour = SIGN_COLOURS[sign(weight)]
        ax.plot([x0, x1], [y0, y1], color=colour, linewidth=0.6 + 2.4 * abs(weight) / largest, zorder=1,
                linestyle="-" if weight else ":")
        at = edge_at if end != "out" else 0.3  # near the hidden node either way, where edges fan out
        ax.text(x0 + at * (x1 - x0), y0 + at * (y1 - y0), weight_text(weight), color=colour, fontsize=9,
                ha="center", va="center", zorder=3, bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    for node, (x, y) in spots.items():
        ax.scatter([x], [y], s=650, c="white", edgecolors="black", linewidths=1.5, zorder=2)
        ax.text(x, y, node, ha="center", va="center", fontweight="bold", zorder=4)
        if node in biases:
            bias = biases[node]
            ax.annotate(f"b = {weight_text(bias)}", (x, y), xytext=(0, -19), textcoords="offset points",
                        ha="center", va="top", fontsize=8, color=SIGN_COLOURS[sign(bias)], zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    ax.plot([], [], color=SIGN_COLOURS[1], label="positive")
    ax.plot([], [], color=SIGN_COLOURS[-1], label="negative")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), ncol=2, fontsize="small",
              title="weights on edges, biases (b) under nodes", title_fontsize="small")
    ax.set(xlim=(-0.35, 2.35), ylim=(-(hid - 1) / 2 - 0.6, (hid - 1) / 2 + 0.45), title=title)
    ax.axis("off")
    return fig
