"""Part 1's pictures: learning curves, the confusion matrix, the most confused pairs as
images, and what each network looks at.

Every picture goes into a report as it is: at most half an A4 page (PAGE), no text under
FONT points at that size, a title that says what it shows and from which run, a colour bar
for every colour scale, saved as PNG common.REPORT_WIDTH pixels wide.

Grids of images are drawn as one mosaic (one imshow with the tiles laid side by side)
rather than one matplotlib axes per tile: 45 labelled tiles as 45 axes took 0.9-1.1 s of
CPU here, as one mosaic 0.12 s. Every function saves one figure and returns its path.
"""
import matplotlib
import numpy as np
import torch
import torch.nn as nn

from common import pyplot, save_png
from kuzu_data import CLASSES

PAGE = (8.3, 5.8)  # inches: half an A4 page, the largest a picture is
FONT = 8           # points: the smallest text
TITLE_FONT = 9
# Okabe and Ito's colours, told apart with every kind of colour blindness.
BLUE, VERMILLION = "#0072B2", "#D55E00"

TILE = 28   # pixels of one image tile (KMNIST images are 28x28)
GAP = 4     # pixels between tiles in a mosaic
LABEL = 10  # pixels above a row of tiles kept free for one line of its labels
SPACER = 14  # extra pixels between groups of tiles
TILE_INCHES = 1.0  # the largest a tile (with its gap) is drawn: a small mosaic is not blown up
MARGIN = 0.1       # inches of white around a mosaic
BAR = 1.2          # inches at the right of a mosaic for one colour bar with its ticks and label
LINE = 0.17        # inches of one line of a title


def _finish(plt, fig, path, show):
    """Save the figure; keep it open only when it is to be shown at the end of the run."""
    save_png(fig, path)
    if not show:
        plt.close(fig)
    return path


def mosaic(rows, spacers=(), fill=np.nan, labels=LABEL):
    """Lay out rows of TILExTILE tiles (grey values, or RGB with a last axis of 3; a None tile
    is an empty slot) as one image with GAP pixels between columns, SPACER more after each
    column listed in `spacers` (to set groups apart), and above each row GAP plus `labels`
    pixels for its labels (one number for every row, or one per row). Returns the image and
    a function giving the centre x and top y of tile (row, column) in image pixels, for labels."""
    cols = max(len(row) for row in rows)
    depth = next(np.shape(t)[2:] for row in rows for t in row if t is not None)
    lefts = [c * (TILE + GAP) + SPACER * sum(c > s for s in spacers) for c in range(cols)]
    above = [labels] * len(rows) if np.isscalar(labels) else list(labels)
    bottoms = np.cumsum([GAP + label + TILE for label in above]) - GAP  # of each row's tiles
    image = np.full((bottoms[-1], lefts[-1] + TILE) + depth, fill, dtype=np.float32)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            if tile is not None:
                y = bottoms[r] - TILE
                image[y:y + TILE, lefts[c]:lefts[c] + TILE] = tile
    return image, lambda r, c: (lefts[c] + (TILE - 1) / 2, bottoms[r] - TILE - 1)


def _colour(tile, cmap, low, high):
    """A tile as RGB through a colour map over [low, high]; NaN (no data) is white."""
    cmap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    return cmap(np.ma.masked_invalid((tile - low) / (high - low)))[..., :3]


def _mosaic_figure(plt, image, title, bars=(), left=MARGIN, above=0.0):
    """A figure holding the mosaic `image` in one axes without ticks or frame, as large as
    PAGE allows (at most TILE_INCHES a tile), under `title`, with `left` inches at its left
    for row labels, `above` inches above it for headings and at its right a colour bar for
    each (colour map, low, high, label) of `bars`."""
    title_height = MARGIN + LINE * (title.count("\n") + 1) + above
    right = MARGIN + BAR * len(bars)
    scale = min((PAGE[0] - left - right) / image.shape[1], (PAGE[1] - title_height - MARGIN) / image.shape[0],
                TILE_INCHES / (TILE + GAP))
    width, height = image.shape[1] * scale, image.shape[0] * scale
    fig_width, fig_height = left + width + right, MARGIN + height + title_height
    fig = plt.figure(figsize=(fig_width, fig_height))
    ax = fig.add_axes((left / fig_width, MARGIN / fig_height, width / fig_width, height / fig_height))
    ax.set_axis_off()
    fig.text(0.5, 1 - MARGIN / 2 / fig_height, title, ha="center", va="top", fontsize=TITLE_FONT)
    for i, (cmap, low, high, label) in enumerate(bars):
        bar_left = left + width + 0.1 + i * BAR
        cax = fig.add_axes((bar_left / fig_width, (MARGIN + 0.05 * height) / fig_height,
                            0.12 / fig_width, 0.9 * height / fig_height))
        mappable = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(low, high), cmap)
        bar = fig.colorbar(mappable, cax=cax)
        bar.set_label(label, fontsize=FONT)
        bar.ax.tick_params(labelsize=FONT)
    return fig, ax


