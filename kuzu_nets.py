"""The networks of kuzu.py as kuzu_main.py and the grader use them: built and checked against
the course's contract before any training, counted, and their weights saved and loaded.

The contract: kuzu.py defines NetLin, NetFull and NetConv, subclasses of torch.nn.Module built
with no arguments (arguments with defaults are fine), whose forward takes a batch of images
(N, 1, 28, 28) and returns log-probabilities (N, 10). Layer names, sizes and helper layers are
the student's choice, so nothing here names a layer.
"""
import importlib
import inspect
import os

import torch
import torch.nn as nn

from common import UserError, describe

NETS = {"lin": "NetLin", "full": "NetFull", "conv": "NetConv"}
# Two images to try a forward pass on, made without the random generator so that checking a
# network does not change the numbers of the run that follows.
PROBE = torch.linspace(-1, 1, 2 * 28 * 28).view(2, 1, 28, 28)


def network_class(name):
    """The class of --net `name` in the kuzu.py on the path; UserError if there is none."""
    try:
        module = importlib.import_module("kuzu")
    except SyntaxError as err:
        raise UserError(f"kuzu.py, line {err.lineno}: syntax error: {err.msg}") from None
    except NotImplementedError:
        raise
    except Exception as err:  # whatever a student's file raises as it is imported
        raise UserError(f"kuzu.py cannot be imported: {describe(err, 'kuzu.py')}") from None
    cls = getattr(module, NETS[name], None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise UserError(f"kuzu.py has no class {NETS[name]}(nn.Module)")
    return cls


def build(name, device="cpu"):
    """A fresh network for --net `name`, checked against the contract; returns (model, warnings).

    A break of the contract is a UserError naming the class and what is wrong; outputs that are
    not log-probabilities are only a warning (it trains, but the loss printed is not the NLL)."""
    cls = network_class(name)
    needed = [p.name for p in inspect.signature(cls).parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if needed:
        raise UserError(f"{cls.__name__}() needs the arguments {', '.join(needed)}: kuzu_main.py builds it "
                        "with none, so give each a default value")
    try:
        model = cls()
    except NotImplementedError:  # the student edition's stub: its own message says what to write
        raise
    except Exception as err:
        raise UserError(f"{cls.__name__}() fails: {describe(err, 'kuzu.py')}") from None
    model.to(device)
    warnings = check_forward(model, device)
    if num_parameters(model) == 0:
        raise UserError(f"{cls.__name__} has no trainable parameters: make its layers attributes "
                        "in __init__ (self.layer = nn.Linear(...))")
    return model, warnings


def check_forward(model, device="cpu"):
    """Run the model on two images (eval mode, no gradient) and check what it returns; return a
    list of warnings, or raise a UserError when the output cannot be trained on at all."""
    name = type(model).__name__
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(PROBE.to(device))
    except NotImplementedError:
        raise
    except Exception as err:
        raise UserError(f"{name}.forward fails on a batch of shape (2, 1, 28, 28): {describe(err, 'kuzu.py')}") from None
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor):
        raise UserError(f"{name}.forward returns {type(output).__name__} {str(output)[:40]!r}, not a tensor "
                        "of log-probabilities of shape (N, 10)")
    if tuple(output.shape) != (2, 10):
        raise UserError(f"{name}.forward returns shape {tuple(output.shape)} for a batch of shape (2, 1, 28, 28): "
                        "want (2, 10), one row of 10 class scores per image")
    if not output.is_floating_point() or not torch.isfinite(output).all():
        raise UserError(f"{name}.forward returns {'NaN or infinite values' if output.is_floating_point() else output.dtype}"
                        ": want finite log-probabilities")
    sums = output.double().exp().sum(dim=1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        return [f"warning: {name}'s outputs are not log-probabilities (the exp of a row sums to "
                f"{float(sums[0]):.3g}, not 1): end forward with log_softmax, or the training loss will be wrong"]
    return []


def num_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_table(model):
    """(name, layer type, shape, count) for every trainable tensor, in the model's order."""
    layers = dict(model.named_modules())
    return [(name, type(layers[name.rpartition(".")[0]]).__name__, tuple(p.shape), p.numel())
            for name, p in model.named_parameters() if p.requires_grad]


def fits(state, model):
    """Whether the state_dict `state` has exactly the model's tensors, shape for shape."""
    expected = model.state_dict()
    return isinstance(state, dict) and state.keys() == expected.keys() and all(
        isinstance(state[k], torch.Tensor) and state[k].shape == v.shape for k, v in expected.items())


def load_weights(model, path, name, device="cpu"):
    """Load into `model` (the --net `name` network) the weights kuzu_main.py --save_model wrote.

    Only tensors are unpickled (weights_only), so a file from elsewhere cannot run code; a
    missing, corrupt or foreign file, or one saved for another network, is a one-line UserError."""
    if os.path.isdir(path):
        raise UserError(f"--load_model {path} is a folder, not a model file")
    if not os.path.isfile(path):
        raise UserError(f"--load_model {path}: no such file")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # torch's own text about unpickling is long and suggests unsafe loading
        raise UserError(f"--load_model {path} is not a model saved by kuzu_main.py "
                        f"(empty, truncated or another kind of file)") from None
    if fits(state, model):
        model.load_state_dict(state)
        return model
    for other in NETS:
        other_model = _quietly_built(other) if other != name and isinstance(state, dict) else None
        if other_model is not None and fits(state, other_model):
            raise UserError(f"--load_model {path} was saved with --net {other}, not --net {name}")
    raise UserError(f"--load_model {path} does not hold the weights of {NETS[name]} as kuzu.py defines it "
                    "(saved for another network, or before kuzu.py changed)")


def _quietly_built(name):
    """Another net of kuzu.py, built without touching the random generator; None if it cannot be."""
    with torch.random.fork_rng(devices=[]):
        try:
            return network_class(name)()
        except Exception:  # a stub or a broken class: it cannot be the one the file was saved for
            return None
