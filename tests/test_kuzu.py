"""Part 1: KMNIST loading, the three models and kuzu_main.py end to end, on small
synthetic files in torchvision's IDX layout (no network, no shared data needed)."""
import importlib.util
import os
import re

import numpy as np
import pytest
import torch

import kuzu
import kuzu_data
import kuzu_main
import kuzu_nets
import kuzu_plots
from kit import FIXTURES, NO_NETWORK, assert_fails_well, kit_copy, make_kmnist, picture_problems, run_script, write_idx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA = os.path.join(ROOT, "..", "shared", "data", "kmnist-7k")


@pytest.fixture
def data_dir(tmp_path):
    return make_kmnist(str(tmp_path / "data"))


def test_load_split_reads_idx_and_normalises(data_dir):
    images, labels = kuzu_data.load_split(data_dir, train=True)
    assert images.shape == (300, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (300,) and labels.dtype == torch.int64
    assert images.min() >= -1 and images.max() == 1  # (x/255 - 0.5) / 0.5
    c = int(labels[0])
    assert torch.all(images[0, 0, 2 * c + 4, 4:24] == 1)
    test_images, _ = kuzu_data.load_split(data_dir, train=False)
    assert test_images.shape == (100, 1, 28, 28)


def test_batches_cover_every_image_once_when_shuffled():
    labels = torch.arange(130)
    images = labels.float().view(-1, 1, 1, 1)
    generator = torch.Generator().manual_seed(0)
    seen = torch.cat([y for _, y in kuzu_data.batches(images, labels, 64, generator)])
    assert sorted(seen.tolist()) == list(range(130)) and seen.tolist() != list(range(130))
    sizes = [len(y) for _, y in kuzu_data.batches(images, labels, 64)]
    assert sizes == [64, 64, 2]


def test_random_shift_translates_each_image_by_at_most_max_shift():
    images = torch.full((20, 1, 28, 28), -1.0)
    images[:, 0, 10:18, 12:16] = torch.linspace(0, 1, 20).view(20, 1, 1)  # a distinct block per image
    shifted = kuzu_data.random_shift(images, 2, torch.Generator().manual_seed(0))
    offsets = set()
    for before, after in zip(images, shifted):
        rows, cols = torch.nonzero(after[0] > -1, as_tuple=True)
        dy, dx = int(rows.min()) - 10, int(cols.min()) - 12
        assert abs(dy) <= 2 and abs(dx) <= 2
        assert torch.equal(torch.roll(before, (dy, dx), dims=(1, 2)), after)
        offsets.add((dy, dx))
    assert len(offsets) > 5
    assert torch.equal(kuzu_data.random_shift(images, 0), images)


def test_parameter_counts():
    assert kuzu_nets.num_parameters(kuzu.NetLin()) == 784 * 10 + 10
    assert kuzu_nets.num_parameters(kuzu.NetFull(hid=50)) == 784 * 50 + 50 + 50 * 10 + 10
    conv = 1 * 16 * 25 + 2 * 16 + 16 * 32 * 9 + 2 * 32 + 32 * 7 * 7 * 128 + 128 + 128 * 10 + 10
    assert kuzu_nets.num_parameters(kuzu.NetConv()) == conv


@pytest.mark.parametrize("name", ["lin", "full", "conv"])
def test_models_output_log_probabilities(name):
    model = getattr(kuzu, kuzu_nets.NETS[name])().eval()
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
    assert [r[0] for r in rows[:10]] == list(kuzu_data.CLASSES)
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
    model = getattr(kuzu, kuzu_nets.NETS[name])()
    rows = kuzu_main.format_parameter_table(model).splitlines()[1:]
    counts = [int(row.split()[-1].replace(",", "")) for row in rows]
    assert sum(counts) == kuzu_nets.num_parameters(model)
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
    images, labels = kuzu_data.load_split(data_dir, train=True)
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


def test_missing_data_gives_one_line_error(tmp_path, run_in_process, monkeypatch):
    for name, value in NO_NETWORK.items():
        monkeypatch.setenv(name, value)  # the download fails at once
    result = run_in_process(kuzu_main.main, "kuzu_main.py", "--data_dir", tmp_path / "nothing", "--no_cuda")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: KMNIST data not found")
    for name in kuzu_data.RAW_FILES:
        assert name in lines[0]
    assert os.path.join(str(tmp_path / "nothing"), "KMNIST", "raw") in lines[0]
    assert os.listdir(tmp_path) == []  # no empty folders left: not the data's, not plot/


def test_truncated_file_gives_one_line_error(data_dir, run_in_process):
    path = os.path.join(data_dir, "KMNIST", "raw", "train-images-idx3-ubyte")
    with open(path, "r+b") as f:
        f.truncate(5000)
    result = run_in_process(kuzu_main.main, "kuzu_main.py", "--data_dir", data_dir, "--no_cuda")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "truncated or corrupt" in lines[0]


def test_idx_files_read_as_written_and_damaged_ones_refused(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "good", images)
    assert torch.equal(kuzu_data.read_idx(tmp_path / "good"), torch.from_numpy(images))
    (tmp_path / "short").write_bytes((tmp_path / "good").read_bytes()[:-1])
    (tmp_path / "text").write_bytes(b"not an idx file")
    for name, message in [("short", "holds 2,351 values for a shape of (3, 28, 28)"),
                          ("text", "is not an IDX file of unsigned bytes")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            kuzu_data.read_idx(tmp_path / name)


def test_unknown_net_is_an_argparse_error():
    result = run_script("kuzu_main.py", "--net", "cnn")
    assert result.returncode == 2 and "invalid choice: 'cnn'" in result.stderr


@pytest.mark.skipif(not os.path.isdir(REAL_DATA), reason="shared KMNIST subset not present")
def test_real_kmnist_subset_loads():
    images, labels = kuzu_data.load_split(REAL_DATA, train=True)
    test_images, test_labels = kuzu_data.load_split(REAL_DATA, train=False)
    assert images.shape == (7011, 1, 28, 28) and test_images.shape == (10000, 1, 28, 28)
    assert torch.bincount(test_labels).tolist() == [1000] * 10


# ---------------------------------------------------------------- failing well

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
    (["--load_model", "{text_pickle}"], 2, "does not hold the weights of NetLin as kuzu.py defines it"),
    (["--load_model", "{wrong_shapes}"], 2, "does not hold the weights of NetLin as kuzu.py defines it"),
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


@pytest.mark.parametrize("flags, status, message", BAD_INPUTS, ids=[" ".join(c[0]) or "''" for c in BAD_INPUTS])
def test_bad_input_fails_well(flags, status, message, workspace, capsys, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # any download fails at once
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    fill = {name: str(path) for name, path in workspace.items()}
    argv = ["--net", "lin", "--epochs", "1", "--data_dir", fill["data"], "--plot_dir", fill["plots"],
            "--save_model", fill["model"], "--no_cuda"] + [flag.format(**fill) for flag in flags]
    assert status == 2
    assert_fails_well(kuzu_main.main, argv, message.format(**fill), capsys, workspace["tmp"], skip=["data"],
                      program="kuzu_main.py")


# ---------------------------------------------------------------- the course's contract: students' own kuzu.py

@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    return make_kmnist(str(tmp_path_factory.mktemp("kmnist") / "data"))


STUDENT_FLAGS = ("--epochs", "1", "--no_cuda")


def run_student(run, tmp_path, fixture, *flags):
    """kuzu_main.py run with tests/fixtures/kuzu/FIXTURE.py as its kuzu.py, in this process."""
    return run(kuzu_main.main, "kuzu_main.py", *STUDENT_FLAGS, "--plot_dir", tmp_path / "plots", *flags,
               drop_in={"kuzu": os.path.join(FIXTURES, "kuzu", f"{fixture}.py")})


@pytest.mark.slow
@pytest.mark.parametrize("net, count", [("lin", "7,850"), ("full", "103,360"), ("conv", "27,562")])
def test_a_course_format_kuzu_py_trains_saves_reloads_and_draws(net, count, small_data, tmp_path, run_in_process):
    model = tmp_path / "model.pth"
    result = run_student(run_in_process, tmp_path, "other_names", "--net", net, "--data_dir", small_data,
                         "--save_model", model)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "trainable parameters" in result.stdout and count in result.stdout
    tested = re.findall(r"^Test set: Average loss: \d+\.\d{4}, Accuracy: (\d+)/100 .*$", result.stdout, re.M)
    assert len(tested) == 1 and (net != "lin" or int(tested[0]) >= 50)
    for picture in ("curves", "confusion", "confused", "weights"):
        assert (tmp_path / "plots" / f"{picture}_{net}.png").stat().st_size > 1000
    assert model.stat().st_size > 1000 and f"  {model}  (model weights)" in result.stdout
    if net != "lin":
        return  # reloading is the same code for every net: once is enough
    # the file dropped into a copy of the kit, run from the command line as a student runs it
    kit = kit_copy(tmp_path / "kit", kuzu=os.path.join(FIXTURES, "kuzu", "other_names.py"))
    again = run_script("kuzu_main.py", *STUDENT_FLAGS, "--net", net, "--data_dir", small_data, "--load_model", model,
                       "--epochs", "0", "--plot_dir", tmp_path / "again", cwd=kit)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert re.findall(r"^Test set: .*$", again.stdout, re.M) == re.findall(r"^Test set: .*$", result.stdout, re.M)


@pytest.mark.slow
@pytest.mark.parametrize("fixture, net, message", [
    ("stubs", "lin", "error: NetLin.forward returns int '0', not a tensor of log-probabilities of shape (N, 10)"),
    ("stubs", "conv", "error: NetConv.forward returns int '0', not a tensor"),
    ("mistakes", "lin", "error: NetLin() needs the arguments outputs: kuzu_main.py builds it with none, "
                        "so give each a default value"),
    ("mistakes", "conv", "error: NetConv.forward returns shape (2, 5) for a batch of shape (2, 1, 28, 28): "
                         "want (2, 10)"),
])
def test_a_network_that_breaks_the_contract_is_named_before_training(fixture, net, message, tmp_path,
                                                                    run_in_process):
    result = run_student(run_in_process, tmp_path, fixture, "--net", net, "--data_dir", tmp_path / "no-data-needed")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert not (tmp_path / "plots").exists() and not (tmp_path / "no-data-needed").exists()


@pytest.mark.slow
def test_outputs_that_are_not_log_probabilities_are_a_warning(small_data, tmp_path, run_in_process):
    result = run_student(run_in_process, tmp_path, "mistakes", "--net", "full", "--data_dir", small_data)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stdout.startswith("warning: NetFull's outputs are not log-probabilities (the exp of a row sums to ")
    assert "end forward with log_softmax, or the training loss will be wrong" in result.stdout.splitlines()[0]


@pytest.mark.slow
def test_what_cannot_be_drawn_is_skipped_in_one_line(small_data, tmp_path, run_in_process):
    result = run_student(run_in_process, tmp_path, "odd", "--net", "lin", "--data_dir", small_data, "--save_model",
                         tmp_path / "lin.pth")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "skipped the picture of what the model looks at: NetLin has no nn.Conv2d with one input channel " \
        "and no nn.Linear with 784 inputs" in result.stdout
    assert not (tmp_path / "plots" / "weights_lin.png").exists() and (tmp_path / "lin.pth").exists()


@pytest.mark.slow
def test_a_network_at_chance_gets_a_note_saying_what_to_try(small_data, tmp_path, run_in_process):
    result = run_student(run_in_process, tmp_path, "odd", "--net", "full", "--data_dir", small_data, "--epochs", "2")
    assert result.returncode == 0
    assert "Accuracy: 10/100" in result.stdout
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert notes == ["note: after epoch 1 the test accuracy is still at chance: the network is not learning. "
                     "Try --recipe course (plain SGD), and check that forward ends with log_softmax"]


def test_the_course_recipe_is_the_course_s_plain_sgd_for_every_net():
    for net in ("lin", "full", "conv"):
        args = kuzu_main.parse_args(["--net", net, "--recipe", "course"])
        assert (args.lr, args.mom, args.nesterov, args.schedule, args.shift, args.weight_decay,
                args.label_smoothing) == (0.01, 0.5, False, "constant", 0, 0.0, 0.0)
    conv = kuzu_main.parse_args(["--net", "conv"])
    assert (conv.lr, conv.mom, conv.nesterov, conv.schedule, conv.shift) == (0.1, 0.9, True, "onecycle", 1)
    assert kuzu_main.parse_args(["--net", "conv", "--recipe", "course", "--lr", "0.05"]).lr == 0.05


# ---------------------------------------------------------------- pictures for a report

def module_of(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OTHER_NAMES = os.path.join(FIXTURES, "kuzu", "other_names.py")
ODD = os.path.join(FIXTURES, "kuzu", "odd.py")


OWN_SCALE = "/ largest |weight| of its tile (each tile on its own scale"


@pytest.mark.parametrize("net, fixture, bars", [  # bars: what the label of each colour bar says
    ("lin", None, ["weight (red: for the class, blue: against it)"]),
    ("full", None, [OWN_SCALE, "pixel value"]),
    ("conv", None, [OWN_SCALE.replace("weight|", "value|")]),
    ("full", OTHER_NAMES, [OWN_SCALE, "pixel value"]),  # 130 hidden units
    ("conv", OTHER_NAMES, [OWN_SCALE.replace("weight|", "value|")]),  # 8 filters 3x3, no padding
    ("full", ODD, [OWN_SCALE, "pixel value"]),  # 20 hidden units
], ids=["lin", "full", "conv", "other full", "other conv", "odd full"])
def test_every_picture_of_a_run_goes_into_a_report_as_it_is(net, fixture, bars, data_dir, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = getattr(module_of(fixture) if fixture else kuzu, kuzu_nets.NETS[net])().eval()
    images, labels = kuzu_data.load_split(data_dir, train=False)
    args = kuzu_main.parse_args(["--net", net, "--plot_dir", str(tmp_path)])
    result = kuzu_main.test(args, model, images, labels)
    outputs = kuzu_main.Outputs(args, model, 60000)
    saved, save = {}, kuzu_plots.save_png

    def keep(fig, path):
        saved[os.path.basename(path)] = fig
        return save(fig, path)
    monkeypatch.setattr(kuzu_plots, "save_png", keep)
    curves = kuzu_plots.LearningCurves(outputs.run, outputs.path("curves"))
    curves.save([(2.3, 2.2, 12.0), (1.1, 1.3, 55.5)])
    curves.close()
    kuzu_main.draw_pictures(args, model, images, labels, result, outputs)
    assert sorted(saved) == sorted(f"{kind}_{net}.png" for kind in ("curves", "confusion", "confused", "weights"))
    for name, fig in saved.items():
        assert picture_problems(fig, tmp_path / name) == [], name
        titles = " ".join(text.get_text() for text in fig.texts + [ax.title for ax in fig.axes])
        assert type(model).__name__ in titles and "60,000" in titles and "seed 1" in titles, name
        assert name.startswith("curves") or "10 epochs" in titles, name
    # every colour scale has a bar that says what it means
    weights = saved[f"weights_{net}.png"]
    labels = [ax.get_ylabel().replace("\n", " ") for ax in weights.axes if getattr(ax, "_colorbar", None)]
    assert len(labels) == len(bars) and all(bar in label for bar, label in zip(bars, labels)), labels
    confusion = saved[f"confusion_{net}.png"]
    assert [ax.get_ylabel() for ax in confusion.axes if getattr(ax, "_colorbar", None)] == \
        ["test images misclassified (off-diagonal cells)"]
