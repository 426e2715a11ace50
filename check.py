"""Part 2: a two-layer network for the 3x3 checkerboard task.

Nine points x, y in {0, 1, 2}, labelled 1 where x + y is odd (check.csv).
The network has two inputs, `hid` hidden nodes and one output, with the same
activation at both layers: `sig` (the logistic sigmoid, trainable) or `step`
(Heaviside: 1 where the net input is >= 0, else 0; no gradient, so its
weights are designed by hand: see the marked block below).
"""
import csv
import json
import math
import os

import torch
import torch.nn as nn

from common import UserError, save_text

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check.csv")  # found from any folder

ACTIVATIONS = ("sig", "step")

# BEGIN SOLUTION: Part 2: design HAND_WEIGHTS so the step network (4 hidden nodes) gets all nine points right
# For the step network with 4 hidden nodes. On the nine points x + y takes the
# values 0, 1, 2, 3, 4 and the target is 1 exactly when x + y is odd.
#
# Hidden node k (k = 1..4) asks "is x + y >= k - 0.5?". Its dividing line is
# x + y = k - 0.5, a diagonal halfway between two diagonals of the grid, so on
# the grid the number of nodes that fire is x + y itself.
# The output adds the hidden nodes with alternating signs: h1 - h2 + h3 - h4 is
# 1 when x + y is odd and 0 when it is even, and the output fires when that sum
# minus 0.5 is >= 0.
HAND_WEIGHTS = {
    "in_hid_weight": [[1, 1], [1, 1], [1, 1], [1, 1]],  # row k: weights from x and y
    "hid_bias": [-0.5, -1.5, -2.5, -3.5],
    "hid_out_weight": [[1, -1, 1, -1]],
    "out_bias": [-0.5],
}
# END SOLUTION
# BEGIN SOLUTION: Part 2: choose SIG_SCALE so HAND_WEIGHTS times SIG_SCALE get all nine points right with sigmoid
# For the sigmoid network every weight and bias above is multiplied by SIG_SCALE.
# With the weights above every net input, hidden or output, is at least 0.5 away
# from 0 on the nine points, so after scaling it is at least 5 away: each hidden
# sigmoid is within sigmoid(-5) = 0.0067 of its step value, the output's net
# input stays at least 10 * (0.5 - 4 * 0.0067) = 4.7 away from 0, and the output
# is within 0.01 of the target. (The step network is unchanged by the scaling.)
SIG_SCALE = 10
# END SOLUTION


