"""Part 2: the 3x3 check task (check.py, check_data.py, check_main.py, check_plots.py, check.csv).

The student's check.py keeps the course's contract and nothing else, so the course-style files in
tests/fixtures/check run as check.py through check_main.py end to end, in a copy of the kit.
"""
import csv
import json
import math
import os
import resource
import signal
import sys
import types

import pytest
import torch
from hypothesis import given, settings, strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Annotation

import check_main
import check_plots
from check import MLP
from check_data import (WEIGHT_NAMES, build_mlp, check_forward, enter_hand_weights, get_weights, init_weights,
                        load_data, load_weights, named_weights, put_weights, save_weights)
from check_main import accuracy, activation_rows, activation_table, line_equation, parse_args, set_by_hand, train
from check_plots import clip_line, lines_picture, network_numbers, network_picture, plot_range, weight_text
from common import UserError, pyplot
from kit import assert_fails_well, kit_copy, picture_problems, run_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "check.csv")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "check")
GRID_PM1 = os.path.join(FIXTURES, "grid_pm1.csv")  # the course's ` X, Y, T` file of another year: {-1, 0, 1}^2


def hand_set(act):
    """The kit's MLP with the weights its set_weights enters."""
    net = MLP(act=act)
    net.set_weights()
    return net


DESIGN = get_weights(hand_set("step"))  # the kit's design as a weights dict, unscaled


@pytest.fixture(autouse=True)
def one_thread():
    """Nine points: tiny tensor ops run much faster on one thread (check_main does the same)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run_cli(run_in_process):
    """run_cli(*args): check_main.py's command line, run in this process; a Run (conftest)."""
    return lambda *args: run_in_process(check_main.main, "check_main.py", *args)


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


@pytest.mark.parametrize("header", ["x,y,target", " X, Y, T", "x,y,t", "in1;,in2,label", None])
def test_data_with_any_header_of_three_names_or_none(tmp_path, header):
    rows = ["0, 1, 1", "2,0,0", "", "-1.5,1e1,1"]  # a blank line is skipped
    path = tmp_path / "data.csv"
    path.write_text("\n".join(([header] if header else []) + rows) + "\n")
    inputs, targets = load_data(str(path))
    assert inputs.tolist() == [[0, 1], [2, 0], [-1.5, 10]] and targets[:, 0].tolist() == [1, 0, 1]


def test_step_forward_on_known_weights():
    # h1 = [x >= 1], h2 = [y >= 1], output = [h1 + h2 - 2 >= 0] = h1 AND h2
    net = MLP(2, "step")
    put_weights(net, {"in_hid_weight": [[1, 0], [0, 1]], "hid_bias": [-1, -1],
                      "hid_out_weight": [[1, 1]], "out_bias": [-2]})
    output = net(torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 2.0]]))
    assert net.hid.tolist() == [[0, 0], [1, 0], [1, 1], [0, 1]]  # x = 1 is exactly on the line: fires
    assert output[:, 0].tolist() == [0, 0, 1, 0]


def test_sigmoid_forward_on_known_weights():
    net = MLP(1, "sig")
    put_weights(net, {"in_hid_weight": [[1, 2]], "hid_bias": [0.5], "hid_out_weight": [[3]], "out_bias": [-1]})
    output = net(torch.tensor([[1.0, -1.0]]))
    sigmoid = lambda z: 1 / (1 + math.exp(-z))
    hidden = sigmoid(1 * 1 + 2 * -1 + 0.5)
    assert net.hid.item() == pytest.approx(hidden)
    assert output.item() == pytest.approx(sigmoid(3 * hidden - 1))


@pytest.mark.parametrize("act", ["step", "sig"])
def test_shipped_weights_classify_all_nine_points(act):
    inputs, targets = load_data(DATA)
    net = hand_set(act)
    with torch.no_grad():
        output = net(inputs)
    assert accuracy(output, targets) == 100.0
    # step: exactly the targets; sig (weights x 10): within 0.01 of them, as check.py says
    assert (output - targets).abs().max().item() < (1e-6 if act == "step" else 0.01)


