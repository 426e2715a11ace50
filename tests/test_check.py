"""Part 2: the 3x3 check task (check.py, check_main.py, check.csv)."""
import csv
import json
import math
import os
import resource
import signal
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings, strategies as st
from matplotlib.text import Annotation

import check_main
import check_plots
from check import HAND_WEIGHTS, SIG_SCALE, MLP, load_data, load_weights, save_weights
from check_main import accuracy, activation_rows, activation_table, line_equation, train
from check_plots import clip_line, lines_picture, network_numbers, network_picture, weight_text
from common import UserError, pyplot, run_main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "check.csv")


@pytest.fixture(autouse=True)
def one_thread():
    """Nine points: tiny tensor ops run much faster on one thread (check_main does the same)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(monkeypatch, *argv):
    """Run check_main's main() as the command line would, but in this process (much
    faster than a subprocess that imports torch again); return the exit code."""
    monkeypatch.setattr(sys, "argv", ["check_main.py", *argv])  # argparse names the program from it
    try:
        run_main(check_main.main)
    except SystemExit as exit:
        return exit.code
    return 0


def written_files(out):
    """The paths listed under 'files written:' at the end of a run's output."""
    return [line.strip() for line in out[out.index("files written:\n"):].splitlines()[1:]]


def test_data_file_is_the_checkerboard():
    inputs, targets = load_data(DATA)
    points = [tuple(point) for point in inputs.tolist()]
    assert sorted(points) == [(x, y) for x in (0.0, 1.0, 2.0) for y in (0.0, 1.0, 2.0)]
    for (x, y), target in zip(points, targets[:, 0].tolist()):
        assert target == (x + y) % 2
    with open(DATA) as file:
        assert file.readline().strip() == "x,y,target"


def test_step_forward_on_known_weights():
    # h1 = [x >= 1], h2 = [y >= 1], output = [h1 + h2 - 2 >= 0] = h1 AND h2
    net = MLP(2, "step")
    net.set_weights({"in_hid_weight": [[1, 0], [0, 1]], "hid_bias": [-1, -1],
                     "hid_out_weight": [[1, 1]], "out_bias": [-2]})
    output = net(torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 2.0]]))
    assert net.hidden.tolist() == [[0, 0], [1, 0], [1, 1], [0, 1]]  # x = 1 is exactly on the line: fires
    assert output[:, 0].tolist() == [0, 0, 1, 0]


def test_sigmoid_forward_on_known_weights():
    net = MLP(1, "sig")
    net.set_weights({"in_hid_weight": [[1, 2]], "hid_bias": [0.5], "hid_out_weight": [[3]], "out_bias": [-1]})
    output = net(torch.tensor([[1.0, -1.0]]))
    sigmoid = lambda z: 1 / (1 + math.exp(-z))
    hidden = sigmoid(1 * 1 + 2 * -1 + 0.5)
    assert net.hidden.item() == pytest.approx(hidden)
    assert output.item() == pytest.approx(sigmoid(3 * hidden - 1))


@pytest.mark.parametrize("act", ["step", "sig"])
def test_shipped_weights_classify_all_nine_points(act):
    inputs, targets = load_data(DATA)
    net = MLP(4, act)
    net.set_weights()
    with torch.no_grad():
        output = net(inputs)
    assert accuracy(output, targets) == 100.0
    # step: exactly the targets; sig (weights x SIG_SCALE): within 0.01 of them, as check.py says
    assert (output - targets).abs().max().item() < (1e-6 if act == "step" else 0.01)


def test_sigmoid_uses_the_scaled_weights_unless_told_otherwise():
    net = MLP(4, "sig")
    net.set_weights()
    assert net.in_hid.weight.tolist() == (SIG_SCALE * torch.tensor(HAND_WEIGHTS["in_hid_weight"])).tolist()
    net.set_weights(scale=1)
    assert net.hid_out.bias.tolist() == HAND_WEIGHTS["out_bias"]
    net.set_weights(HAND_WEIGHTS)  # weights given explicitly (as from a file) are used as written
    assert net.in_hid.bias.tolist() == HAND_WEIGHTS["hid_bias"]


