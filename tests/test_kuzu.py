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
from common import run_main

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
    pictures = [plot_dir / f"{name}_lin.png" for name in ("curves", "confusion", "confused", "weights")]
    for path in pictures:
        assert path.stat().st_size > 1000
    listed = re.findall(r"^  (\S+)  \(.+\)$", out, re.M)
    assert sorted(listed) == sorted(map(str, pictures + [model_path]))
    state = torch.load(model_path, weights_only=True)
    assert state["out.weight"].shape == (10, 784)

    # --load_model with --epochs 0 evaluates the saved model: the same test figures, no training
    kuzu_main.main(["--net", "lin", "--epochs", "0", "--load_model", str(model_path), "--data_dir", data_dir,
                    "--plot_dir", str(tmp_path / "again"), "--no_cuda"])
    again = capsys.readouterr().out
    assert "Train Epoch" not in again and "Evaluated only" in again
    assert re.findall(r"^Test set: .*$", again, re.M) == re.findall(r"^Test set: .*$", out, re.M)[-1:]
    assert (tmp_path / "again" / "weights_lin.png").exists() and not (tmp_path / "again" / "curves_lin.png").exists()


def test_output_fits_the_line_budget(tmp_path, capsys):
    # Two log lines an epoch, as --net lin has on the 7,011 images of kmnist-7k (110 batches).
    data_dir = make_kmnist(str(tmp_path / "data"), n_train=300, n_test=50)
    argv = ["--net", "lin", "--data_dir", data_dir, "--batch_size", "16", "--log_interval", "10",
            "--plot_dir", str(tmp_path / "plots"), "--no_cuda"]
    kuzu_main.main(argv)
    out = capsys.readouterr().out.splitlines()
    assert len(re.findall("Train Epoch", "\n".join(out))) == 20
    assert len(out) <= 80
    assert sum(" true\\pred" in line for line in out) == 1  # the matrix after the last epoch only
    kuzu_main.main(argv + ["--epochs", "2", "--verbose"])
    assert capsys.readouterr().out.count(" true\\pred") == 2


@pytest.mark.parametrize("name", ["lin", "full", "conv"])
def test_parameter_table_sums_to_the_count(name):
    model = kuzu.MODELS[name]()
    rows = kuzu_main.format_parameter_table(model).splitlines()[1:]
    counts = [int(row.split()[-1].replace(",", "")) for row in rows]
    assert sum(counts) == model.num_parameters()
    shapes = [eval(row[row.index("("):row.index(")") + 1]) for row in rows]  # the printed shapes
    assert counts == [int(np.prod(shape)) for shape in shapes]
    assert len(rows) == len(list(model.parameters()))


def test_per_class_accuracy_on_a_known_matrix():
    confusion = torch.zeros(10, 10, dtype=torch.long)
    confusion.fill_diagonal_(8)
    confusion[0, 1] = 2          # class o: 8 of 10 right
    confusion[3, 5] = 8          # class tsu: 8 of 16 right
    confusion[9, 9] = 0          # class wo: no images at all
    accuracy = kuzu_main.per_class_accuracy(confusion)
    assert accuracy[0] == 0.8 and accuracy[3] == 0.5 and accuracy[9] == 0 and accuracy[4] == 1
    assert float((accuracy * confusion.sum(dim=1)).sum()) == confusion.trace()
    text = kuzu_main.format_per_class(confusion)
    assert "o 80.0%" in text and "tsu 50.0%" in text and len(text.splitlines()) == 2


def test_help_shows_every_default():
    for action in kuzu_main.build_parser()._actions:
        if action.dest != "help":
            assert "default" in action.help, action.dest


def test_progress_bar_keeps_the_log_lines(data_dir, capsys):
    images, labels = kuzu.load_split(data_dir, train=True)
    args = kuzu_main.parse_args(["--net", "lin", "--log_interval", "2"])
    losses = []
    for progress in (False, True):
        torch.manual_seed(0)
        model = kuzu.NetLin()
        optimizer = kuzu_main.make_optimizer(args, model)
        scheduler = kuzu_main.make_scheduler(args, optimizer, len(labels))
        losses.append(kuzu_main.train(args, model, images, labels, optimizer, scheduler, 1,
                                      torch.Generator().manual_seed(0), progress))
        losses.append(capsys.readouterr().out)
    plain, with_bar = losses[1], losses[3]
    assert losses[0] == losses[2]
    assert "batch/s" not in plain and "batch" in with_bar
    for line in plain.splitlines():  # every log line, exactly, on a line of its own
        assert re.search("(^|\r|\n)" + re.escape(line) + "\n", with_bar)


def test_same_seed_same_numbers(data_dir, tmp_path, capsys):
    def run(seed):
        kuzu_main.main(["--net", "conv", "--epochs", "1", "--data_dir", data_dir, "--seed", str(seed),
                        "--log_interval", "1", "--plot_dir", str(tmp_path), "--no_cuda"])
        return [line for line in capsys.readouterr().out.splitlines() if "trained in" not in line]
    first = run(3)
    settings = next(line for line in first if line.startswith("SGD"))
    assert "SGD (Nesterov) lr 0.1 momentum 0.9, onecycle schedule, shifts up to 1 px, weight decay 0.0005, " \
        "label smoothing 0.1" in settings
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
    assert not os.path.exists(tmp_path / "nothing")  # the failed download left no empty folders


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


# ---------------------------------------------------------------- failing well (issue 12)