def _show_mosaic(ax, image, cmap="gray", vmin=None, vmax=None):
    """Show a mosaic on `ax`; empty slots stay white."""
    cmap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")


# ---------------------------------------------------------------- learning curves

class LearningCurves:
    """The run's learning curves: training loss (mean over each epoch's batches), test loss and
    test accuracy per epoch, under `title` (the run). The figure is made once and saved again
    after every epoch, so an interrupted run still has its curves: redrawing one figure costs
    about 0.04 s an epoch, making it anew about five times as much."""

    def __init__(self, title, path, show=False):
        self.title, self.path, self.show, self.fig = title, path, show, None

    def _make(self):
        from matplotlib.ticker import MaxNLocator
        plt = pyplot(self.show)
        self.fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(PAGE[0], 3.6))
        self.fig.subplots_adjust(left=0.085, right=0.98, bottom=0.14, top=0.76, wspace=0.28)
        self.train_line, = loss_ax.plot([], [], "o-", color=BLUE, label="training (mean over the epoch)")
        self.test_line, = loss_ax.plot([], [], "s--", color=VERMILLION, label="test")
        self.acc_line, = acc_ax.plot([], [], "s--", color=VERMILLION, label="test")
        loss_ax.set_ylabel("loss (negative log likelihood, nats)")
        acc_ax.set_ylabel("test accuracy (%)")
        for ax in (loss_ax, acc_ax):
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=2, frameon=False, fontsize=FONT)  # off the data
        self.fig.suptitle(f"learning curves\n{self.title}", y=0.985, va="top", fontsize=TITLE_FONT)

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
        return save_png(self.fig, self.path)

    def close(self):
        """Let the figure go, unless it is to be shown at the end of the run."""
        if self.fig is not None and not self.show:
            pyplot().close(self.fig)


# ---------------------------------------------------------------- confusion matrix

def plot_confusion(confusion, title, path, show=False):
    """The confusion matrix under `title` (the run) with counts written in; the colours show
    only the mistakes (the diagonal, about a hundred times larger, is grey), on a colour bar
    that says so."""
    plt = pyplot(show)
    counts = confusion.numpy()
    mistakes = counts.astype(float)
    np.fill_diagonal(mistakes, np.nan)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    fig.subplots_adjust(left=0.1, right=0.92, bottom=0.09, top=0.87)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(mistakes, cmap=cmap, vmin=0)
    bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.03)
    bar.set_label("test images misclassified (off-diagonal cells)", fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)
    ticks = range(len(CLASSES))
    ax.set_xticks(ticks, CLASSES)
    ax.set_yticks(ticks, CLASSES)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(counts.sum())
    right = int(np.trace(counts))
    fig.suptitle(f"confusion matrix: {right}/{total} test images right ({100 * right / max(total, 1):.1f}%), "
                 f"the grey diagonal\n{title}", y=0.985, va="top", fontsize=TITLE_FONT)
    rgb = image.to_rgba(mistakes)
    for i in ticks:
        for j in ticks:
            dark = i != j and rgb[i, j, :3] @ (0.299, 0.587, 0.114) < 0.5  # white text on dark cells
            ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=FONT,
                    color="white" if dark else "black", fontweight="bold" if i == j else "normal")
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
    the least confident, so a row shows both the clear and the borderline cases. `title`: the run.

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
    fig, ax = _mosaic_figure(plt, image, f"the most confused pairs: misclassified test images beside correctly "
                             f"classified ones of both classes,\neach under the class the model gave it and "
                             f"its confidence; {title}", left=0.7, above=LINE)
    _show_mosaic(ax, image, vmin=-1, vmax=1)
    for r, ((true, guess), caption) in enumerate(zip(pairs, captions)):
        for c, text in enumerate(caption):
            if text:
                x, y = top(r, c)
                ax.text(x, y, text, ha="center", va="bottom", fontsize=FONT)
        count = int(((labels == true) & (predicted == guess)).sum())
        x, y = top(r, 0)
        ax.text(x - TILE / 2 - GAP, y + TILE / 2, f"{CLASSES[true]} \u2192 {CLASSES[guess]}\n{count} times",
                ha="right", va="center", fontsize=FONT)
    for first, size, heading in ((0, wrong, "misclassified"), (wrong, right, "true class"),
                                 (wrong + right, right, "predicted class")):
        x = (top(0, first)[0] + top(0, first + size - 1)[0]) / 2
        ax.text(x, -1, heading, ha="center", va="bottom", fontsize=FONT, fontweight="bold")  # over the captions
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


# What the colours of tiles scaled each by its own largest value (_signed) mean.
OWN_SCALE = ("RdBu_r", -1, 1, "{}\n/ largest |{}| of its tile\n(each tile on its own scale,\nred +, blue \u2212)")
INK = ("gray", -1, 1, "pixel value\n(\u22121 paper, 1 ink)")