def test_weights_file_round_trip(tmp_path):
    torch.manual_seed(1)
    net = MLP(3, "sig")
    net.init_weights(0.7)
    path = tmp_path / "weights.json"
    save_weights(net, path)
    copy = MLP(3, "sig")
    copy.set_weights(load_weights(path))
    for name, param in net.named_weights().items():
        assert torch.equal(param, copy.named_weights()[name]), name
    assert set(json.loads(path.read_text())) == set(HAND_WEIGHTS)


def test_weights_round_trip_through_the_command_line(monkeypatch, capsys, tmp_path):
    saved = tmp_path / "w.json"
    assert run_cli(monkeypatch, "--act", "sig", "--hid", "4", "--set_weights", "--save_weights", str(saved),
                   "--data", DATA, "--plot_dir", str(tmp_path / "a")) == 0
    first = capsys.readouterr().out
    # the saved file already holds the x10 weights, and a file is used as written
    assert run_cli(monkeypatch, "--act", "sig", "--hid", "4", "--weights", str(saved),
                   "--data", DATA, "--plot_dir", str(tmp_path / "b")) == 0
    second = capsys.readouterr().out
    table = lambda out: out[out.index("\nx "):out.index("final accuracy")]
    assert table(first) == table(second)
    assert "final accuracy: 100.0%" in second


def test_line_equations_by_hand():
    assert line_equation(2, 4, -8) == "2*x + 4*y - 8 = 0  ->  y = -0.5*x + 2"
    assert line_equation(2, 0, -4) == "2*x - 4 = 0  ->  x = 2"
    assert line_equation(-1, 3, 0) == "-1*x + 3*y = 0  ->  y = 0.3333*x"
    assert line_equation(4, 1, 2) == "4*x + 1*y + 2 = 0  ->  y = -4*x - 2"
    assert line_equation(10, 0.5, -5) == "10*x + 0.5*y - 5 = 0  ->  x = -0.05*y + 0.5"  # nearly vertical
    assert "no line" in line_equation(0, 0, 1)


def test_activation_table_by_hand():
    # one hidden node h = [x >= 1]; output = [h - 0.5 >= 0] = h; targets say x + y odd
    net = MLP(1, "step")
    net.set_weights({"in_hid_weight": [[1, 0]], "hid_bias": [-1], "hid_out_weight": [[1]], "out_bias": [-0.5]})
    inputs, targets = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]), torch.tensor([[1.0], [0.0], [1.0]])
    rows = [line.split() for line in activation_table(net, inputs, targets).splitlines()]
    assert rows == [["x", "y", "h1", "out", "target", "correct"],
                    ["0", "1", "0", "0", "1", "NO"],
                    ["1", "1", "1", "1", "0", "NO"],
                    ["2", "1", "1", "1", "1", "yes"]]


def test_training_prints_progress_and_lowers_the_loss(capsys):
    inputs, targets = load_data(DATA)
    torch.manual_seed(0)
    net = MLP(5, "sig")
    net.init_weights(0.1)
    loss = lambda: torch.nn.functional.binary_cross_entropy(net(inputs), targets).item()
    before = loss()
    assert train(net, inputs, targets, lr=0.01, max_epochs=300) == 300  # cannot hold 100% for 2000 epochs yet
    assert loss() < before
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["ep:", "100"], ["ep:", "200"], ["ep:", "300"]]
    assert all(line.split()[2] == "loss:" and line.split()[4] == "acc:" for line in lines)


