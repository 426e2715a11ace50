"""Part 1's pictures: learning curves, the confusion matrix, the most confused pairs as
images, and what each network looks at.

Grids of images are drawn as one mosaic (one imshow with the tiles laid side by side)
rather than one matplotlib axes per tile: 45 labelled tiles as 45 axes took 0.9-1.1 s of
CPU here, as one mosaic 0.12 s. Every function saves one figure and returns its path.
"""
import matplotlib
import numpy as np
import torch
import torch.nn as nn

from common import pyplot, save_figure, write_atomic
from kuzu_data import CLASSES

TILE = 28   # pixels of one image tile (KMNIST images are 28x28)
GAP = 4     # pixels between tiles in a mosaic
LABEL = 10  # pixels above each row of tiles kept free for its labels
SPACER = 14  # extra pixels between groups of tiles


def _finish(plt, fig, path, show):
    """Save the figure; keep it open only when it is to be shown at the end of the run."""
    save_figure(fig, path)
    if not show:
        plt.close(fig)
    return path


def mosaic(rows, spacers=(), fill=np.nan):
    """Lay out rows of TILExTILE tiles (grey values, or RGB with a last axis of 3; a None tile
    is an empty slot) as one image with GAP pixels between columns, SPACER more after each
    column listed in `spacers` (to set groups apart), and GAP + LABEL between rows. Returns the
    image and a function giving the centre x and top y of tile (row, column) in image pixels,
    for labels."""
    cols = max(len(row) for row in rows)
    depth = next(np.shape(t)[2:] for row in rows for t in row if t is not None)
    lefts = [c * (TILE + GAP) + SPACER * sum(c > s for s in spacers) for c in range(cols)]
    step_y = TILE + GAP + LABEL
    image = np.full((len(rows) * step_y, lefts[-1] + TILE) + depth, fill, dtype=np.float32)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            if tile is not None:
                y = r * step_y + LABEL
                image[y:y + TILE, lefts[c]:lefts[c] + TILE] = tile
    return image, lambda r, c: (lefts[c] + (TILE - 1) / 2, r * step_y + LABEL - 1)


def _colour(tile, cmap, low, high):
    """A tile as RGB through a colour map over [low, high]; NaN (no data) is white."""
    cmap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    return cmap(np.ma.masked_invalid((tile - low) / (high - low)))[..., :3]


def _mosaic_figure(plt, image, extra_width=0.0, title_lines=2):
    """A figure whose axes holds the mosaic `image` at about 0.8 inch a tile, with room above
    for a title of `title_lines` lines and `extra_width` inches on the right (colour bar)."""
    inch = 0.8 / (TILE + GAP)
    width, height = image.shape[1] * inch, image.shape[0] * inch
    title = 0.2 * title_lines + 0.1
    fig = plt.figure(figsize=(width + extra_width, height + title))
    ax = fig.add_axes((0, 0, width / (width + extra_width), height / (height + title)))
    return fig, ax


def _tile_axes(ax, image, cmap, vmin, vmax):
    """Show a mosaic on `ax` without ticks or frame; empty slots stay white."""
    cmap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    return shown


# ---------------------------------------------------------------- learning curves

class LearningCurves:
    """The run's learning curves: training loss (mean over each epoch's batches), test loss and
    test accuracy per epoch. The figure is made once and saved again after every epoch, so an
    interrupted run still has its curves: redrawing one figure costs about 0.04 s an epoch,
    making it anew about five times as much."""

    def __init__(self, title, path, show=False):
        self.title, self.path, self.show, self.fig = title, path, show, None

    def _make(self):
        from matplotlib.ticker import MaxNLocator
        plt = pyplot(self.show)
        self.fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(8, 3.2))
        self.fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.82, wspace=0.28)
        self.train_line, = loss_ax.plot([], [], "o-", label="training (mean over the epoch)")
        self.test_line, = loss_ax.plot([], [], "s-", label="test")
        self.acc_line, = acc_ax.plot([], [], "s-", color="C1")
        loss_ax.set_ylabel("loss (negative log likelihood)")
        loss_ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=2, frameon=False, fontsize=8)  # off the data
        acc_ax.set_ylabel("test accuracy (%)")
        for ax in (loss_ax, acc_ax):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        self.fig.suptitle(self.title, y=0.99)

    def save(self, history):
        """Redraw with `history`, a list of (train_loss, test_loss, test_accuracy_percent) per
        epoch, and save; returns the path."""
        if self.fig is None:
            self._make()
        epochs = list(range(1, len(history) + 1))
        train_loss, test_loss, accuracy = zip(*history)
        for line, values in ((self.train_line, train_loss), (self.test_line, test_loss), (self.acc_line, accuracy)):
            line.set_data(epochs, values)
            line.axes.relim()
            line.axes.autoscale_view()
        return write_atomic(self.path, lambda tmp: self.fig.savefig(tmp, dpi=110, format="png"))

    def close(self):
        """Let the figure go, unless it is to be shown at the end of the run."""
        if self.fig is not None and not self.show:
            pyplot().close(self.fig)


