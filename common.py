"""What the lab scripts share: one-line errors, checked flag values and output paths, device
choice, seeding, plotting, atomic saves.

Every script runs its `main()` through `run_main`, so a mistake by the user (a bad flag value, a
missing or corrupt file, a full disk) ends with one clear line on stderr and a non-zero exit
instead of a traceback. Flag values are checked by argparse types made with `number()`, so every
script words a bad number the same way, and output paths are checked with `writable_dir()` /
`writable_file()` before any training starts, so no work is lost to a path that cannot be written.
"""
import argparse
import math
import os
import random
import sys
import tempfile
import traceback

import numpy as np
import torch

SEED_LIMIT = 2 ** 32      # numpy and torch accept seeds 0 .. 2**32 - 1


class UserError(Exception):
    """A problem the user can fix (bad input, missing file); printed as one line."""


def run_main(main):
    """Call `main()`; turn UserError into `error: ...` and exit 2, Ctrl-C into exit 130, and the
    failures no check can foresee (out of memory, a disk that fills up) into one line and exit 1."""
    try:
        main()
    except (UserError, NotImplementedError) as err:  # NotImplementedError: a stub of the student edition
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except MemoryError:
        print("error: out of memory: use smaller sizes", file=sys.stderr)
        sys.exit(1)
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        print(f"error: cannot write or read{where}: {err.strerror or err}", file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------- flag values

def number(kind=float, low=None, high=None, low_open=False, high_open=False):
    """An argparse `type`: a finite int or float in [low, high] (an end is open where asked,
    None is no bound). A bad value gets argparse's usage line and
    `argument --lr: must be a number > 0, not 'nan'`, the same wording in every script."""
    show = (lambda v: str(v)) if kind is int else (lambda v: f"{v:g}")
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {show(low)}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {show(high)}")
    wanted = f"{'a whole number' if kind is int else 'a number'}{' ' if bounds else ''}{' and '.join(bounds)}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
        if (not math.isfinite(value)
                or low is not None and (value <= low if low_open else value < low)
                or high is not None and (value >= high if high_open else value > high)):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    parse.__name__ = kind.__name__       # argparse names the type in some messages
    return parse


SEED = number(int, 0, SEED_LIMIT - 1)


# ---------------------------------------------------------------- output paths

def first_missing_folder(path):
    """The outermost folder on the way to `path` that does not exist yet (None if all do)."""
    path = os.path.abspath(path)
    missing = None
    while not os.path.exists(path):
        missing, path = path, os.path.dirname(path)
    return missing


def writable_dir(path, flag):
    """Check, before any work, that folder `path` (empty: the current one) can be created and
    written; return it. UserError naming `flag` if not. The folders made to try are removed
    again (saving makes them), so that a run that fails later leaves none behind."""
    path = path or "."
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path} is a file, not a folder")
    made = first_missing_folder(path)
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".probe-")
        try:
            os.write(fd, bytes(4096))       # a full disk still lets an empty file be made
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as err:
        raise UserError(f"{flag}: cannot write in {path}: {err.strerror or err}") from None
    finally:
        folder = os.path.abspath(path)
        while made and len(folder) >= len(made):  # up from `path` to the outermost folder made here
            try:
                os.rmdir(folder)
            except OSError:  # not made, or no longer empty
                break
            folder = os.path.dirname(folder)
    return path


def writable_file(path, flag):
    """Check, before any work, that file `path` can be written (its folder made and written, and
    it is not a folder); return it. UserError naming `flag` if not."""
    if not path:
        raise UserError(f"{flag} needs a file name")
    if os.path.isdir(path):
        raise UserError(f"{flag} {path} is a folder, not a file")
    writable_dir(os.path.dirname(path), flag)
    return path


def describe(err, file):
    """One line for an exception raised by the student's `file` (kuzu.py, check.py): its type,
    message and the last line of that file it came through."""
    where = [f" ({file}, line {frame.lineno})" for frame in traceback.extract_tb(err.__traceback__)
             if os.path.basename(frame.filename) == file]
    message = " ".join(str(err).split())
    return f"{type(err).__name__}{': ' + message if message else ''}{where[-1] if where else ''}"


def check_finite(tensors, what):
    """UserError when any tensor holds NaN or infinity (a training that diverged)."""
    if not all(torch.isfinite(t).all() for t in tensors):
        raise UserError(f"{what} are not finite (NaN or infinity): training diverged; "
                        "try a smaller learning rate")


# ---------------------------------------------------------------- device, seeds, plots

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


# ---------------------------------------------------------------- atomic writes

def write_atomic(path, write):
    """Call write(temporary path) in path's folder, then rename the file onto `path`: a failed
    or interrupted write (full disk, Ctrl-C) leaves the old file, if any, as it was."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_atomic(obj, path):
    """torch.save `obj` to `path` atomically; a failed write (torch reports a full disk as a
    RuntimeError of its C++ stream) is a one-line UserError, and the old file stays."""
    try:
        return write_atomic(path, lambda tmp: torch.save(obj, tmp))
    except RuntimeError as err:
        raise UserError(f"cannot write {path}: {str(err).splitlines()[0]} (is the disk full?)") from None


def save_text(text, path):
    """Write a text file atomically."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return write_atomic(path, write)


REPORT_WIDTH = 1300  # pixels: a picture this wide fills half an A4 page at about 160 dpi


def save_png(fig, path):
    """Save a figure as a PNG REPORT_WIDTH pixels wide, whatever its size in inches, atomically;
    return the path."""
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=REPORT_WIDTH / fig.get_figwidth(), format="png"))