def test_set_weights_write_every_picture_and_the_table(monkeypatch, capsys, tmp_path):
    assert run_cli(monkeypatch, "--act", "step", "--hid", "4", "--set_weights", "--plot_dir", str(tmp_path)) == 0
    names = ["check.jpg", "table_step4_set.csv", "net_step4_set.png", "lines_step4_set.png", "out_step4_set.jpg"]
    names += [f"h{i}_step4_set.jpg" for i in range(1, 5)]
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    assert sorted(written_files(capsys.readouterr().out)) == sorted(str(tmp_path / name) for name in names)
    assert all(os.path.getsize(tmp_path / name) > 1000 for name in names if name.endswith("g"))
    # the CSV holds the printed table, cell for cell
    inputs, targets = load_data(DATA)
    net = MLP(4, "step")
    net.set_weights()
    with open(tmp_path / "table_step4_set.csv", newline="") as file:
        assert list(csv.reader(file)) == activation_rows(net, inputs, targets)


def test_step_sig_and_trained_runs_write_different_files(monkeypatch, capsys, tmp_path):
    runs = [["--act", "step", "--hid", "4", "--set_weights"], ["--act", "sig", "--hid", "4", "--set_weights"],
            ["--act", "sig", "--hid", "4", "--epoch", "1"],
            ["--act", "sig", "--hid", "4", "--epoch", "1", "--seed", "1"]]
    files = []
    for argv in runs:
        assert run_cli(monkeypatch, *argv, "--plot_dir", str(tmp_path)) == 0
        files.append(set(written_files(capsys.readouterr().out)) - {str(tmp_path / "check.jpg")})  # the data
    assert all(len(run) == 8 for run in files)  # table, net, lines, 4 hidden nodes, output
    assert len(set.union(*files)) == sum(len(run) for run in files)  # no file written by two runs


def test_diagram_shows_the_weights_in_use(monkeypatch, capsys, tmp_path):
    # weights all different, so a label taken from the wrong edge or node would be caught
    weights = {"in_hid_weight": [[1.5, -2.25], [0.125, 3.75], [-4.5, 0]], "hid_bias": [-0.75, 2.5, -1.125],
               "hid_out_weight": [[6.5, -7.25, 0.375]], "out_bias": [-8.5]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(weights))
    drawn = []
    monkeypatch.setattr(check_plots, "network_picture",
                        lambda plt, weights, title: drawn.append(weights) or network_picture(plt, weights, title))
    assert run_cli(monkeypatch, "--act", "sig", "--hid", "3", "--weights", str(path), "--scale", "2",
                   "--plot_dir", str(tmp_path / "plot")) == 0
    assert os.path.exists(tmp_path / "plot" / "net_sig3_file-mine_x2.png")
    doubled = {name: (2 * torch.tensor(value)).tolist() for name, value in weights.items()}
    assert drawn == [doubled]  # the weights the network ran with, times --scale
    edges, biases = network_numbers(doubled)
    assert edges == [("x", "h1", 3.0), ("y", "h1", -4.5), ("x", "h2", 0.25), ("y", "h2", 7.5), ("x", "h3", -9.0),
                     ("y", "h3", 0.0), ("h1", "out", 13.0), ("h2", "out", -14.5), ("h3", "out", 0.75)]
    assert biases == {"h1": -1.5, "h2": 5.0, "h3": -2.25, "out": -17.0}
    # and each of those numbers is written in the figure, once per edge or node
    texts = [text.get_text() for text in network_picture(pyplot(), doubled, "t").axes[0].texts]
    for _, _, weight in edges:
        assert weight_text(weight) in texts
    for bias in biases.values():
        assert f"b = {weight_text(bias)}" in texts
    assert len(texts) == len(edges) + len(biases) + 6  # and the names of the 6 nodes


def test_clip_line_by_hand():
    assert clip_line(1, 1, -0.5, 0, 2) == ((0, 0.5), (0.5, 0))
    assert clip_line(1, 0, -1, 0, 2) == ((1, 0), (1, 2))  # x = 1, vertical
    assert clip_line(0, 1, -3, 0, 2) is None  # y = 3 misses the square
    assert clip_line(0, 0, 1, 0, 2) is None  # no line at all