def plot_weights(model, images, title, path, show=False):
    """What the network looks at (images: the test images, (N, 1, 28, 28); title: the run),
    from the layer that sees the pixels (first_layer):
    a linear layer to 10 outputs: each class's 784 weights as a 28x28 image, on one colour scale;
    a linear layer to hidden units: the input weights of the 16 units that matter most (largest
          weights out of them, when the next linear layer takes them in), each over the mean of
          the 50 test images that drive that unit highest;
    a convolution: its first 16 filters, each over what it makes of the first test image.
    NothingToDraw when there is no such layer."""
    layer = first_layer(model)
    plt = pyplot(show)
    if isinstance(layer, nn.Conv2d):
        fig = _first_filters(plt, model, layer, images, title)
    elif layer.out_features == 10:
        fig = _class_weights(plt, layer, title)
    else:
        fig = _hidden_units(plt, model, layer, images, title)
    return _finish(plt, fig, path, show)


def _class_weights(plt, layer, title):
    weights = layer.weight.detach().cpu().view(10, TILE, TILE).numpy()
    grid, top = mosaic([list(weights[:5]), list(weights[5:])])
    limit = float(np.abs(weights).max())
    fig, ax = _mosaic_figure(plt, grid, f"each class's weights on the 28x28 pixels, all on one scale\n{title}",
                             [("RdBu_r", -limit, limit, "weight (red: for the class,\nblue: against it)")])
    _show_mosaic(ax, grid, "RdBu_r", -limit, limit)
    for i, label in enumerate(CLASSES):
        x, y = top(i // 5, i % 5)
        ax.text(x, y, label, ha="center", va="bottom", fontsize=TITLE_FONT)
    return fig


def _next_linear(model, layer):
    """The nn.Linear after `layer` in the model's modules that takes its outputs in, or None."""
    modules = list(model.modules())
    return next((m for m in modules[modules.index(layer) + 1:]
                 if isinstance(m, nn.Linear) and m.in_features == layer.out_features), None)


def _hidden_units(plt, model, layer, images, title):
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
        labels = [f"h{u}\n+{CLASSES[int(out[:, u].argmax())]} \u2212{CLASSES[int(out[:, u].argmin())]}"
                  for u in units.tolist()]
        ranked, legend = "with the largest output weights", " (+ the class it favours most, \u2212 least)"
    else:
        labels, ranked, legend = [f"h{u}" for u in units.tolist()], "with the largest input weights", ""
    cmap, low, high, label = OWN_SCALE
    return _tiles_over_tiles(plt, [_signed(w) for w in weights], labels, [_colour(m, "gray", -1, 1) for m in means],
                             f"the input weights of the {len(units)} hidden units {ranked}{legend},\n"
                             f"each over the mean of the 50 test images that drive it highest; {title}",
                             [(cmap, low, high, label.format("weight", "weight")), INK], label_lines=2)


def _fit_tile(array):
    """A 2-D array centred in a TILExTILE tile (padded with NaN, or cropped if larger)."""
    tile = np.full((TILE, TILE), np.nan, dtype=np.float32)
    h, w = min(array.shape[0], TILE), min(array.shape[1], TILE)
    top, left = (array.shape[0] - h) // 2, (array.shape[1] - w) // 2
    y, x = (TILE - h) // 2, (TILE - w) // 2
    tile[y:y + h, x:x + w] = array[top:top + h, left:left + w]
    return tile


def _first_filters(plt, model, conv, images, title):
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
    cmap, low, high, label = OWN_SCALE
    return _tiles_over_tiles(plt, big, [f"filter {i + 1}" for i in range(len(big))], below,
                             f"the first {len(big)} filters ({size}) of the first conv layer, each over its output "
                             f"on the test image at the left\n{title}",
                             [(cmap, low, high, label.format("filter weight or output", "value"))],
                             first=_colour(image[0, 0].cpu().numpy(), "gray", -1, 1))


def _tiles_over_tiles(plt, weights, labels, below, title, bars, label_lines=1, per_row=8, first=None):
    """One figure under `title` with colour `bars`: labelled weight tiles (scaled to [-1, 1],
    drawn red-blue; labels of `label_lines` lines) in rows of `per_row`, each over its partner
    tile in `below` (RGB); `first`, when given, is an RGB tile shown at the left of the first
    lower row, set apart."""
    rows = []
    lead = [] if first is None else [None]
    for start in range(0, len(weights), per_row):
        rows.append(lead + [_colour(w, "RdBu_r", -1, 1) for w in weights[start:start + per_row]])
        rows.append(([first] if first is not None and start == 0 else lead) + below[start:start + per_row])
    # label room above the weight rows only, so that each tile stays close to its partner below
    image, top = mosaic(rows, spacers=(0,) if first is not None else (), fill=1.0,
                        labels=[LABEL * label_lines, 0] * (len(rows) // 2))
    fig, ax = _mosaic_figure(plt, image, title, bars)
    ax.imshow(image, interpolation="nearest")
    for i, label in enumerate(labels):
        x, y = top(2 * (i // per_row), len(lead) + i % per_row)
        ax.text(x, y, label, ha="center", va="bottom", fontsize=FONT, linespacing=1.1)
    if first is not None:
        x, y = top(1, 0)
        ax.text(x, y, "test image", ha="center", va="bottom", fontsize=FONT)
    return fig
