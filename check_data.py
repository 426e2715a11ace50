"""Part 2's plumbing, shared by check_main.py, check_plots.py and the tests: the data CSV, weights
files, an MLP's weights read and written through the course's layer names (`in_hid`, `hid_out`),
and the check that the student's check.py keeps the course's contract.

check.py is the file students edit and holds nothing but the course's `MLP`, so a check.py written
for the course drops in unchanged. The contract: `MLP(hid, act)` with layers `self.in_hid =
nn.Linear(2, hid)` and `self.hid_out = nn.Linear(hid, 1)`; `forward(input)` returns the output,
shape (N, 1), and leaves the hidden activations in `self.hid`, shape (N, hid); `set_weights()`
enters the hand-designed weights, which may have any number of hidden nodes.
"""
import csv
import importlib
import json
import math
import os

import torch
import torch.nn as nn

from common import UserError, describe, save_text

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check.csv")  # found from any folder

ACTIVATIONS = ("sig", "step")

# Weights-file key -> (layer, parameter) of the course's MLP.
WEIGHT_NAMES = {
    "in_hid_weight": ("in_hid", "weight"),
    "hid_bias": ("in_hid", "bias"),
    "hid_out_weight": ("hid_out", "weight"),
    "out_bias": ("hid_out", "bias"),
}


# ---------------------------------------------------------------- the data

def numbers(row):
    """The row's cells as finite numbers, or None if any is not one."""
    try:
        values = [float(cell) for cell in row]
    except ValueError:
        return None
    return values if all(math.isfinite(value) for value in values) else None


def load_data(path=DATA_FILE):
    """Read a CSV of rows x, y, target (0 or 1); return inputs (N, 2) and targets (N, 1).

    The first row may be a header of three names (the course's files have ` X, Y, T`, the kit's
    x,y,target; the columns count by position, whatever their names) or already the first
    point. A byte-order mark at the start, as some spreadsheets write, is skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [(line, row) for line, row in enumerate(csv.reader(file), start=1)
                    if any(cell.strip() for cell in row)]  # blank lines are skipped
    except OSError as err:
        raise UserError(f"cannot read data file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text CSV file") from None
    if rows and numbers(rows[0][1]) is None:
        header = rows.pop(0)[1]
        if len(header) != 3 or not all(cell.strip() and numbers([cell]) is None for cell in header):
            raise UserError(f"{path}: the first row must be a header of three names, such as x,y,target, "
                            f"or the first point x,y,target; got {','.join(header)!r}")
    points = []
    for line, row in rows:
        values = numbers(row)
        if values is None or len(values) != 3:
            raise UserError(f"{path}, line {line}: expected three numbers x,y,target, got {','.join(row)!r}")
        if values[2] not in (0, 1):
            raise UserError(f"{path}, line {line}: target must be 0 or 1, got {row[2].strip()!r}")
        points.append(values)
    if not points:
        raise UserError(f"{path}: no data rows")
    data = torch.tensor(points)
    return data[:, :2], data[:, 2:]


# ---------------------------------------------------------------- an MLP's weights

def named_weights(net):
    """The net's four weight tensors under the names weights files use."""
    return {name: getattr(getattr(net, layer), param) for name, (layer, param) in WEIGHT_NAMES.items()}


def hidden_nodes(net):
    """The number of hidden nodes, read from the weights themselves (set_weights may replace them)."""
    return net.in_hid.weight.shape[0]


def init_weights(net, std):
    """Draw every weight and bias from Normal(0, std)."""
    for param in named_weights(net).values():
        nn.init.normal_(param, std=std)


def put_weights(net, weights, scale=1):
    """Copy `weights` (a dict with the keys of WEIGHT_NAMES, as a weights file holds), times `scale`,
    into the net. UserError, with the net unchanged, unless every value is finite numbers in float32
    of the shape the net's layers have."""
    values = {}  # check everything before changing anything
    for name, param in named_weights(net).items():
        if name not in weights:
            raise UserError(f"weights: {name!r} is missing")
        try:
            value = torch.tensor(weights[name], dtype=param.dtype)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"weights: {name} must be a (nested) list of numbers") from None
        if value.shape != param.shape:
            raise UserError(f"weights: {name} has shape {list(value.shape)} but {hidden_nodes(net)} "
                            f"hidden nodes need {list(param.shape)}")
        value = value * scale
        if not torch.isfinite(value).all():  # also a number beyond float32's +-3.4e38, or made so by scale
            raise UserError(f"weights: {name}{f' times {scale:g}' if scale != 1 else ''} holds a number "
                            "that is not finite in float32 (NaN, infinity or beyond +-3.4e38)")
        values[name] = value
    with torch.no_grad():
        for name, param in named_weights(net).items():
            param.copy_(values[name])


def get_weights(net, decimals=None):
    """The net's weights as a dict of (nested) lists, rounded to `decimals` if given."""
    weights = {}
    for name, param in named_weights(net).items():
        value = param.detach().double()  # double, so rounded values print without float32 noise
        if decimals is not None:
            value = value.round(decimals=decimals)
        weights[name] = value.tolist()
    return weights


# ---------------------------------------------------------------- weights files

def load_weights(path):
    """Read a weights file: a JSON object with the keys of WEIGHT_NAMES."""
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
        raise UserError(f"weights file {path} must hold a JSON object with keys {', '.join(WEIGHT_NAMES)}")
    return weights