def test_lines_picture_labels_each_line_with_an_arrow_to_its_firing_side():
    inputs, targets = load_data(DATA)
    weights = {"in_hid_weight": [[1, 1], [-2, 0.5], [0, 1]], "hid_bias": [-1.5, 1, -10]}  # h3: y = 10, not in view
    fig = lines_picture(pyplot(), weights, inputs, targets, "t")
    ax = fig.axes[0]
    arrows = [text for text in ax.texts if isinstance(text, Annotation)]
    assert [text.get_text() for text in ax.texts if text not in arrows] == ["h1", "h2"]
    for (w1, w2), b, arrow in zip(weights["in_hid_weight"], weights["hid_bias"], arrows):
        (x0, y0), (x1, y1) = arrow.xyann, arrow.xy  # the arrow starts on the line and points to where it fires
        assert w1 * x0 + w2 * y0 + b == pytest.approx(0, abs=1e-6)
        assert w1 * x1 + w2 * y1 + b > 0
    assert "not in view (no line here): h3" in ax.get_legend().get_title().get_text()


def nested(depth):
    return "[" * depth + "]" * depth


# Bad inputs: (name, flags, exit status, what the error says). Every case runs with a good
# weights file at --save_weights and an old file in --plot_dir, which must both survive
# untouched; a case's own flags come later and win. A (name, text) flag is a file made first.
BAD_INPUTS = [
    ("lr nan", ["--lr", "nan"], 2, "argument --lr: must be a number > 0 and <= 10, not 'nan'"),
    ("lr inf", ["--lr", "inf"], 2, "argument --lr: must be a number > 0 and <= 10, not 'inf'"),
    ("lr zero", ["--lr", "0"], 2, "argument --lr: must be a number > 0"),
    ("init nan", ["--init", "nan"], 2, "argument --init: must be a number >= 0, not 'nan'"),
    ("init inf", ["--init", "inf"], 2, "argument --init: must be a number >= 0, not 'inf'"),
    ("init negative", ["--init", "-1"], 2, "argument --init: must be a number >= 0"),
    ("scale nan", ["--act", "sig", "--hid", "4", "--set_weights", "--scale", "nan"], 2,
     "argument --scale: must be a number > 0, not 'nan'"),
    ("scale zero", ["--act", "sig", "--hid", "4", "--set_weights", "--scale", "0"], 2, "argument --scale"),
    ("scale overflows float32", ["--act", "sig", "--hid", "4", "--set_weights", "--scale", "1e38"], 2,
     "hid_bias times 1e+38 holds a number that is not finite in float32"),
    ("scale when training", ["--scale", "2"], 2, "--scale multiplies set weights"),
    ("seed negative", ["--seed", "-1"], 2, "argument --seed: must be a whole number >= 0"),
    ("seed too large", ["--seed", str(2 ** 32)], 2, "argument --seed"),
    ("hid too large", ["--hid", "100000"], 2, "argument --hid: must be a whole number >= 1 and <= 16, not '100000'"),
    ("no hidden nodes", ["--hid", "0"], 2, "argument --hid: must be a whole number >= 1"),
    ("epoch zero", ["--epoch", "0"], 2, "argument --epoch: must be a whole number >= 1"),
    ("epoch fraction", ["--epoch", "1.5"], 2, "argument --epoch: must be a whole number"),
    ("training diverges", ["--init", "1e39"], 2, "the training diverged at epoch 1: the output is NaN"),
    ("plot_dir a file", ["--plot_dir", "afile"], 2, "--plot_dir afile is a file, not a folder"),
    ("save_weights empty", ["--save_weights", ""], 2, "--save_weights needs a file name"),
    ("save_weights a folder", ["--save_weights", "plot"], 2, "--save_weights plot is a folder, not a file"),
    ("save_weights in a file", ["--save_weights", "afile/w.json"], 2, "--save_weights afile is a file, not a folder"),
    ("missing csv", ["--data", "nope.csv"], 2, "cannot read data file nope.csv"),
    ("bad header", ["--data", ("header.csv", "a,b,c\n0,0,0\n")], 2, "header x,y,target"),
    ("not a number", ["--data", ("number.csv", "x,y,target\n0,0,0\n0,one,1\n")], 2, "line 3: expected three numbers"),
    ("bad target", ["--data", ("target.csv", "x,y,target\n0,0,2\n")], 2, "target must be 0 or 1"),
    ("bad json", ["--act", "step", "--hid", "4", "--weights", ("bad.json", "{in_hid_weight: [")], 2,
     "is not valid JSON"),
    ("json nested 100000 deep", ["--act", "step", "--hid", "4", "--weights", ("deep.json", nested(100000))], 2,
     "is nested too deeply to hold weights"),
    ("json nested 500 deep", ["--act", "step", "--hid", "4", "--weights",
                              ("deep.json", json.dumps(dict(HAND_WEIGHTS, hid_bias=json.loads(nested(500)))))], 2,
     "hid_bias must be a (nested) list of numbers"),
    ("number beyond float32", ["--act", "step", "--hid", "4", "--weights",
                               ("big.json", json.dumps(dict(HAND_WEIGHTS, out_bias=[1e39])))], 2,
     "out_bias holds a number that is not finite in float32"),
    ("number beyond float64", ["--act", "step", "--hid", "4", "--weights",
                               ("huge.json", json.dumps(HAND_WEIGHTS).replace("[-0.5]", f"[{10 ** 400}]"))], 2,
     "out_bias must be a (nested) list of numbers"),
    ("wrong shapes", ["--act", "step", "--hid", "5", "--weights", ("w.json", json.dumps(HAND_WEIGHTS))], 2,
     "in_hid_weight has shape [4, 2] but 5 hidden nodes need [5, 2]"),
    ("shipped weights, wrong --hid", ["--act", "step", "--hid", "3", "--set_weights"], 2,
     "the hand-designed weights in check.py have 4 hidden nodes: use --hid 4"),
    ("step without weights", ["--act", "step", "--hid", "4"], 2, "cannot be trained by gradient descent"),
]