def test_sigmoid_scales_the_design_and_scale_replaces_the_factor():
    assert get_weights(hand_set("sig")) == {name: (10 * torch.tensor(value)).tolist() for name, value in DESIGN.items()}
    net = build_mlp(5, "sig")  # set_weights decides the hidden nodes, whatever --hid says
    set_by_hand(net, parse_args(["--act", "sig", "--set_weights", "--scale", "2.5"]))
    assert get_weights(net) == {name: (2.5 * torch.tensor(value)).tolist() for name, value in DESIGN.items()}


def test_weights_file_round_trip(tmp_path):
    torch.manual_seed(1)
    net = MLP(3, "sig")
    init_weights(net, 0.7)
    path = tmp_path / "weights.json"
    save_weights(net, path)
    copy = MLP(3, "sig")
    put_weights(copy, load_weights(path))
    for name, param in named_weights(net).items():
        assert torch.equal(param, named_weights(copy)[name]), name
    assert set(json.loads(path.read_text())) == set(WEIGHT_NAMES)


@pytest.mark.slow
def test_weights_round_trip_through_the_command_line(run_cli, tmp_path):
    saved = tmp_path / "w.json"
    first = run_cli("--act", "sig", "--hid", "4", "--set_weights", "--save_weights", saved, "--data", DATA,
                    "--plot_dir", tmp_path / "a")
    # the saved file already holds the x10 weights, and a file is used as written
    second = run_cli("--act", "sig", "--hid", "4", "--weights", saved, "--data", DATA, "--plot_dir", tmp_path / "b")
    assert first.returncode == second.returncode == 0
    first, second = first.stdout, second.stdout
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
    put_weights(net, {"in_hid_weight": [[1, 0]], "hid_bias": [-1], "hid_out_weight": [[1]], "out_bias": [-0.5]})
    inputs, targets = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]), torch.tensor([[1.0], [0.0], [1.0]])
    rows = [line.split() for line in activation_table(net, "step", inputs, targets).splitlines()]
    assert rows == [["x", "y", "h1", "out", "target", "correct"],
                    ["0", "1", "0", "0", "1", "NO"],
                    ["1", "1", "1", "1", "0", "NO"],
                    ["2", "1", "1", "1", "1", "yes"]]


def test_training_prints_progress_and_lowers_the_loss(capsys):
    inputs, targets = load_data(DATA)
    torch.manual_seed(0)
    net = MLP(5, "sig")
    init_weights(net, 0.1)
    loss = lambda: torch.nn.functional.binary_cross_entropy(net(inputs), targets).item()
    before = loss()
    assert train(net, inputs, targets, lr=0.01, max_epochs=300) == 300  # cannot hold 100% for 2000 epochs yet
    assert loss() < before
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["ep:", "100"], ["ep:", "200"], ["ep:", "300"]]
    assert all(line.split()[2] == "loss:" and line.split()[4] == "acc:" for line in lines)


def test_set_weights_write_every_picture_and_the_table(run_cli, tmp_path):
    run = run_cli("--act", "step", "--hid", "4", "--set_weights", "--plot_dir", tmp_path)
    assert run.returncode == 0
    names = ["check.png", "table_step4_set.csv", "net_step4_set.png", "lines_step4_set.png", "out_step4_set.png"]
    names += [f"h{i}_step4_set.png" for i in range(1, 5)]
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    assert sorted(written_files(run.stdout)) == sorted(str(tmp_path / name) for name in names)
    assert all(os.path.getsize(tmp_path / name) > 1000 for name in names if name.endswith("g"))
    # the CSV holds the printed table, cell for cell
    inputs, targets = load_data(DATA)
    net = hand_set("step")
    with open(tmp_path / "table_step4_set.csv", newline="") as file:
        assert list(csv.reader(file)) == activation_rows(net, "step", inputs, targets)