def weights_json(weights):
    """JSON text for a weights dict, one key per line so small matrices stay readable."""
    lines = [f'  "{name}": {json.dumps(value)}' for name, value in weights.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_weights(net, path):
    """Write the net's weights at full precision, in the format load_weights reads. The write
    is atomic: if it fails (a full disk), a file already at `path` is left as it was."""
    try:
        save_text(weights_json(get_weights(net)), path)
    except OSError as err:
        raise UserError(f"cannot write weights file {path}: {err.strerror}") from None


# ---------------------------------------------------------------- the contract of check.py

def student_call(what, function, *args):
    """function(*args), code of the student's check.py: whatever it raises becomes one UserError
    line saying `what` failed, and NotImplementedError (a stub not yet written) a line of its own."""
    try:
        return function(*args)
    except NotImplementedError as err:
        raise UserError(f"{what} is not written yet{': ' + str(err) if str(err) else ''}") from None
    except Exception as err:  # a contract break or a bug of the student's: one line, no traceback
        raise UserError(f"{what} failed: {describe(err, 'check.py')}") from None


def check_layers(net, when):
    """UserError unless net.in_hid and net.hid_out are nn.Linear layers 2 -> H -> 1 (H >= 1);
    `when` says at which step of the contract."""
    for layer, shape in (("in_hid", "2, hid"), ("hid_out", "hid, 1")):
        if not isinstance(getattr(net, layer, None), nn.Linear):
            raise UserError(f"{when}, MLP has no layer self.{layer} = nn.Linear({shape})")
    shapes = [None if param is None else list(param.shape) for param in named_weights(net).values()]  # None: no bias
    hid = shapes[0][0] if len(shapes[0]) == 2 else 0
    if hid < 1 or shapes != [[hid, 2], [hid], [1, hid], [1]]:
        layers = ", ".join(f"{layer}.{param} {shape}"
                           for (layer, param), shape in zip(WEIGHT_NAMES.values(), shapes))
        if any(0 in (shape or []) for shape in shapes):  # the stub's empty lists
            raise UserError(f"{when}, the weights are empty ({layers}): enter them between the "
                            "'##### Enter Weights Here #####' lines of set_weights in check.py")
        raise UserError(f"{when}, the layers of MLP must hold in_hid.weight [H, 2], in_hid.bias [H], "
                        f"hid_out.weight [1, H] and hid_out.bias [1] for H hidden nodes; they hold {layers}")


def build_mlp(hid, act):
    """The student's MLP(hid, act) from check.py (found on the module path: first beside the script
    that runs), checked to have the course's layers."""
    module = student_call("importing check.py", importlib.import_module, "check")
    mlp = getattr(module, "MLP", None)
    if not (isinstance(mlp, type) and issubclass(mlp, nn.Module)):
        raise UserError("check.py must define class MLP(torch.nn.Module)")
    net = student_call(f"MLP({hid}, {act!r})", mlp, hid, act)
    check_layers(net, f"after MLP({hid}, {act!r})")
    return net


def enter_hand_weights(net):
    """Call the student's net.set_weights() and check the layers it leaves; return their hidden nodes."""
    if not callable(getattr(net, "set_weights", None)):
        raise UserError("MLP has no method set_weights(self) to enter the hand-designed weights")
    student_call("MLP.set_weights()", net.set_weights)
    check_layers(net, "after MLP.set_weights()")
    return hidden_nodes(net)


def check_forward(net, inputs):
    """Run net(inputs) once: UserError unless it returns a tensor (N, 1) and leaves the hidden
    activations in net.hid, a tensor (N, H)."""
    with torch.no_grad():
        output = student_call("MLP.forward", net, inputs)
    want = [len(inputs), 1]
    if not isinstance(output, torch.Tensor) or list(output.shape) != want:
        got = (f"a tensor of shape {list(output.shape)}" if isinstance(output, torch.Tensor)
               else f"{type(output).__name__} {output!r:.40}")
        raise UserError(f"MLP.forward returns {got}, not the output as a tensor of shape {want} (one row per point)")
    hidden = getattr(net, "hid", None)
    want = [len(inputs), hidden_nodes(net)]
    if not isinstance(hidden, torch.Tensor) or list(hidden.shape) != want:
        got = ("no self.hid" if hidden is None else f"self.hid of shape {list(hidden.shape)}"
               if isinstance(hidden, torch.Tensor) else f"self.hid a {type(hidden).__name__}")
        raise UserError(f"MLP.forward leaves {got}, not the hidden activations in self.hid as a tensor of "
                        f"shape {want}")


def check_probabilities(output, epoch=None):
    """UserError if an output lies outside 0..1, which the training loss (binary cross-entropy
    against the 0/1 targets) cannot take; `epoch`: the training epoch, None before training."""
    if ((output < 0) | (output > 1)).any():             # NaN is neither: the training's own check says it
        finite = output[torch.isfinite(output)]
        span = f"from {finite.min():.3g} to {finite.max():.3g}" if len(finite) else "none of them finite"
        when = "before training" if epoch is None else f"at epoch {epoch}"
        raise UserError(f"MLP.forward returns outputs outside 0..1 {when} ({span}): training needs "
                        "probabilities, so end the sigmoid network's forward with torch.sigmoid")
