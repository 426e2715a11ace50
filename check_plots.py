"""Part 2's pictures: what each node computes over the plane, every hidden node's dividing
line on one picture, and the network drawn with its weights and biases.

Every function takes the numbers to draw (the network, or its weights as check_data.get_weights
returns them) and returns a matplotlib figure; check_main.py names them and saves them with
common.save_png(). The pictures of the plane show the square plot_range gives for the data, so any grid of
points is in view. Every picture goes into a report as it is: at most half an A4 page, no text
under 8 points at that size, a title that says what it shows and from which run, the classes
told apart by marker as well as colour, saved as PNG common.REPORT_WIDTH pixels wide.
"""
import math

import torch
from matplotlib import patheffects

from check_data import get_weights

PLOT_STEPS = 201
PAGE = (8.3, 5.8)  # inches: half an A4 page, the largest a picture is
TITLE_FONT = 10
# Okabe and Ito's colours, told apart with every kind of colour blindness.
CLASSES = (("#0072B2", "o"), ("#E69F00", "s"))  # (colour, marker) of target 0 and target 1
SIGN_COLOURS = {1: "#0072B2", -1: "#D55E00", 0: "#808080"}  # positive, negative, zero weights
# Lines of hidden nodes: colours that differ from the two class colours; past five, the
# colours repeat with another dash pattern.
LINE_COLOURS = ("#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#000000")
LINE_STYLES = ("-", (0, (5, 3)), (0, (1, 2)), (0, (6, 2, 1, 2)))  # solid, dashed, dotted, dash-dot
NEAR = 0.02  # lines closer than this share of the view's width all through it look like one


def plot_range(inputs):
    """The square (low, high) in x and y that the pictures of the plane show: the range of all the
    points' coordinates with a margin of half that range on every side (of 1 when the points share
    one value): -1..3 for the grid {0, 1, 2}, -2..2 for {-1, 0, 1}."""
    low, high = inputs.min().item(), inputs.max().item()
    margin = (high - low) / 2 or 1
    return low - margin, high + margin


def draw_points(ax, inputs, targets):
    """The data points in their class colours and markers, outlined so that they show on any
    background, and the axes set to plot_range."""
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for target, (colour, marker) in enumerate(CLASSES):
        points = inputs[targets[:, 0] == target].numpy()
        ax.scatter(points[:, 0], points[:, 1], s=80, c=colour, marker=marker, edgecolors="black",
                   label=f"target {target}", zorder=3, path_effects=halo)
    view = plot_range(inputs)
    ax.set(xlim=view, ylim=view, xlabel="input x", ylabel="input y", aspect="equal")


SIDE = 4.2  # inches: the square of the plane


def plane_figure(plt, title, right, below):
    """A figure holding the plane as a square axes SIDE inches wide under `title`, with `right`
    inches at its right and `below` inches under it for the axis labels and legends. Placed by
    hand: a layout engine sizes an axes of fixed aspect before it shrinks it, and crops or
    crowds what lies beside it."""
    left, above = 0.75, 0.5
    width, height = left + SIDE + right, below + SIDE + above
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((left / width, below / height, SIDE / width, SIDE / height))
    ax.set_title(title, fontsize=TITLE_FONT, pad=10)  # clear of the top tick label
    return fig, ax


def all_pictures(plt, net, act, inputs, targets, run, data_name):
    """Every picture of a run, made one at a time so each can be saved and closed before the next:
    (name, figure) for the data, the network drawn ("net"), the dividing lines ("lines"), each
    hidden node (h1..hH) and the output ("out"). `act` is the net's activation, `run` says which
    network it is and where its weights came from, `data_name` names the data."""
    weights = get_weights(net)
    yield "data", data_picture(plt, inputs, targets, f"the data: {data_name}, {len(targets)} points")
    yield "net", network_picture(plt, weights, f"the network drawn with its weights\n{run}")
    yield "lines", lines_picture(plt, weights, inputs, targets, f"the dividing lines of the hidden nodes\n{run}")
    yield from node_pictures(plt, net, act, inputs, targets, run)