# ---------------------------------------------------------------- confusion matrix

def plot_confusion(confusion, title, path, show=False):
    """The confusion matrix with counts written in; the colours show only the mistakes (the
    diagonal, about a hundred times larger, is grey), on a colour bar that says so."""
    plt = pyplot(show)
    counts = confusion.numpy()
    mistakes = counts.astype(float)
    np.fill_diagonal(mistakes, np.nan)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    cmap = matplotlib.colormaps["Reds"].with_extremes(bad="0.85")
    image = ax.imshow(mistakes, cmap=cmap, vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.85).set_label("test images misclassified (off-diagonal cells)")
    ticks = range(len(CLASSES))
    ax.set_xticks(ticks, CLASSES)
    ax.set_yticks(ticks, CLASSES)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}\n(grey diagonal: correctly classified)", fontsize=10)
    threshold = np.nanmax(mistakes) / 2 if np.isfinite(mistakes).any() else 0
    for i in ticks:
        for j in ticks:
            light = i != j and mistakes[i, j] > threshold
            ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if light else "black", fontweight="bold" if i == j else "normal")
    return _finish(plt, fig, path, show)


# ---------------------------------------------------------------- the confusions as images

def _spread(indices, confidence, k):
    """Up to k of `indices`, from the most to the least confident, evenly spread."""
    if len(indices) == 0:
        return indices
    ordered = indices[torch.argsort(confidence[indices], descending=True)]
    picks = torch.linspace(0, len(ordered) - 1, min(k, len(ordered))).round().long()
    return ordered[picks]


def plot_confused_pairs(images, labels, predicted, confidence, pairs, title, path,
                        wrong=5, right=2, show=False):
    """One row per confused pair (true, predicted): `wrong` test images of class true that the
    model called predicted, then `right` correctly classified images of each of the two classes,
    each labelled with the model's confidence in its answer. Evenly spread from the most to
    the least confident, so a row shows both the clear and the borderline cases.

    images (N, 1, 28, 28) in [-1, 1]; labels, predicted (N,); confidence (N,) the probability
    of the predicted class; pairs: (true index, predicted index) pairs."""
    plt = pyplot(show)
    images = images[:, 0].cpu().numpy()
    labels, predicted, confidence = labels.cpu(), predicted.cpu(), confidence.cpu()
    rows, captions = [], []
    for true, guess in pairs:
        slots = []
        for cls, called, size in ((true, guess, wrong), (true, true, right), (guess, guess, right)):
            found = _spread(torch.nonzero((labels == cls) & (predicted == called))[:, 0], confidence, size)
            slots += found.tolist() + [None] * (size - len(found))
        rows.append([None if i is None else images[i] for i in slots])
        captions.append([None if i is None else f"{CLASSES[predicted[i]]} {100 * confidence[i]:.0f}%"
                         for i in slots])
    image, top = mosaic(rows, spacers=(wrong - 1, wrong + right - 1))
    fig, ax = _mosaic_figure(plt, image, extra_width=0.8, title_lines=4)
    _tile_axes(ax, image, "gray", -1, 1)
    for r, ((true, guess), caption) in enumerate(zip(pairs, captions)):
        for c, text in enumerate(caption):
            if text:
                x, y = top(r, c)
                ax.text(x, y, text, ha="center", va="bottom", fontsize=7)
        count = int(((labels == true) & (predicted == guess)).sum())
        x, y = top(r, 0)
        ax.text(x - TILE / 2 - GAP, y + TILE / 2, f"{CLASSES[true]} \u2192 {CLASSES[guess]}\n{count} times",
                ha="right", va="center", fontsize=8)
    for first, size, heading in ((0, wrong, "misclassified"), (wrong, right, "true class"),
                                 (wrong + right, right, "predicted class")):
        x = (top(0, first)[0] + top(0, first + size - 1)[0]) / 2
        ax.text(x, -2, heading, ha="center", va="bottom", fontsize=8, fontweight="bold")
    ax.set_title(f"{title}\nmisclassified test images beside correctly classified ones of both classes;\n"
                 f"above each, the class the model gave it and its confidence", fontsize=9, pad=14)
    return _finish(plt, fig, path, show)