@pytest.mark.slow
def test_step_sig_and_trained_runs_write_different_files(run_cli, tmp_path):
    runs = [["--act", "step", "--hid", "4", "--set_weights"], ["--act", "sig", "--hid", "4", "--set_weights"],
            ["--act", "sig", "--hid", "4", "--epoch", "1"],
            ["--act", "sig", "--hid", "4", "--epoch", "1", "--seed", "1"]]
    files = []
    for argv in runs:
        run = run_cli(*argv, "--plot_dir", tmp_path)
        assert run.returncode == 0
        files.append(set(written_files(run.stdout)) - {str(tmp_path / "check.png")})  # the data
    assert all(len(run) == 8 for run in files)  # table, net, lines, 4 hidden nodes, output
    assert len(set.union(*files)) == sum(len(run) for run in files)  # no file written by two runs


def test_diagram_shows_the_weights_in_use(monkeypatch, run_cli, tmp_path):
    # weights all different, so a label taken from the wrong edge or node would be caught
    weights = {"in_hid_weight": [[1.5, -2.25], [0.125, 3.75], [-4.5, 0]], "hid_bias": [-0.75, 2.5, -1.125],
               "hid_out_weight": [[6.5, -7.25, 0.375]], "out_bias": [-8.5]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(weights))
    drawn = []
    monkeypatch.setattr(check_plots, "network_picture",
                        lambda plt, weights, title: drawn.append(weights) or network_picture(plt, weights, title))
    assert run_cli("--act", "sig", "--hid", "3", "--weights", path, "--scale", "2",
                   "--plot_dir", tmp_path / "plot").returncode == 0
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
    ("header of two names", ["--data", ("header.csv", "x,y\n0,0,0\n")], 2,
     "the first row must be a header of three names, such as x,y,target, or the first point"),
    ("header half numbers", ["--data", ("header.csv", "x,1,t\n0,0,0\n")], 2, "a header of three names"),
    ("header only", ["--data", ("header.csv", " X, Y, T\n\n")], 2, "no data rows"),
    ("not a number", ["--data", ("number.csv", "x,y,target\n0,0,0\n0,one,1\n")], 2, "line 3: expected three numbers"),
    ("bad target", ["--data", ("target.csv", "x,y,target\n0,0,2\n")], 2, "target must be 0 or 1"),
    ("bad json", ["--act", "step", "--hid", "4", "--weights", ("bad.json", "{in_hid_weight: [")], 2,
     "is not valid JSON"),
    ("json nested 100000 deep", ["--act", "step", "--hid", "4", "--weights", ("deep.json", nested(100000))], 2,
     "is nested too deeply to hold weights"),
    ("json nested 500 deep", ["--act", "step", "--hid", "4", "--weights",
                              ("deep.json", json.dumps(dict(DESIGN, hid_bias=json.loads(nested(500)))))], 2,
     "hid_bias must be a (nested) list of numbers"),
    ("number beyond float32", ["--act", "step", "--hid", "4", "--weights",
                               ("big.json", json.dumps(dict(DESIGN, out_bias=[1e39])))], 2,
     "out_bias holds a number that is not finite in float32"),
    ("number beyond float64", ["--act", "step", "--hid", "4", "--weights",
                               ("huge.json", json.dumps(DESIGN).replace("[-0.5]", f"[{10 ** 400}]"))], 2,
     "out_bias must be a (nested) list of numbers"),
    ("wrong shapes", ["--act", "step", "--hid", "5", "--weights", ("w.json", json.dumps(DESIGN))], 2,
     "in_hid_weight has shape [4, 2] but 5 hidden nodes need [5, 2]"),
    ("step without weights", ["--act", "step", "--hid", "4"], 2, "cannot be trained by gradient descent"),
]