class MLP(nn.Module):
    """2 inputs -> `hid` hidden nodes -> 1 output, activation `act` at both layers."""

    def __init__(self, hid, act="sig"):
        super().__init__()
        if hid < 1:
            raise UserError(f"the number of hidden nodes must be at least 1, got {hid}")
        if act not in ACTIVATIONS:
            raise UserError(f"unknown activation {act!r}; choose from {', '.join(ACTIVATIONS)}")
        self.act = act
        self.in_hid = nn.Linear(2, hid)
        self.hid_out = nn.Linear(hid, 1)
        self.hidden = None  # hidden activations of the last forward pass, for tables and plots

    def activation(self, net_input):
        if self.act == "step":
            return (net_input >= 0).to(net_input.dtype)
        return torch.sigmoid(net_input)

    def forward(self, inputs):
        self.hidden = self.activation(self.in_hid(inputs))
        return self.activation(self.hid_out(self.hidden))

    def named_weights(self):
        """The weight tensors under the names used by weights files."""
        return {
            "in_hid_weight": self.in_hid.weight,
            "hid_bias": self.in_hid.bias,
            "hid_out_weight": self.hid_out.weight,
            "out_bias": self.hid_out.bias,
        }

    def init_weights(self, std):
        """Draw every weight and bias from Normal(0, std)."""
        for param in self.parameters():
            nn.init.normal_(param, std=std)

    def set_weights(self, weights=None, scale=None):
        """Load `weights` (a dict like HAND_WEIGHTS; default HAND_WEIGHTS), times `scale`.

        The default scale is SIG_SCALE for the shipped weights on a sigmoid
        network and 1 otherwise, so weights from a file are used as written.
        """
        if scale is None:
            scale = SIG_SCALE if weights is None and self.act == "sig" else 1
        if weights is None:
            weights = HAND_WEIGHTS
        values = {}  # check everything before changing anything
        for name, param in self.named_weights().items():
            if name not in weights:
                raise UserError(f"weights: {name!r} is missing")
            try:
                value = torch.tensor(weights[name], dtype=param.dtype)
            except (TypeError, ValueError, OverflowError):
                raise UserError(f"weights: {name} must be a (nested) list of numbers") from None
            if value.shape != param.shape:
                raise UserError(f"weights: {name} has shape {list(value.shape)} but {self.in_hid.out_features} "
                                f"hidden nodes need {list(param.shape)}")
            value = value * scale
            if not torch.isfinite(value).all():  # also a number beyond float32's +-3.4e38, or made so by scale
                raise UserError(f"weights: {name}{f' times {scale:g}' if scale != 1 else ''} holds a number "
                                "that is not finite in float32 (NaN, infinity or beyond +-3.4e38)")
            values[name] = value
        with torch.no_grad():
            for name, param in self.named_weights().items():
                param.copy_(values[name])

    def get_weights(self, decimals=None):
        """The weights as a dict of (nested) lists, rounded to `decimals` if given."""
        weights = {}
        for name, param in self.named_weights().items():
            value = param.detach().double()  # double, so rounded values print without float32 noise
            if decimals is not None:
                value = value.round(decimals=decimals)
            weights[name] = value.tolist()
        return weights


def load_data(path=DATA_FILE):
    """Read a CSV with header x,y,target; return inputs (N, 2) and targets (N, 1).
    A byte-order mark at the start, as some spreadsheets write, is skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.reader(file))
    except OSError as err:
        raise UserError(f"cannot read data file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text CSV file") from None
    if not rows or [cell.strip() for cell in rows[0]] != ["x", "y", "target"]:
        raise UserError(f"{path}: the first row must be the header x,y,target")
    points = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue  # blank line
        try:
            values = [float(cell) for cell in row]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(value) for value in values):
            raise UserError(f"{path}, line {line}: expected three numbers x,y,target, got {','.join(row)!r}")
        if values[2] not in (0, 1):
            raise UserError(f"{path}, line {line}: target must be 0 or 1, got {row[2]!r}")
        points.append(values)
    if not points:
        raise UserError(f"{path}: no data rows after the header")
    data = torch.tensor(points)
    return data[:, :2], data[:, 2:]


def load_weights(path):
    """Read a weights file: a JSON object with the keys of HAND_WEIGHTS."""
    try:
        with open(path, encoding="utf-8-sig") as file:
            weights = json.load(file)
    except OSError as err:
        raise UserError(f"cannot read weights file {path}: {err.strerror}") from None
    except ValueError as err:  # bad JSON or not text
        raise UserError(f"weights file {path} is not valid JSON: {err}") from None
    except RecursionError:  # lists nested thousands deep
        raise UserError(f"weights file {path} is nested too deeply to hold weights") from None
    if not isinstance(weights, dict):
        raise UserError(f"weights file {path} must hold a JSON object with keys {', '.join(HAND_WEIGHTS)}")
    return weights


def weights_json(weights):
    """JSON text for a weights dict, one key per line so small matrices stay readable."""
    lines = [f'  "{name}": {json.dumps(value)}' for name, value in weights.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_weights(net, path):
    """Write the network's weights at full precision, in the format load_weights reads. The write
    is atomic: if it fails (a full disk), a file already at `path` is left as it was."""
    try:
        save_text(weights_json(net.get_weights()), path)
    except OSError as err:
        raise UserError(f"cannot write weights file {path}: {err.strerror}") from None