# ---------------------------------------------------------------- what the models look at

def _signed(tile):
    """Scale a tile to [-1, 1] by its largest absolute value (zero stays zero)."""
    return tile / max(float(np.abs(tile).max()), 1e-12)


class NothingToDraw(Exception):
    """The network has no layer that a picture of what it looks at can be made from."""


def first_layer(model):
    """The layer that sees the pixels: the first nn.Conv2d with one input channel, else the first
    nn.Linear with 784 inputs, found by walking the modules (any names will do)."""
    modules = list(model.modules())
    conv = next((m for m in modules if isinstance(m, nn.Conv2d) and m.in_channels == 1), None)
    if conv is not None:
        return conv
    linear = next((m for m in modules if isinstance(m, nn.Linear) and m.in_features == TILE * TILE), None)
    if linear is None:
        raise NothingToDraw(f"{type(model).__name__} has no nn.Conv2d with one input channel "
                            f"and no nn.Linear with {TILE * TILE} inputs")
    return linear


def plot_weights(model, images, path, show=False):
    """What the network looks at (images: the test images, (N, 1, 28, 28)), from the layer that
    sees the pixels (first_layer):
    a linear layer to 10 outputs: each class's 784 weights as a 28x28 image, on one colour scale;
    a linear layer to hidden units: the input weights of the 16 units that matter most (largest
          weights out of them, when the next linear layer takes them in), each over the mean of
          the 50 test images that drive that unit highest;
    a convolution: its first 16 filters, each over what it makes of the first test image.
    NothingToDraw when there is no such layer."""
    layer = first_layer(model)
    plt = pyplot(show)
    if isinstance(layer, nn.Conv2d):
        fig = _first_filters(plt, model, layer, images)
    elif layer.out_features == 10:
        fig = _class_weights(plt, model, layer)
    else:
        fig = _hidden_units(plt, model, layer, images)
    return _finish(plt, fig, path, show)