@pytest.mark.parametrize("case, flags, status, message", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_end_in_one_line_and_leave_files_intact(monkeypatch, capsys, tmp_path, case, flags, status,
                                                          message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "plot").mkdir()
    (tmp_path / "plot" / "old.jpg").write_text("an earlier picture")
    (tmp_path / "keep.json").write_text(json.dumps(DESIGN))
    argv = []
    for flag in flags:
        if isinstance(flag, tuple):
            (tmp_path / flag[0]).write_text(flag[1])
            flag = flag[0]
        argv.append(flag)
    assert status == 2
    assert_fails_well(check_main.main, ["--epoch", "1", "--plot_dir", "plot", "--save_weights", "keep.json", *argv],
                      message, capsys, tmp_path, program="check_main.py")


def test_nan_outputs_are_never_counted_right(run_cli, tmp_path):
    # 3e38 is a finite float32, but at (2, 2) the net input 2 * 3e38 - 2 * 3e38 is inf - inf = NaN
    weights = {"in_hid_weight": [[3e38, -3e38]], "hid_bias": [0], "hid_out_weight": [[1]], "out_bias": [-0.5]}
    assert accuracy(torch.tensor([[float("nan")], [0.2]]), torch.tensor([[0.0], [0.0]])) == 50.0
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(weights))
    run = run_cli("--act", "sig", "--hid", "1", "--weights", path, "--plot_dir", tmp_path)
    assert run.returncode == 0
    out = run.stdout
    row = next(line.split() for line in out.splitlines() if line.split()[:2] == ["2", "2"])
    assert row[-3:] == ["nan", "0", "NO"]  # output NaN, target 0: not right, although NaN >= 0.5 is false


def test_training_that_goes_nan_is_an_error():
    inputs, targets = load_data(DATA)
    net = MLP(2, "sig")
    put_weights(net, {"in_hid_weight": [[3e38, -3e38], [1, 1]], "hid_bias": [0, 0],
                      "hid_out_weight": [[1, 1]], "out_bias": [0]})
    with pytest.raises(UserError, match="the training diverged at epoch 1"):
        train(net, inputs, targets, lr=0.1, max_epochs=10, log=False)


def test_a_failed_weights_write_leaves_the_old_file(tmp_path):
    """A disk that fills up mid-write, made by limiting the size of the files this process may
    write (RLIMIT_FSIZE): the write fails, and the weights file written before is intact."""
    path = tmp_path / "w.json"
    path.write_text("the old weights")
    net = hand_set("sig")
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


def test_inputs_users_really_have(run_cli, tmp_path):
    """A CSV with a byte-order mark (as spreadsheets save it), and a run from another folder: the
    default data file is found beside the script, and --plot_dir '' is the current folder."""
    with open(DATA, encoding="utf-8") as file:
        (tmp_path / "bom.csv").write_text("\ufeff" + file.read(), encoding="utf-8")
    assert torch.equal(torch.cat(load_data(str(tmp_path / "bom.csv")), 1), torch.cat(load_data(DATA), 1))
    run = run_cli("--act", "step", "--hid", "4", "--set_weights", "--plot_dir", "")  # in tmp_path
    assert run.returncode == 0 and "final accuracy: 100.0%" in run.stdout
    assert {"net_step4_set.png", "check.png"} <= set(os.listdir(tmp_path))


# Any JSON value at all: numbers of every size (integers past float64's range too), strings, nulls,
# booleans, lists and objects nested.
NUMBERS = st.integers() | st.integers(10 ** 300, 10 ** 400) | st.floats()
JSON_VALUES = st.recursive(st.none() | st.booleans() | NUMBERS | st.text(max_size=3),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                                      max_size=2),
                           max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(WEIGHT_NAMES)), value=JSON_VALUES)
def test_any_weights_value_is_used_or_refused_in_one_line(name, value):
    """Whatever a weights file holds under a key, put_weights either uses it (as finite numbers
    of the right shape) or raises UserError, never another exception."""
    net = MLP(4, "step")
    before = {key: param.clone() for key, param in named_weights(net).items()}
    try:
        put_weights(net, dict(DESIGN, **{name: value}))
    except UserError:
        assert all(torch.equal(before[key], param) for key, param in named_weights(net).items())  # unchanged
    else:
        assert torch.isfinite(named_weights(net)[name]).all()
        assert named_weights(net)[name].tolist() == torch.tensor(value, dtype=torch.float32).tolist()


