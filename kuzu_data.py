"""Kuzushiji-MNIST for kuzu_main.py: the files loaded once into tensors, batches by slicing,
and random shifts for augmentation.

The images are normalised as in the course (mean 0.5, std 0.5) and batched by slicing the
tensors, so training never touches a per-sample Dataset or transform.
"""
import contextlib
import io
import math
import os
import shutil
import struct

import torch
import torch.nn.functional as F

from common import UserError, first_missing_folder

CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def raw_folder(data_dir):
    """Where torchvision keeps the uncompressed KMNIST files under data_dir."""
    return os.path.join(data_dir, "KMNIST", "raw")


def load_split(data_dir, train, device="cpu"):
    """Return (images, labels) of one split as tensors on `device`.

    images: float32 (N, 1, 28, 28), scaled to [-1, 1] (mean 0.5, std 0.5);
    labels: int64 (N,). Downloads with torchvision when the files are missing;
    a failed download or an unreadable file becomes a one-line UserError.
    """
    prefix = "train" if train else "t10k"
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
        raise UserError(f"--data_dir {data_dir} is a file, not a folder")
    folder = raw_folder(data_dir)
    missing = [f for f in RAW_FILES if not os.path.isfile(os.path.join(folder, f))]
    try:
        if missing:
            _download(data_dir)
        images = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte")).long()
    except UserError:
        raise
    except (OSError, ValueError, struct.error) as err:
        raise UserError(f"KMNIST files in {folder} are truncated or corrupt ({err}); "
                        f"delete them and download or copy them again") from None
    if images.dim() != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels) \
            or len(labels) == 0 or labels.min() < 0 or labels.max() >= len(CLASSES):
        raise UserError(f"KMNIST files in {folder} do not hold 28x28 images with labels 0-9")
    images = images.to(device=device, dtype=torch.float32).div_(255).sub_(0.5).div_(0.5)
    return images.unsqueeze(1), labels.to(device)


def read_idx(path):
    """An IDX file of unsigned bytes, the MNIST family's format (two zero bytes, the type 8, the
    number of dimensions, each size as a big-endian 32-bit integer, then the values) -> a uint8
    tensor of that shape. torchvision reads them the same way; reading them here spares every
    run the second or so that importing torchvision takes."""
    with open(path, "rb") as file:
        data = bytearray(file.read())           # writable, for torch.frombuffer
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{os.path.basename(path)} is not an IDX file of unsigned bytes")
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    values = len(data) - 4 - 4 * dims
    if values != math.prod(shape):
        raise ValueError(f"{os.path.basename(path)} holds {values:,} values for a shape of {shape}")
    return torch.frombuffer(data, dtype=torch.uint8, offset=4 + 4 * dims).reshape(shape)


def _download(data_dir):
    """Let torchvision fetch the four files; offline, say exactly what is needed, and remove
    the folders this attempt made, so that a mistyped --data_dir leaves nothing behind."""
    import torchvision                      # only here: it takes a second to import
    made = first_missing_folder(raw_folder(data_dir))
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