def _class_weights(plt, model, layer):
    weights = layer.weight.detach().cpu().view(10, TILE, TILE).numpy()
    grid, top = mosaic([list(weights[:5]), list(weights[5:])])
    fig, ax = _mosaic_figure(plt, grid, extra_width=1.2)
    limit = float(np.abs(weights).max())
    shown = _tile_axes(ax, grid, "RdBu_r", -limit, limit)
    bar = fig.colorbar(shown, ax=ax, shrink=0.8)
    bar.set_label("weight (red: evidence for the class)", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    for i, label in enumerate(CLASSES):
        x, y = top(i // 5, i % 5)
        ax.text(x, y, label, ha="center", va="bottom", fontsize=9)
    ax.set_title(f"{type(model).__name__}: each class's weights on the 28x28 pixels", fontsize=10)
    return fig


def _next_linear(model, layer):
    """The nn.Linear after `layer` in the model's modules that takes its outputs in, or None."""
    modules = list(model.modules())
    return next((m for m in modules[modules.index(layer) + 1:]
                 if isinstance(m, nn.Linear) and m.in_features == layer.out_features), None)


def _hidden_units(plt, model, layer, images):
    after = _next_linear(model, layer)
    out = after.weight.detach().cpu() if after is not None else None
    importance = out.norm(dim=0) if out is not None else layer.weight.detach().cpu().norm(dim=1)
    units = importance.argsort(descending=True)[:16]
    weights = layer.weight.detach().cpu()[units].view(-1, TILE, TILE).numpy()
    with torch.no_grad():
        activation = layer(images.flatten(1))[:, units.to(images.device)].cpu()
    drivers = activation.topk(min(50, len(images)), dim=0).indices.T  # each unit's strongest inputs
    means = [images[i.to(images.device), 0].mean(dim=0).cpu().numpy() for i in drivers]
    if out is not None and out.shape[0] == 10:
        labels = [f"h{u} +{CLASSES[int(out[:, u].argmax())]} \u2212{CLASSES[int(out[:, u].argmin())]}"
                  for u in units.tolist()]
        ranked = "with the largest output weights"
        legend = "; +class it favours most, \u2212least"
    else:
        labels, ranked, legend = [f"h{u}" for u in units.tolist()], "with the largest input weights", ""
    fig = _tiles_over_tiles(plt, [_signed(w) for w in weights], labels,
                            [_colour(m, "gray", -1, 1) for m in means], 8)
    fig.axes[0].set_title(f"{type(model).__name__}: input weights of the {len(units)} hidden units {ranked}\n"
                          f"(each on its own scale, red positive{legend}),\n"
                          "and below each, the mean of the test images that drive it highest", fontsize=9)
    return fig


def _fit_tile(array):
    """A 2-D array centred in a TILExTILE tile (padded with NaN, or cropped if larger)."""
    tile = np.full((TILE, TILE), np.nan, dtype=np.float32)
    h, w = min(array.shape[0], TILE), min(array.shape[1], TILE)
    top, left = (array.shape[0] - h) // 2, (array.shape[1] - w) // 2
    y, x = (TILE - h) // 2, (TILE - w) // 2
    tile[y:y + h, x:x + w] = array[top:top + h, left:left + w]
    return tile


def _first_filters(plt, model, conv, images):
    image = images[:1]
    filters = conv.weight.detach().cpu()[:16, 0].numpy()
    with torch.no_grad():
        model.eval()
        maps = conv(image)[0, :16].cpu().numpy()
    # each filter enlarged by a whole factor to nearly fill a tile, to sit above its map
    factor = max(1, (TILE - 3) // max(filters.shape[1:]))
    big = [_fit_tile(np.kron(_signed(f), np.ones((factor, factor)))) for f in filters]
    below = [_colour(_fit_tile(_signed(m)), "RdBu_r", -1, 1) for m in maps]
    size = "x".join(map(str, conv.kernel_size))
    fig = _tiles_over_tiles(plt, big, [f"filter {i + 1}" for i in range(len(big))], below, 8,
                            first=_colour(image[0, 0].cpu().numpy(), "gray", -1, 1))
    fig.axes[0].set_title(f"{type(model).__name__}: the first {len(big)} filters ({size}) of the first conv layer "
                          "(each on its own scale, red positive),\nand below each, its output on the test image "
                          "on the left (each on its own scale)", fontsize=9)
    return fig


def _tiles_over_tiles(plt, weights, labels, below, per_row, first=None):
    """One figure: labelled weight tiles (scaled to [-1, 1], drawn red-blue) in rows of `per_row`,
    each over its partner tile in `below` (RGB); `first`, when given, is an RGB tile shown at
    the left of the first lower row, set apart."""
    rows = []
    lead = [] if first is None else [None]
    for start in range(0, len(weights), per_row):
        rows.append(lead + [_colour(w, "RdBu_r", -1, 1) for w in weights[start:start + per_row]])
        rows.append(([first] if first is not None and start == 0 else lead) + below[start:start + per_row])
    image, top = mosaic(rows, spacers=(0,) if first is not None else (), fill=1.0)
    fig, ax = _mosaic_figure(plt, image, title_lines=3)
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    for i, label in enumerate(labels):
        x, y = top(2 * (i // per_row), len(lead) + i % per_row)
        ax.text(x, y, label, ha="center", va="bottom", fontsize=6.5)
    if first is not None:
        x, y = top(1, 0)
        ax.text(x, y, "test image", ha="center", va="bottom", fontsize=7)
    return fig