def test_help_shows_every_default():
    for action in check_main.build_parser()._actions:
        if action.dest != "help":
            assert "(default: " in action.help, action.dest




# ---------------------------------------------------------------- the contract of check.py

# The kit's MLP, each with one break of the course's contract.

class NoAct(MLP):
    def __init__(self, hid=4):
        super().__init__(hid)


class RenamedLayer(MLP):
    def __init__(self, hid=4, act="sig"):
        super().__init__(hid, act)
        self.hidden_layer = self.in_hid
        del self.in_hid


class ThreeInputs(MLP):
    def __init__(self, hid=4, act="sig"):
        super().__init__(hid, act)
        self.in_hid = torch.nn.Linear(3, hid)


class NoOutputBias(MLP):
    def __init__(self, hid=4, act="sig"):
        super().__init__(hid, act)
        self.hid_out = torch.nn.Linear(hid, 1, bias=False)


class FlatOutput(MLP):
    def forward(self, input):
        return super().forward(input)[:, 0]


class OutsideOneAndZero(MLP):
    def forward(self, input):
        return 2 * super().forward(input) - 0.5        # a sigmoid stretched past 0..1


class NoHid(MLP):
    def forward(self, input):
        output = super().forward(input)
        del self.hid
        return output


class ForwardStub(MLP):
    def forward(self, input):
        raise NotImplementedError


class SetWeightsStub(MLP):
    def set_weights(self):
        raise NotImplementedError("Part 2: enter weights")


class SetWeightsTypo(MLP):
    def set_weights(self):
        self.in_hid.weight = torch.zeros(4, 2)  # a tensor where the layer needs a Parameter


# A check.py that breaks the contract: (name, its MLP, flags, the one line check_main prints).
CONTRACT_BREAKS = [
    ("no class MLP", None, [], "error: check.py must define class MLP(torch.nn.Module)"),
    ("constructor fails", NoAct, [], "error: MLP(5, 'sig') failed: TypeError: "),
    ("no in_hid layer", RenamedLayer, [], "error: after MLP(5, 'sig'), MLP has no layer "
                                          "self.in_hid = nn.Linear(2, hid)"),
    ("wrong layer shape", ThreeInputs, [], "error: after MLP(5, 'sig'), the layers of MLP must hold in_hid.weight "
                                           "[H, 2], in_hid.bias [H], hid_out.weight [1, H] and hid_out.bias [1] "
                                           "for H hidden nodes; they hold in_hid.weight [5, 3]"),
    ("no output bias", NoOutputBias, [], "they hold in_hid.weight [5, 2], in_hid.bias [5], hid_out.weight [1, 5], "
                                         "hid_out.bias None"),
    ("output not (N, 1)", FlatOutput, [], "error: MLP.forward returns a tensor of shape [9], not the output as a "
                                          "tensor of shape [9, 1] (one row per point)"),
    ("no self.hid", NoHid, [], "error: MLP.forward leaves no self.hid, not the hidden activations in "
                               "self.hid as a tensor of shape [9, 5]"),
    ("forward a stub", ForwardStub, [], "error: MLP.forward is not written yet"),
    ("outputs outside 0..1 at the start", OutsideOneAndZero, ["--init", "3"],
     "error: MLP.forward returns outputs outside 0..1 before training (from "),
    ("no set_weights", type("NoSetWeights", (MLP,), {"set_weights": None}), ["--set_weights"],
     "error: MLP has no method set_weights(self)"),
    ("set_weights a stub", SetWeightsStub, ["--set_weights"],
     "error: MLP.set_weights() is not written yet: Part 2: enter weights"),
    ("set_weights fails", SetWeightsTypo, ["--set_weights"],
     "error: MLP.set_weights() failed: TypeError: cannot assign"),
]