@pytest.mark.parametrize("case, flags, status, message", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_end_in_one_line_and_leave_files_intact(monkeypatch, capsys, tmp_path, case, flags, status,
                                                          message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "plot").mkdir()
    (tmp_path / "plot" / "old.jpg").write_text("an earlier picture")
    keep = json.dumps(HAND_WEIGHTS)
    (tmp_path / "keep.json").write_text(keep)
    argv = []
    for flag in flags:
        if isinstance(flag, tuple):
            (tmp_path / flag[0]).write_text(flag[1])
            flag = flag[0]
        argv.append(flag)
    assert run_cli(monkeypatch, "--epoch", "1", "--plot_dir", "plot", "--save_weights", "keep.json", *argv) == status
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert "Traceback" not in err and message in last
    if last.startswith("error: "):  # the kit's own checks: exactly one line
        assert err.count("\n") == 1
    else:  # a flag that fails its argparse type: argparse's usage line, then "prog: error: ..."
        assert err.startswith("usage: ") and last.startswith("check_main.py: error: argument --")
    assert (tmp_path / "keep.json").read_text() == keep
    assert os.listdir(tmp_path / "plot") == ["old.jpg"]  # nothing written, nothing overwritten
    assert (tmp_path / "plot" / "old.jpg").read_text() == "an earlier picture"


def test_nan_outputs_are_never_counted_right(monkeypatch, capsys, tmp_path):
    # 3e38 is a finite float32, but at (2, 2) the net input 2 * 3e38 - 2 * 3e38 is inf - inf = NaN
    weights = {"in_hid_weight": [[3e38, -3e38]], "hid_bias": [0], "hid_out_weight": [[1]], "out_bias": [-0.5]}
    assert accuracy(torch.tensor([[float("nan")], [0.2]]), torch.tensor([[0.0], [0.0]])) == 50.0
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(weights))
    assert run_cli(monkeypatch, "--act", "sig", "--hid", "1", "--weights", str(path), "--plot_dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[:2] == ["2", "2"])
    assert row[-3:] == ["nan", "0", "NO"]  # output NaN, target 0: not right, although NaN >= 0.5 is false


def test_training_that_goes_nan_is_an_error():
    inputs, targets = load_data(DATA)
    net = MLP(2, "sig")
    net.set_weights({"in_hid_weight": [[3e38, -3e38], [1, 1]], "hid_bias": [0, 0],
                     "hid_out_weight": [[1, 1]], "out_bias": [0]})
    with pytest.raises(UserError, match="the training diverged at epoch 1"):
        train(net, inputs, targets, lr=0.1, max_epochs=10, log=False)


def test_a_failed_weights_write_leaves_the_old_file(tmp_path):
    """A disk that fills up mid-write, made by limiting the size of the files this process may
    write (RLIMIT_FSIZE): the write fails, and the weights file written before is intact."""
    path = tmp_path / "w.json"
    path.write_text("the old weights")
    net = MLP(4, "sig")
    net.set_weights()
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (50, limits[1]))  # the weights need about 200 bytes
    try:
        with pytest.raises(UserError, match="cannot write weights file .*: File too large"):
            save_weights(net, str(path))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert path.read_text() == "the old weights"
    assert os.listdir(tmp_path) == ["w.json"]  # no temporary file left behind