def node_pictures(plt, net, act, inputs, targets, run):
    """For each hidden node and the output, one at a time: (name, figure) with its activation over
    the plane and the points on top, titled with `run`; names h1..hH and out."""
    steps = torch.linspace(*plot_range(inputs), PLOT_STEPS)
    grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")  # rows follow y, as imshow expects
    with torch.no_grad():
        output = net(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
    hid = net.hid.shape[1]
    for i in range(hid):
        values = net.hid[:, i].reshape(PLOT_STEPS, PLOT_STEPS)
        yield f"h{i + 1}", data_picture(plt, inputs, targets, f"hidden node h{i + 1} ({act}) over the plane\n{run}",
                                        values, f"activation of h{i + 1}")
    yield "out", data_picture(plt, inputs, targets, f"the output ({act}) over the plane\n{run}",
                              output.reshape(PLOT_STEPS, PLOT_STEPS), "output")


def data_picture(plt, inputs, targets, title, values=None, what=None):
    """The points, over a node's activation (values on the PLOT_STEPS grid over plot_range, called
    `what` on the colour bar) if given."""
    fig, ax = plane_figure(plt, title, right=1.5, below=0.95)
    if values is not None:
        image = ax.imshow(values.numpy(), origin="lower", extent=plot_range(inputs) * 2, vmin=0, vmax=1,
                          cmap="cividis", interpolation="bilinear")  # a step's edge drawn smooth, not as stairs
        left, bottom, width, height = ax.get_position().bounds
        cax = fig.add_axes((left + width + 0.25 / fig.get_figwidth(), bottom, 0.18 / fig.get_figwidth(), height))
        fig.colorbar(image, cax=cax, label=f"{what} (0 to 1)")
    draw_points(ax, inputs, targets)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize="small")
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


