"""Part 2: the 3x3 check task (check.py, check_main.py, check.csv)."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

import check_main
from check import HAND_WEIGHTS, SIG_SCALE, MLP, load_data, load_weights, save_weights
from check_main import accuracy, activation_table, line_equation, plot_all, train
from common import run_main

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
    monkeypatch.setattr(sys, "argv", ["check_main.py", *argv])
    try:
        run_main(check_main.main)
    except SystemExit as exit:
        return exit.code
    return 0


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


def test_plots_are_written(tmp_path):
    inputs, targets = load_data(DATA)
    net = MLP(4, "step")
    net.set_weights()
    paths = plot_all(net, inputs, targets, str(tmp_path))
    names = ["check.jpg", "hid_4_1.jpg", "hid_4_2.jpg", "hid_4_3.jpg", "hid_4_4.jpg", "out_4.jpg"]
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    assert all(os.path.getsize(path) > 1000 for path in paths)


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("missing csv", "cannot read data file"),
    ("bad header", "header x,y,target"),
    ("not a number", "line 3: expected three numbers"),
    ("bad target", "target must be 0 or 1"),
    ("bad json", "is not valid JSON"),
    ("wrong shapes", "in_hid_weight has shape [4, 2] but 5 hidden nodes need [5, 2]"),
    ("shipped weights, wrong --hid", "the hand-designed weights in check.py have 4 hidden nodes: use --hid 4"),
    ("no hidden nodes", "--hid must be at least 1"),
    ("step without weights", "cannot be trained by gradient descent"),
])
def test_errors_are_one_clear_line(monkeypatch, capsys, tmp_path, case, message):
    good_weights = write(tmp_path, "w.json", json.dumps(HAND_WEIGHTS))
    argv = {
        "missing csv": ["--data", str(tmp_path / "nope.csv")],
        "bad header": ["--data", write(tmp_path, "header.csv", "a,b,c\n0,0,0\n")],
        "not a number": ["--data", write(tmp_path, "number.csv", "x,y,target\n0,0,0\n0,one,1\n")],
        "bad target": ["--data", write(tmp_path, "target.csv", "x,y,target\n0,0,2\n")],
        "bad json": ["--act", "step", "--hid", "4", "--weights", write(tmp_path, "bad.json", "{in_hid_weight: [")],
        "wrong shapes": ["--act", "step", "--hid", "5", "--weights", good_weights],
        "shipped weights, wrong --hid": ["--act", "step", "--hid", "3", "--set_weights"],
        "no hidden nodes": ["--hid", "0"],
        "step without weights": ["--act", "step", "--hid", "4"],
    }[case]
    assert run_cli(monkeypatch, *argv, "--epoch", "1", "--plot_dir", str(tmp_path / "plot")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "plot").exists()  # nothing was written


def test_plot_folder_that_is_a_file_is_one_clear_line(monkeypatch, capsys, tmp_path):
    not_a_folder = write(tmp_path, "file.txt", "")
    assert run_cli(monkeypatch, "--act", "step", "--hid", "4", "--set_weights", "--data", DATA,
                   "--plot_dir", not_a_folder) == 2
    err = capsys.readouterr().err
    assert err == f"error: --plot_dir {not_a_folder} is a file, not a folder\n"


def test_error_exit_code_from_a_real_process(tmp_path):
    result = subprocess.run([sys.executable, "check_main.py", "--data", str(tmp_path / "nope.csv")],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot read data file") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