BAD_INPUTS = [  # (flags added to a good short lin run, exit status, what stderr must say)
    (["--lr", "nan"], 2, "argument --lr: must be a number > 0, not 'nan'"),
    (["--lr", "inf"], 2, "argument --lr: must be a number > 0, not 'inf'"),
    (["--lr", "0"], 2, "argument --lr: must be a number > 0"),
    (["--mom", "nan"], 2, "argument --mom: must be a number >= 0 and < 1"),
    (["--mom", "1"], 2, "argument --mom: must be a number >= 0 and < 1, not '1'"),
    (["--weight_decay", "nan"], 2, "argument --weight_decay: must be a number >= 0"),
    (["--weight_decay", "-1"], 2, "argument --weight_decay: must be a number >= 0"),
    (["--label_smoothing", "1"], 2, "argument --label_smoothing: must be a number >= 0 and < 1"),
    (["--epochs", "-1"], 2, "argument --epochs: must be a whole number >= 0"),
    (["--epochs", "1.5"], 2, "argument --epochs: must be a whole number"),
    (["--epochs", "inf"], 2, "argument --epochs: must be a whole number"),
    (["--batch_size", "0"], 2, "argument --batch_size: must be a whole number >= 1"),
    (["--test_batch_size", "0"], 2, "argument --test_batch_size: must be a whole number >= 1"),
    (["--log_interval", "0"], 2, "argument --log_interval: must be a whole number >= 1"),
    (["--shift", "100000"], 2, "argument --shift: must be a whole number >= 0 and <= 27"),
    (["--seed", "-1"], 2, "argument --seed: must be a whole number >= 0"),
    (["--seed", str(2 ** 32)], 2, "argument --seed: must be a whole number >= 0 and <= "),
    (["--epochs", "0"], 2, "--epochs 0 evaluates a saved model: give it with --load_model PATH"),
    (["--plot_dir", "{afile}"], 2, "error: --plot_dir {afile} is a file, not a folder"),
    (["--save_model", ""], 2, "error: --save_model needs a file name"),
    (["--save_model", "{plots}"], 2, "error: --save_model {plots} is a folder, not a file"),
    (["--save_model", "{afile}/m.pth"], 2, "error: --save_model {afile} is a file, not a folder"),
    (["--load_model", "{tmp}/missing.pth"], 2, "error: --load_model {tmp}/missing.pth: no such file"),
    (["--load_model", "{plots}"], 2, "error: --load_model {plots} is a folder, not a model file"),
    (["--load_model", "{afile}"], 2, "error: --load_model {afile} is not a model saved by kuzu_main.py"),
    (["--load_model", "{empty}"], 2, "error: --load_model {empty} is not a model saved by kuzu_main.py"),
    (["--load_model", "{random}"], 2, "error: --load_model {random} is not a model saved by kuzu_main.py"),
    (["--load_model", "{text_pickle}"], 2, "does not hold the weights of any of the nets lin, full, conv"),
    (["--load_model", "{wrong_shapes}"], 2, "does not hold the weights of any of the nets"),
    (["--load_model", "{conv_model}"], 2, "was saved with --net conv, not --net lin"),
    (["--data_dir", "{tmp}/mistyped"], 2, "error: KMNIST data not found and could not be downloaded"),
    (["--data_dir", "{afile}"], 2, "error: --data_dir {afile} is a file, not a folder"),
    (["--lr", "1e38"], 2, "error: the weights after epoch 1 are not finite (NaN or infinity): training diverged"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Synthetic data, and files that a bad run must leave as they were."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    paths = {"tmp": tmp, "data": make_kmnist(str(tmp / "data"), n_train=100, n_test=50),
             "afile": tmp / "afile", "plots": tmp / "plots", "model": tmp / "model.pth",
             "empty": tmp / "empty.pth", "random": tmp / "random.pth", "text_pickle": tmp / "text.pth",
             "wrong_shapes": tmp / "wrong.pth", "conv_model": tmp / "conv.pth"}
    paths["plots"].mkdir()
    paths["afile"].write_text("hi\n")
    (paths["plots"] / "confusion_lin.png").write_bytes(b"an earlier picture")
    paths["empty"].write_bytes(b"")
    paths["random"].write_bytes(np.random.default_rng(0).bytes(3000))
    torch.save("not a state_dict", paths["text_pickle"])
    torch.save({"out.weight": torch.zeros(3, 3), "out.bias": torch.zeros(3)}, paths["wrong_shapes"])
    torch.save(kuzu.NetConv().state_dict(), paths["conv_model"])
    torch.save(kuzu.NetLin().state_dict(), paths["model"])
    return paths


def snapshot(tmp):
    """Every file under tmp (but the data) with its bytes, and every folder."""
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in sorted(tmp.rglob("*"))
            if "data" not in p.relative_to(tmp).parts[:1]}


@pytest.mark.parametrize("flags, status, message", BAD_INPUTS, ids=[" ".join(c[0]) or "''" for c in BAD_INPUTS])
def test_bad_input_fails_well(flags, status, message, workspace, capsys, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # any download fails at once
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    fill = {name: str(path) for name, path in workspace.items()}
    argv = ["--net", "lin", "--epochs", "1", "--data_dir", fill["data"], "--plot_dir", fill["plots"],
            "--save_model", fill["model"], "--no_cuda"] + [flag.format(**fill) for flag in flags]
    before = snapshot(workspace["tmp"])
    with pytest.raises(SystemExit) as exit_info:  # any other exception fails the test with its traceback
        run_main(lambda: kuzu_main.main(argv))
    err = capsys.readouterr().err
    assert exit_info.value.code == status
    lines = err.strip().splitlines()
    assert message.format(**fill) in lines[-1] and "Traceback" not in err
    # one line, or argparse's usage block and then its one error line
    assert lines == [lines[-1]] and lines[-1].startswith("error: ") or \
        lines[0].startswith("usage: ") and ": error: argument" in lines[-1] or "--epochs 0" in message
    assert snapshot(workspace["tmp"]) == before  # nothing written, nothing left behind