def test_inputs_users_really_have(monkeypatch, capsys, tmp_path):
    """A CSV with a byte-order mark (as spreadsheets save it), and a run from another folder: the
    default data file is found beside the script, and --plot_dir '' is the current folder."""
    with open(DATA, encoding="utf-8") as file:
        (tmp_path / "bom.csv").write_text("\ufeff" + file.read(), encoding="utf-8")
    assert torch.equal(torch.cat(load_data(str(tmp_path / "bom.csv")), 1), torch.cat(load_data(DATA), 1))
    monkeypatch.chdir(tmp_path)
    assert run_cli(monkeypatch, "--act", "step", "--hid", "4", "--set_weights", "--plot_dir", "") == 0
    assert "final accuracy: 100.0%" in capsys.readouterr().out
    assert {"net_step4_set.png", "check.jpg"} <= set(os.listdir(tmp_path))


# Any JSON value at all: numbers of every size (integers past float64's range too), strings, nulls,
# booleans, lists and objects nested.
NUMBERS = st.integers() | st.integers(10 ** 300, 10 ** 400) | st.floats()
JSON_VALUES = st.recursive(st.none() | st.booleans() | NUMBERS | st.text(max_size=3),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                                      max_size=2),
                           max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(HAND_WEIGHTS)), value=JSON_VALUES)
def test_any_weights_value_is_used_or_refused_in_one_line(name, value):
    """Whatever a weights file holds under a key, set_weights either uses it (as finite numbers
    of the right shape) or raises UserError, never another exception."""
    net = MLP(4, "step")
    before = {key: param.clone() for key, param in net.named_weights().items()}
    try:
        net.set_weights(dict(HAND_WEIGHTS, **{name: value}))
    except UserError:
        assert all(torch.equal(before[key], param) for key, param in net.named_weights().items())  # unchanged
    else:
        assert torch.isfinite(net.named_weights()[name]).all()
        assert net.named_weights()[name].tolist() == torch.tensor(value, dtype=torch.float32).tolist()


def test_help_shows_every_default():
    for action in check_main.build_parser()._actions:
        if action.dest != "help":
            assert "(default: " in action.help, action.dest


def test_error_exit_code_from_a_real_process(tmp_path):
    result = subprocess.run([sys.executable, "check_main.py", "--data", str(tmp_path / "nope.csv")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot read data file") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
