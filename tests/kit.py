"""What the tests share: synthetic KMNIST files, and copies of the kit with a student's own
files dropped in, run as a student runs them."""
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread
from matplotlib.text import Text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
# Any download fails at once: no test may reach the network.
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
OFFLINE = dict(os.environ, **NO_NETWORK)


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


def run_script(script, *args, cwd=None, timeout=600):
    """Run one of the kit's scripts as a user would, offline: the one in `cwd` there, or (no cwd)
    the repository's in an empty folder of its own, so that what it writes by default (plot/,
    net/) never lands in the repository."""
    if cwd is not None:
        return subprocess.run([sys.executable, script, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                              env=OFFLINE, timeout=timeout)
    with tempfile.TemporaryDirectory() as folder:
        return run_script(os.path.join(ROOT, script), *args, cwd=folder, timeout=timeout)


# ---------------------------------------------------------------- pictures for a report

def snapshot(folder, skip=()):
    """Every file and folder under `folder` (but the top-level names in skip), with its bytes."""
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in sorted(Path(folder).rglob("*"))
            if p.relative_to(folder).parts[0] not in skip}


def run_command_line(main, program, args):
    """Call main() as the command line runs it, in this process: sys.argv as typed (argparse names
    the program from it), run_main's one-line errors and exit statuses -> the exit status. Any other
    exception is left to fail the test with its traceback."""
    from common import run_main
    old_argv = sys.argv
    sys.argv = [program, *map(str, args)]
    try:
        run_main(main)
        return 0
    except SystemExit as exit:
        return exit.code
    finally:
        sys.argv = old_argv


def assert_fails_well(main, argv, message, capsys, folder, skip=(), program=None):
    """The harness of every script's table of bad inputs: main(argv), run as the command line
    runs it, must end with exit status 2, `message` in the last line of stderr, no traceback, and
    nothing under `folder` written, changed or removed. What it prints is one line of the kit's
    own ("error: ..."), or argparse's usage and then its one line (`program`: the script's name
    in it). Returns what it printed, stdout and stderr together."""
    before = snapshot(folder, skip)
    status = run_command_line(lambda: main(argv), program or "script.py", argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2, err
    assert "Traceback" not in out + err and message in lines[-1], err
    if lines[0].startswith("usage: "):
        assert ": error: " in lines[-1] and not lines[-1].startswith("error: "), err
    else:
        assert lines == [lines[-1]] and lines[-1].startswith("error: "), err
    assert snapshot(folder, skip) == before
    return out + err


def drawn_texts(fig):
    """The texts the figure shows, with their boxes in pixels: every non-empty visible text, the
    tick labels only of ticks in view on axes that are shown."""
    canvas = FigureCanvasAgg(fig)  # a figure closed after saving has lost its own
    canvas.draw()
    renderer = canvas.get_renderer()
    ticks, shown = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            locs = axis.get_majorticklocs()
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks(len(locs)) + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
                if ax.axison and axis.get_visible() and low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    shown += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    shown += [text for text in fig.findobj(Text) if id(text) not in ticks and text.get_visible()]
    return [(text, corners(text, renderer)) for text in shown if text.get_text().strip()]


def corners(text, renderer):
    """The four corners (pixels) of a text's box, turned as the text is."""
    centre = np.mean(text.get_window_extent(renderer).get_points(), axis=0)
    angle = np.radians(text.get_rotation())
    text.set_rotation(0)
    width, height = text.get_window_extent(renderer).size
    text.set_rotation(np.degrees(angle))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return centre + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * (width / 2, height / 2) @ turn.T


def overlap(a, b):
    """Whether two turned boxes (corners) overlap by more than a pixel: no side of either
    separates them."""
    for box in (a, b):
        for side in (box[1] - box[0], box[3] - box[0]):
            normal = np.array([-side[1], side[0]]) / np.hypot(*side)
            (a_low, a_high), (b_low, b_high) = ((min(c @ normal), max(c @ normal)) for c in (a, b))
            if min(a_high, b_high) - max(a_low, b_low) <= 1:
                return False
    return True


def picture_problems(fig, path):
    """What keeps the picture `fig`, saved at `path`, from going into a report as it is: larger
    than half an A4 page (8.3 x 5.8 in), not a PNG 1000-1600 pixels wide of the figure's shape,
    a text under 8 points, a text out of the picture or over another. [] when there is nothing."""
    problems = []
    width, height = fig.get_size_inches()
    if width > 8.3 + 1e-6 or height > 5.8 + 1e-6:
        problems.append(f"{width:.2f} x {height:.2f} inches: more than half an A4 page")
    with open(path, "rb") as file:
        if file.read(8) != b"\x89PNG\r\n\x1a\n":
            problems.append(f"{path} is not a PNG")
    rows, cols = imread(path).shape[:2]
    if not 1000 <= cols <= 1600 or abs(cols / rows - width / height) > 0.01:
        problems.append(f"saved {cols} x {rows} pixels for {width:.2f} x {height:.2f} inches")
    texts = drawn_texts(fig)
    page = fig.bbox.padded(1)
    for i, (text, box) in enumerate(texts):
        name = repr(text.get_text())
        if text.get_fontsize() < 8:
            problems.append(f"{name} at {text.get_fontsize():g} points")
        if not all(page.contains(*corner) for corner in box):
            problems.append(f"{name} is not all in the picture")
        problems += [f"{name} overlaps {other.get_text()!r}" for other, other_box in texts[i + 1:]
                     if overlap(box, other_box)]
    return problems
