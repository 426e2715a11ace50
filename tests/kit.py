"""What the tests share: synthetic KMNIST files, and copies of the kit with a student's own
files dropped in, run as a student runs them."""
import glob
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
# Any download fails at once: no test may reach the network.
OFFLINE = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")


def write_idx(path, array):
    """Write a uint8 array as an IDX file (magic 0x0000080N, big-endian sizes)."""
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 + array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def make_kmnist(root, n_train=300, n_test=100, seed=0):
    """Synthetic KMNIST: class c is a bright bar at row 2c+4 plus noise, so it is learnable."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, "KMNIST", "raw")
    os.makedirs(raw)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c + 4, 4:24] = 255
        write_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"), images)
        write_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte"), labels)
    return root


def kit_copy(folder, **files):
    """The kit's top-level files copied into `folder`, with `files` (name without .py -> path of a
    fixture) put in their place, as a student drops their own kuzu.py or check.py in. Returns folder."""
    os.makedirs(folder, exist_ok=True)
    for path in glob.glob(os.path.join(ROOT, "*.py")) + [os.path.join(ROOT, "check.csv")]:
        shutil.copy(path, folder)
    for name, source in files.items():
        shutil.copy(source, os.path.join(folder, f"{name}.py"))
    return str(folder)


def run_script(script, *args, cwd=ROOT, timeout=600):
    """Run one of the kit's scripts in `cwd` as a user would, offline."""
    return subprocess.run([sys.executable, script, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=OFFLINE, timeout=timeout)