def near(segment, line, width):
    """Whether every point of `segment` is within NEAR * width of `line` ((w1, w2), b)."""
    (w1, w2), b = line
    return all(abs(w1 * x + w2 * y + b) <= NEAR * width * math.hypot(w1, w2) for x, y in segment)


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
    each labelled h1..hH with an arrow to the side where the node fires (net input >= 0). Lines
    that (nearly) coincide get different dash patterns, drawn over each other so that both show,
    and the legend says which they are."""
    fig, ax = plane_figure(plt, title, right=2.3, below=0.6)
    draw_points(ax, inputs, targets)
    view = plot_range(inputs)
    taken = [tuple(point) for point in inputs.tolist()]
    missing, drawn = [], []  # drawn: (name, line, segment, style index) of the lines in view
    for k, line in enumerate(zip(weights["in_hid_weight"], weights["hid_bias"])):
        (w1, w2), b = line
        name = f"h{k + 1}"
        segment = clip_line(w1, w2, b, *view)
        if segment is None:
            missing.append(name)
            continue
        same = [other for other in drawn
                if near(segment, other[1], view[1] - view[0]) and near(other[2], line, view[1] - view[0])]
        used = {other[3] for other in same}
        base = k // len(LINE_COLOURS)
        style = next((s % len(LINE_STYLES) for s in range(base, base + len(LINE_STYLES))
                      if s % len(LINE_STYLES) not in used), base % len(LINE_STYLES))
        drawn.append((name, line, segment, style))
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        note = f" (nearly on {', '.join(other[0] for other in same)})" if same else ""
        # solid under dashed under dotted: a line drawn over a coinciding one leaves it showing
        ax.plot(*zip(*segment), color=colour, linestyle=LINE_STYLES[style], linewidth=2.5, zorder=2 + 0.1 * style,
                label=name + note)
        start, tip, name_spot = label_marks(w1, w2, segment, taken, view)
        taken += [start, tip, name_spot]
        ax.annotate("", xy=tip, xytext=start, arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=2))
        ax.text(*name_spot, name, color=colour, fontweight="bold", ha="center", va="center", zorder=4,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    note = "arrows point to the side\nwhere the node fires"
    if missing:
        note += f"\nnot in view (no line here): {', '.join(missing)}"
    ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1), fontsize="small", title=note, title_fontsize="small")
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


NODE = 650        # area of a node's circle, points squared
UNIT = 0.5        # inches between hidden nodes
NEAR_INPUT = 0.36  # edge labels sit this far from x or y: 13 points apart in a fan, the fans apart


def network_picture(plt, weights, title):
    """The 2-H-1 network: inputs x (top left) and y (bottom left) level with the outermost hidden
    nodes, hidden h1..hH (h1 at the top), output; every weight on its edge and every bias beside
    its node, coloured by sign, line widths growing with |weight|."""
    edges, biases = network_numbers(weights)
    hid = len(biases) - 1
    # With x above every hidden node and y below them, the edges out of x fan out above those out
    # of y wherever they are nearer the inputs than the hidden nodes (the fans cross only
    # beyond half way), so the labels NEAR_INPUT of the way from an input each sit on their own
    # edge, in order h1..hH, above y's.
    top = max((hid - 1) / 2, 0.6)
    spots = {"x": (0, top), "y": (0, -top), "out": (2, 0)}
    spots.update({f"h{k + 1}": (1, (hid - 1) / 2 - k) for k in range(hid)})
    fig, ax = plt.subplots(figsize=(6.4, max(3.6, 1.6 + UNIT * (2 * top + 1))), layout="constrained")
    largest = max((abs(w) for _, _, w in edges), default=0) or 1
    for start, end, weight in edges:
        (x0, y0), (x1, y1) = spots[start], spots[end]
        colour = SIGN_COLOURS[sign(weight)]
        ax.plot([x0, x1], [y0, y1], color=colour, linewidth=0.6 + 2.4 * abs(weight) / largest, zorder=1,
                linestyle="-" if weight else ":")
        at = NEAR_INPUT if end != "out" else 0.45  # where the edges of a fan are farthest apart
        # along its edge, so that a label near the steep edges of a fan covers only its own
        ax.text(x0 + at * (x1 - x0), y0 + at * (y1 - y0), weight_text(weight), color=colour, fontsize=9,
                ha="center", va="center", rotation=math.degrees(math.atan2(y1 - y0, x1 - x0)),
                rotation_mode="anchor", transform_rotates_text=True, zorder=3,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    radius = math.sqrt(NODE) / 2
    for node, (x, y) in spots.items():
        ax.scatter([x], [y], s=NODE, c="white", edgecolors="black", linewidths=1.5, zorder=2)
        ax.text(x, y, node, ha="center", va="center", fontweight="bold", zorder=4)
        if node in biases:
            # a hidden node's bias at its right, on the side away from its edge to the output
            up = 1 if y >= 0 else -1
            offset, align = ((0, -radius - 4), ("center", "top")) if node == "out" else \
                ((radius + 2, up * radius * 0.6), ("left", "bottom" if up > 0 else "top"))
            ax.annotate(f"b = {weight_text(biases[node])}", (x, y), xytext=offset, textcoords="offset points",
                        ha=align[0], va=align[1], fontsize=8, color=SIGN_COLOURS[sign(biases[node])], zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    ax.plot([], [], color=SIGN_COLOURS[1], label="positive")
    ax.plot([], [], color=SIGN_COLOURS[-1], label="negative")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), ncol=2, fontsize="small",
              title="weights on edges (line width grows with |weight|), biases (b) beside nodes",
              title_fontsize="small")
    ax.set(xlim=(-0.15, 2.15), ylim=(-top - 0.55, top + 0.45))
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.axis("off")
    return fig
