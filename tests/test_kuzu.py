"""Part 1: KMNIST loading, the three models and kuzu_main.py end to end, on small
synthetic files in torchvision's IDX layout (no network, no shared data needed)."""
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

import kuzu
import kuzu_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA = os.path.join(ROOT, "..", "shared", "data", "kmnist-7k")


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


@pytest.fixture
def data_dir(tmp_path):
    return make_kmnist(str(tmp_path / "data"))


def run_script(*args):
    """Run kuzu_main.py as a user would; the proxy makes any download fail at once."""
    env = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    return subprocess.run([sys.executable, os.path.join(ROOT, "kuzu_main.py"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_load_split_reads_idx_and_normalises(data_dir):
    images, labels = kuzu.load_split(data_dir, train=True)
    assert images.shape == (300, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (300,) and labels.dtype == torch.int64
    assert images.min() >= -1 and images.max() == 1  # (x/255 - 0.5) / 0.5
    c = int(labels[0])
    assert torch.all(images[0, 0, 2 * c + 4, 4:24] == 1)
    test_images, _ = kuzu.load_split(data_dir, train=False)
    assert test_images.shape == (100, 1, 28, 28)


def test_batches_cover_every_image_once_when_shuffled():
    labels = torch.arange(130)
    images = labels.float().view(-1, 1, 1, 1)
    generator = torch.Generator().manual_seed(0)
    seen = torch.cat([y for _, y in kuzu.batches(images, labels, 64, generator)])
    assert sorted(seen.tolist()) == list(range(130)) and seen.tolist() != list(range(130))
    sizes = [len(y) for _, y in kuzu.batches(images, labels, 64)]
    assert sizes == [64, 64, 2]


def test_random_shift_translates_each_image_by_at_most_max_shift():
    images = torch.full((20, 1, 28, 28), -1.0)
    images[:, 0, 10:18, 12:16] = torch.linspace(0, 1, 20).view(20, 1, 1)  # a distinct block per image
    shifted = kuzu.random_shift(images, 2, torch.Generator().manual_seed(0))
    offsets = set()
    for before, after in zip(images, shifted):
        rows, cols = torch.nonzero(after[0] > -1, as_tuple=True)
        dy, dx = int(rows.min()) - 10, int(cols.min()) - 12
        assert abs(dy) <= 2 and abs(dx) <= 2
        assert torch.equal(torch.roll(before, (dy, dx), dims=(1, 2)), after)
        offsets.add((dy, dx))
    assert len(offsets) > 5
    assert torch.equal(kuzu.random_shift(images, 0), images)


def test_parameter_counts():
    assert kuzu.NetLin().num_parameters() == 784 * 10 + 10
    assert kuzu.NetFull(hid=50).num_parameters() == 784 * 50 + 50 + 50 * 10 + 10
    conv = 1 * 16 * 25 + 2 * 16 + 16 * 32 * 9 + 2 * 32 + 32 * 7 * 7 * 128 + 128 + 128 * 10 + 10
    assert kuzu.NetConv().num_parameters() == conv


@pytest.mark.parametrize("name", ["lin", "full", "conv"])
def test_models_output_log_probabilities(name):
    model = kuzu.MODELS[name]().eval()
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(5), atol=1e-5)


def test_main_prints_the_course_format_and_saves(data_dir, tmp_path, capsys):
    plot_dir, model_path = tmp_path / "plots", tmp_path / "m" / "lin.pth"
    kuzu_main.main(["--net", "lin", "--epochs", "2", "--data_dir", data_dir, "--log_interval", "2",
                    "--plot_dir", str(plot_dir), "--save_model", str(model_path), "--no_cuda"])
    out = capsys.readouterr().out
    assert "NetLin: 7,850 trainable parameters" in out
    train_lines = re.findall(r"^Train Epoch: (\d) \[(\d+)/300 \((\d+)%\)\]\tLoss: \d+\.\d{6}$", out, re.M)
    assert [(e, n) for e, n, _ in train_lines[:3]] == [("1", "0"), ("1", "128"), ("1", "256")]
    tests = re.findall(r"^Test set: Average loss: (\d+\.\d{4}), Accuracy: (\d+)/100 \((\d+)%\)$", out, re.M)
    assert len(tests) == 2
    assert int(tests[-1][1]) >= 90  # the bars are easy to learn
    rows = re.findall(r"^ +(o|ki|su|tsu|na|ha|ma|ya|re|wo)((?: +\d+){10})$", out, re.M)
    assert [r[0] for r in rows[:10]] == list(kuzu.CLASSES)
    last = np.array([[int(v) for v in r[1].split()] for r in rows[-10:]])
    assert last.sum() == 100 and np.trace(last) == int(tests[-1][1])
    assert "Most confused (true -> predicted):" in out
    assert (plot_dir / "confusion_lin.png").stat().st_size > 1000
    state = torch.load(model_path, weights_only=True)
    assert state["out.weight"].shape == (10, 784)


def test_same_seed_same_numbers(data_dir, tmp_path, capsys):
    def run(seed):
        kuzu_main.main(["--net", "conv", "--epochs", "1", "--data_dir", data_dir, "--seed", str(seed),
                        "--log_interval", "1", "--plot_dir", str(tmp_path), "--no_cuda"])
        return [line for line in capsys.readouterr().out.splitlines() if "trained in" not in line]
    first = run(3)
    assert "SGD (Nesterov) lr 0.1 momentum 0.9, onecycle schedule, shifts up to 1 px, weight decay 0.0005, " \
        "label smoothing 0.1" in first[1]
    assert run(3) == first
    assert run(4) != first


def test_conv_learns_with_its_own_recipe(data_dir, tmp_path, capsys):
    # No shifts here: a 2-pixel shift would move one synthetic bar onto the next class's row.
    kuzu_main.main(["--net", "conv", "--epochs", "10", "--shift", "0",
                    "--data_dir", data_dir, "--plot_dir", str(tmp_path), "--no_cuda"])
    out = capsys.readouterr().out
    assert "SGD (Nesterov) lr 0.1 momentum 0.9, onecycle schedule, shifts up to 0 px" in out
    accuracy = int(re.findall(r"Accuracy: (\d+)/100", out)[-1])
    assert accuracy >= 90


def test_missing_data_gives_one_line_error(tmp_path):
    result = run_script("--data_dir", str(tmp_path / "nothing"), "--no_cuda")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: KMNIST data not found")
    for name in kuzu.RAW_FILES:
        assert name in lines[0]
    assert os.path.join(str(tmp_path / "nothing"), "KMNIST", "raw") in lines[0]


def test_truncated_file_gives_one_line_error(data_dir):
    path = os.path.join(data_dir, "KMNIST", "raw", "train-images-idx3-ubyte")
    with open(path, "r+b") as f:
        f.truncate(5000)
    result = run_script("--data_dir", data_dir, "--no_cuda")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "truncated or corrupt" in lines[0]


def test_unknown_net_is_an_argparse_error():
    result = run_script("--net", "cnn")
    assert result.returncode == 2 and "invalid choice: 'cnn'" in result.stderr


@pytest.mark.skipif(not os.path.isdir(REAL_DATA), reason="shared KMNIST subset not present")
def test_real_kmnist_subset_loads():
    images, labels = kuzu.load_split(REAL_DATA, train=True)
    test_images, test_labels = kuzu.load_split(REAL_DATA, train=False)
    assert images.shape == (7011, 1, 28, 28) and test_images.shape == (10000, 1, 28, 28)
    assert torch.bincount(test_labels).tolist() == [1000] * 10