@pytest.mark.parametrize("case, mlp, flags, message", CONTRACT_BREAKS, ids=[case[0] for case in CONTRACT_BREAKS])
def test_contract_breaks_end_in_one_line(monkeypatch, run_cli, tmp_path, case, mlp, flags, message):
    student = types.ModuleType("check")
    if mlp is not None:
        student.MLP = mlp
    monkeypatch.setitem(sys.modules, "check", student)  # what build_mlp imports as check
    run = run_cli("--act", "sig", "--hid", "5", "--plot_dir", "plot", *flags)
    err = run.stderr
    assert run.returncode == 2
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert os.listdir(tmp_path) == []  # refused before anything is written


def test_outputs_that_leave_0_1_in_training_end_in_one_line(monkeypatch, run_cli, tmp_path):
    student = types.ModuleType("check")
    student.MLP = OutsideOneAndZero                    # within 0..1 at the start, outside once trained
    monkeypatch.setitem(sys.modules, "check", student)
    run = run_cli("--act", "sig", "--hid", "5", "--plot_dir", "plot")  # in tmp_path
    err = run.stderr
    assert run.returncode == 2
    assert err.startswith("error: MLP.forward returns outputs outside 0..1 at epoch ") and err.count("\n") == 1
    assert os.listdir(tmp_path) == []         # no picture of a broken run, nor its folder


def test_a_check_py_that_does_not_import_is_one_line_naming_its_line(monkeypatch, tmp_path):
    (tmp_path / "check.py").write_text("import torch\n\n\nclass MLP(torch.nn.Module):\n    x = 1 / 0\n")
    monkeypatch.delitem(sys.modules, "check")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match=r"^importing check.py failed: ZeroDivisionError: division by zero "
                                        r"\(check.py, line 5\)$"):
        build_mlp(4, "sig")


def test_the_contract_checks_pass_the_kits_own_mlp():
    net = build_mlp(5, "sig")
    assert enter_hand_weights(net) == 4
    check_forward(net, load_data(DATA)[0])


# ---------------------------------------------------------------- course-style check.py files, end to end

RUN_FILES = ["net_{}.png", "lines_{}.png", "out_{}.png", "table_{}.csv"]  # and h1_{}.png ... for each hidden node

# Runs of check_main.py with this check.py (a file of tests/fixtures/check, or the kit's own: None):
# (name, check.py, flags, exit status, texts of the output, and the files it writes: the data
# picture's name, the run's name and its hidden nodes; None where nothing may be written).
STUDENT_RUNS = [
    ("right", "right.py", ["--act", "sig", "--hid", "5", "--set_weights"], 0,
     ["set weights (no training):", '"hid_bias": [30.0, 10.0, -10.0, -30.0]',  # times the student's 20
      "final accuracy: 100.0%"], ("check.png", "sig4_set", 4)),
    ("wrong", "wrong.py", ["--act", "sig", "--set_weights", "--epoch", "300"], 0,
     ["the set weights get 77.8% right with sigmoid: training on from them\n",
      "stopped after 300 epochs: accuracy 77.8% before training, 100.0% after\nfinal weights:",
      "final accuracy: 100.0%"],
     ("check.png", "sig4_set-trained", 4)),
    ("stub", "stub.py", ["--act", "step", "--hid", "4", "--set_weights"], 2,
     ["error: after MLP.set_weights(), the weights are empty (in_hid.weight [4, 0], in_hid.bias [0], "
      "hid_out.weight [1, 0], hid_out.bias [0]): enter them between the '##### Enter Weights Here #####' "
      "lines of set_weights in check.py\n"], None),
    ("forward 0", "forward_zero.py", ["--act", "step", "--set_weights"], 2,
     ["error: MLP.forward returns int 0, not the output as a tensor of shape [9, 1] (one row per point)\n"],
     None),
    ("{-1,0,1} grid", None, ["--act", "sig", "--hid", "5", "--seed", "3", "--epoch", "300", "--data", GRID_PM1], 0,
     ["stopped after 300 epochs", "\n-1  -1 ", "final accuracy: 100.0%"], ("grid_pm1.png", "sig5_trained-seed3", 5)),
    ("missing data", None, ["--data", "nope.csv"], 2, ["error: cannot read data file nope.csv"], None),
]


