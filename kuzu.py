"""Kuzushiji-MNIST: the data and three classifiers of increasing power.

The data is loaded once into tensors (normalised as in the course, mean 0.5,
std 0.5) and batched by slicing, so training never touches a per-sample
Dataset or transform. The three networks all end in log_softmax, so the
training loss is the negative log likelihood of the true class.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from common import UserError

CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ----------------------------------------------------------------------------
# Data

def raw_folder(data_dir):
    """Where torchvision keeps the uncompressed KMNIST files under data_dir."""
    return os.path.join(data_dir, "KMNIST", "raw")


def load_split(data_dir, train, device="cpu"):
    """Return (images, labels) of one split as tensors on `device`.

    images: float32 (N, 1, 28, 28), scaled to [-1, 1] (mean 0.5, std 0.5);
    labels: int64 (N,). Downloads with torchvision when the files are missing;
    a failed download or an unreadable file becomes a one-line UserError.
    """
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
        raise UserError(f"--data_dir {data_dir} is a file, not a folder")
    folder = raw_folder(data_dir)
    missing = [f for f in RAW_FILES if not os.path.isfile(os.path.join(folder, f))]
    try:
        if missing:
            _download(data_dir)
        dataset = torchvision.datasets.KMNIST(data_dir, train=train, download=False)
    except UserError:
        raise
    except Exception as err:  # torchvision raises bare RuntimeError/ValueError on bad files
        raise UserError(f"KMNIST files in {folder} are truncated or corrupt ({err}); "
                        f"delete them and download or copy them again") from None
    images, labels = dataset.data, dataset.targets
    if images.dim() != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) \
            or len(labels) == 0 or labels.min() < 0 or labels.max() >= len(CLASSES):
        raise UserError(f"KMNIST files in {folder} do not hold 28x28 images with labels 0-9")
    images = images.to(device=device, dtype=torch.float32).div_(255).sub_(0.5).div_(0.5)
    return images.unsqueeze(1), labels.to(device)


def _download(data_dir):
    """Let torchvision fetch the four files; offline, say exactly what is needed, and remove
    the folders this attempt made, so that a mistyped --data_dir leaves nothing behind."""
    import contextlib
    import io
    import shutil
    made = _first_missing_folder(raw_folder(data_dir))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # silence the per-mirror chatter
            torchvision.datasets.KMNIST(data_dir, train=True, download=True)
            torchvision.datasets.KMNIST(data_dir, train=False, download=True)
    except Exception:
        if made:
            shutil.rmtree(made, ignore_errors=True)  # it did not exist before: all of it is ours
        raise UserError(f"KMNIST data not found and could not be downloaded; put the four files "
                        f"{', '.join(RAW_FILES)} (uncompressed IDX) in {raw_folder(data_dir)}/ "
                        f"or pass --data_dir to a folder that has KMNIST/raw/") from None


def _first_missing_folder(path):
    """The outermost folder on the way to `path` that does not exist yet (None if all do)."""
    path = os.path.abspath(path)
    missing = None
    while not os.path.exists(path):
        missing, path = path, os.path.dirname(path)
    return missing


def batches(images, labels, batch_size, generator=None):
    """Yield (images, labels) batches by slicing; shuffled when a generator is given."""
    n = len(labels)
    order = torch.randperm(n, generator=generator).to(labels.device) if generator is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield images[start:start + batch_size], labels[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield images[idx], labels[idx]


def random_shift(images, max_shift, generator=None):
    """Shift each image by its own random whole-pixel offset in [-max_shift, max_shift]
    in x and y, filling with the background value (-1 after normalisation)."""
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1, 1), generator=generator).to(images.device)
    rows = torch.arange(h, device=images.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=images.device).view(1, 1, w) + dx
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch, 0, rows, cols].unsqueeze(1)


# ----------------------------------------------------------------------------
# Models

class Net(nn.Module):
    """Base class: adds a parameter count, and the table it sums, to nn.Module."""

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def parameter_table(self):
        """(name, layer type, shape, count) for every trainable tensor, in the model's order."""
        layers = dict(self.named_modules())
        return [(name, type(layers[name.rpartition(".")[0]]).__name__, tuple(p.shape), p.numel())
                for name, p in self.named_parameters() if p.requires_grad]


