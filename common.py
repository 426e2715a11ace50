"""What the lab scripts share: one-line errors, device choice, seeding, plotting, safe saves.

Every script runs its `main()` through `run_main`, so a mistake by the user
(a bad flag value, a missing or corrupt file) ends with one clear line on
stderr and a non-zero exit instead of a traceback.
"""
import os
import random
import sys
import tempfile

import numpy as np
import torch


class UserError(Exception):
    """A problem the user can fix (bad input, missing file); printed as one line."""


def run_main(main):
    """Call `main()`; turn UserError into `error: ...` and exit 2, Ctrl-C into exit 130."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def pick_device(no_cuda=False):
    """CUDA if present (unless no_cuda), else Apple MPS if present, else CPU."""
    if not no_cuda and torch.cuda.is_available():
        return torch.device("cuda")
    if not no_cuda and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed):
    """Seed Python, NumPy and torch so a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pyplot(show=False):
    """Return matplotlib.pyplot, on the headless Agg backend unless `show` is asked for."""
    import matplotlib
    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Save a figure, creating its folder; return the path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def save_atomic(obj, path):
    """torch.save through a temporary file and a rename, so an interrupted
    save never leaves a half-written file at `path`."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pth")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