def assert_run_as_expected(run, folder, status, texts, files):
    """A run of STUDENT_RUNS, in `folder`, did what its row says."""
    assert run.returncode == status, run.stderr
    assert "Traceback" not in run.stderr
    for text in texts:
        assert text in (run.stdout if status == 0 else run.stderr)
    if status:
        assert run.stderr.count("\n") == 1 and not os.path.exists(folder / "plot")
        return
    data, name, hid = files
    names = [data] + [pattern.format(name) for pattern in RUN_FILES] + [f"h{i}_{name}.png" for i in range(1, hid + 1)]
    assert sorted(written_files(run.stdout)) == sorted(os.path.join("plot", file) for file in names)
    assert sorted(os.listdir(folder / "plot")) == sorted(names)


@pytest.mark.slow
@pytest.mark.parametrize("case, student, flags, status, texts, files", STUDENT_RUNS,
                         ids=[case[0] for case in STUDENT_RUNS])
def test_a_check_py_of_the_course_runs_end_to_end(case, student, flags, status, texts, files, tmp_path,
                                                  run_in_process):
    drop_in = {"check": os.path.join(FIXTURES, student)} if student else None
    run = run_in_process(check_main.main, "check_main.py", *flags, drop_in=drop_in)
    assert_run_as_expected(run, tmp_path, status, texts, files)


@pytest.mark.slow
def test_a_check_py_dropped_into_a_copy_of_the_kit_runs_from_the_command_line(tmp_path):
    case, student, flags, status, texts, files = STUDENT_RUNS[0]
    kit = kit_copy(tmp_path / "kit", check=os.path.join(FIXTURES, student))
    assert_run_as_expected(run_script("check_main.py", *flags, cwd=kit), tmp_path / "kit", status, texts, files)


def test_the_pictures_span_the_datas_own_range():
    assert plot_range(load_data(DATA)[0]) == (-1, 3)  # the grid 0..2 with a margin of 1
    inputs, targets = load_data(GRID_PM1)
    assert plot_range(inputs) == (-2, 2)
    assert plot_range(torch.tensor([[0.5, 0.5]])) == (-0.5, 1.5)  # one point: a margin of 1
    weights = {"in_hid_weight": [[1, 1], [1, 0]], "hid_bias": [-1.5, 3]}  # h2: x = -3, not in view
    ax = lines_picture(pyplot(), weights, inputs, targets, "t").axes[0]
    assert ax.get_xlim() == ax.get_ylim() == (-2, 2)
    assert "not in view (no line here): h2" in ax.get_legend().get_title().get_text()
    line = ax.get_lines()[0]  # h1's
    assert sorted(zip(*line.get_data())) == [(-0.5, 2), (2, -0.5)]  # clipped to the same square


# ---------------------------------------------------------------- pictures for a report

def saved_pictures(monkeypatch, run_cli, *argv):
    """Run check_main with `argv`; return {file name: figure} of every picture it saved."""
    saved, save = {}, check_main.save_png

    def keep(fig, path):
        saved[os.path.basename(path)] = fig
        return save(fig, path)
    monkeypatch.setattr(check_main, "save_png", keep)
    assert run_cli(*argv).returncode == 0
    return saved