class NetLin(Net):
    # BEGIN SOLUTION: Part 1: write NetLin: one linear layer from the 784 pixels to 10 outputs, then log_softmax
    """Linear function of the 784 pixels, then log_softmax (multinomial logistic regression)."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return F.log_softmax(self.out(x.flatten(1)), dim=1)
    # END SOLUTION


class NetFull(Net):
    # BEGIN SOLUTION: Part 1: write NetFull: one fully connected hidden layer of tanh units, then log_softmax
    """One fully connected hidden layer of tanh units, then log_softmax.

    Weights start with Glorot (Xavier) initialisation, which was derived for tanh
    layers: torch's default range is about half as wide here, and at the course's
    learning rate the network then spends most of its 10 epochs growing them.
    """

    def __init__(self, hid=400):
        super().__init__()
        self.hid = nn.Linear(28 * 28, hid)
        self.out = nn.Linear(hid, 10)
        for layer in (self.hid, self.out):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        return F.log_softmax(self.out(torch.tanh(self.hid(x.flatten(1)))), dim=1)
    # END SOLUTION


class NetConv(Net):
    # BEGIN SOLUTION: Part 1: write NetConv: two conv layers and one fully connected hidden layer, all relu, then log_softmax
    """Two convolutional layers and one fully connected hidden layer, all relu, then log_softmax.

    conv 5x5 (16) -> pool -> conv 3x3 (32) -> pool -> fc (128) -> 10. The first
    layer sees a wider patch for little cost (it has one input channel). Batch
    norm after each convolution lets it train fast at a high learning rate;
    dropout before the output layer, and the random shifts, label smoothing and
    weight decay of its recipe in kuzu_main.py, keep it from memorising a small
    training set.
    """

    def __init__(self, channels=(16, 32), hid=128, dropout=0.25):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.hid = nn.Linear(c2 * 7 * 7, hid)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hid, 10)
        # Channels-last layout (pixels outermost, channels innermost) makes the CPU
        # convolutions about 40% faster; the arithmetic is the same.
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # 28x28 -> 14x14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # 14x14 -> 7x7
        x = self.drop(F.relu(self.hid(x.flatten(1))))
        return F.log_softmax(self.out(x), dim=1)
    # END SOLUTION


MODELS = {"lin": NetLin, "full": NetFull, "conv": NetConv}


def net_of(state):
    """The name of the network whose weights `state` (a state_dict) holds, or None."""
    for name, cls in MODELS.items():
        expected = cls().state_dict()
        if state.keys() == expected.keys() and all(
                isinstance(state[k], torch.Tensor) and state[k].shape == v.shape for k, v in expected.items()):
            return name
    return None


def load_model(path, name, device="cpu"):
    """The network `name` with the weights saved in `path` by kuzu_main.py --save_model.

    Only tensors are unpickled (weights_only), so a file from elsewhere cannot run code;
    a missing, corrupt or foreign file, or one saved for another network, is a one-line UserError.
    """
    if os.path.isdir(path):
        raise UserError(f"--load_model {path} is a folder, not a model file")
    if not os.path.isfile(path):
        raise UserError(f"--load_model {path}: no such file")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # torch's own text about unpickling is long and suggests unsafe loading
        raise UserError(f"--load_model {path} is not a model saved by kuzu_main.py "
                        f"(empty, truncated or another kind of file)") from None
    saved_as = net_of(state) if isinstance(state, dict) else None
    if saved_as is None:
        raise UserError(f"--load_model {path} does not hold the weights of any of the nets "
                        f"{', '.join(MODELS)}")
    if saved_as != name:
        raise UserError(f"--load_model {path} was saved with --net {saved_as}, not --net {name}")
    model = MODELS[name]().to(device)
    model.load_state_dict(state)
    return model