@pytest.mark.parametrize("flags, hid, run", [
    (["--act", "step", "--hid", "4", "--set_weights"], 4, "step 2-4-1 network, weights set by hand (set_weights)"),
    (["--act", "sig", "--hid", "5", "--epoch", "300"], 5,
     "sig 2-5-1 network, random weights (seed 0), trained for 300 epochs"),
    (["--act", "sig", "--hid", "8", "--weights", "{file}"], 8, "sig 2-8-1 network, weights from eight.json"),
], ids=["step set", "sig trained", "8 hidden from a file"])
def test_every_picture_of_a_check_run_goes_into_a_report_as_it_is(monkeypatch, run_cli, tmp_path, flags, hid, run):
    torch.manual_seed(1)
    net = MLP(8, "sig")
    init_weights(net, 2)
    save_weights(net, tmp_path / "eight.json")
    argv = [flag.format(file=tmp_path / "eight.json") for flag in flags]
    saved = saved_pictures(monkeypatch, run_cli, *argv, "--plot_dir", str(tmp_path / "plot"))
    kinds = ["net", "lines"] + [f"h{i}" for i in range(1, hid + 1)] + ["out"]
    name = check_main.run_name(parse_args(argv), hid, "--epoch" in argv)
    assert sorted(saved) == sorted(["check.png"] + [f"{kind}_{name}.png" for kind in kinds])
    for name, fig in saved.items():
        assert picture_problems(fig, tmp_path / "plot" / name) == [], name
        title = fig.axes[0].get_title()
        assert (run in title) != (name == "check.png"), (name, title)
        bars = [ax.get_ylabel() for ax in fig.axes if getattr(ax, "_colorbar", None)]
        node = name.split("_")[0]
        if node in kinds[2:]:
            assert bars == [f"{'output' if node == 'out' else 'activation of ' + node} (0 to 1)"], name
        else:
            assert bars == [], name
        if node != "net":
            legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
            assert legend[:2] == ["target 0", "target 1"], name


def test_coinciding_lines_are_drawn_apart_and_the_legend_says_so(tmp_path):
    inputs, targets = load_data(DATA)
    # h1 and h2: y = -x + 0.403 and y = -x + 0.408, as seed 0 trains them; h3 is 0.3 away, h4 far off
    weights = {"in_hid_weight": [[1, 1], [1, 1], [1, 1], [1, -1]], "hid_bias": [-0.403, -0.408, -0.703, 0]}
    fig = lines_picture(pyplot(), weights, inputs, targets, "t")
    check_main.save_png(fig, tmp_path / "lines.png")
    assert picture_problems(fig, tmp_path / "lines.png") == []  # names and legend clear of each other
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["h1", "h2 (nearly on h1)", "h3", "h4"]
    solid, dashed = lines["h1"], lines["h2 (nearly on h1)"]
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() != "-" and dashed.get_zorder() > solid.get_zorder()
    assert lines["h3"].get_linestyle() == lines["h4"].get_linestyle() == "-"
    names = {text.get_text(): text.get_position() for text in ax.texts if text.get_text()}
    assert math.dist(names["h1"], names["h2"]) > 0.1 * (ax.get_xlim()[1] - ax.get_xlim()[0])


@pytest.mark.parametrize("hid", [1, 2, 4, 5, 8])
def test_every_weight_label_sits_on_its_own_edge_and_no_other(hid):
    torch.manual_seed(hid)
    net = MLP(hid, "sig")
    init_weights(net, 5)
    edges, _ = network_numbers(get_weights(net))
    fig = network_picture(pyplot(), get_weights(net), "t")
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    labels = ax.texts[:len(edges)]
    assert [text.get_text() for text in labels] == [weight_text(w) for _, _, w in edges]
    for i, label in enumerate(labels):
        # the label's box in its own frame: along its (rotated) baseline and across it, in pixels
        angle = math.radians(label.get_rotation())
        label.set_rotation(0)
        box = label.get_window_extent(canvas.get_renderer())
        label.set_rotation(math.degrees(angle))
        centre = ax.transData.transform(label.get_position())
        for j, line in enumerate(ax.get_lines()[:len(edges)]):
            (x0, y0), (x1, y1) = ax.transData.transform(line.get_xydata()) - centre
            covered = False
            for f in torch.linspace(0, 1, 400).tolist():
                x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
                along, across = x * math.cos(angle) + y * math.sin(angle), y * math.cos(angle) - x * math.sin(angle)
                covered |= abs(along) < 0.45 * box.width and abs(across) < 0.45 * box.height
            assert covered == (i == j), (edges[i], edges[j])
