"""The checks teacher/grade.py marks. Each runs in a process of its own (teacher/sandbox.py),
inside a scratch copy of one submission, and either returns a one-line note (passed) or raises (failed:
Failed for a wrong answer, anything else for broken code).

Everything is checked through the course's contract only, never against the reference
solution's names: Part 1 builds NetLin, NetFull and NetConv with no arguments (kuzu_nets.py) and
looks at their modules and forward pass; any layer names, sizes, initialisation or extras (batch
norm, dropout, pooling) are fine as long as the structure asked for is there. The activations a
network uses are read off its forward pass with a TorchFunctionMode, which sees every torch
function it calls (F.relu, torch.tanh, nn.Tanh, x.relu() alike). Part 2 builds MLP(4, act) from
check.py, calls its set_weights() and runs it on check.csv (check_data.py).
"""

import os
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

import check_data
import kuzu_nets
from anbn import AnBn
from common import UserError
from seq_checkpoints import read_weights_only, weights_shape
from seq_models import evaluate, make_model

ACTIVATIONS = {"relu", "tanh", "sigmoid", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
               "softsign", "hardtanh", "relu6", "hardswish", "hardsigmoid", "logsigmoid", "prelu", "rrelu"}
SHAPE_OPS = {"view", "reshape", "squeeze", "flatten", "contiguous", "dim", "size", "__get__", "__getitem__"}
TRAIN_BATCHES, BATCH_SIZE = 300, 32


class Failed(Exception):
    """The submission's answer is wrong; the message says how, in one line."""


CHECKS = {}  # name -> (file, part, description, function); grade.py's table lists them in this order


def check(name, file, part, description):
    def register(function):
        CHECKS[name] = (file, part, description, function)
        return function
    return register


# ----------------------------------------------------------------------------
# Part 1: the networks

SHORT = {class_name: short for short, class_name in kuzu_nets.NETS.items()}


def network(class_name):
    """A fresh instance of the submission's network, built and checked as kuzu_main.py does it."""
    try:
        return kuzu_nets.build(SHORT[class_name])[0]
    except UserError as err:  # a break of the course's contract
        raise Failed(str(err)) from None


def bars(n, seed):
    """n synthetic images scaled like KMNIST's: dim noise with a bright bar on row 2c + 4 for class c."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.rand(n, 1, 28, 28, generator=generator) * 0.4 - 1
    images[torch.arange(n), 0, 2 * labels + 4, 4:24] = 1
    return images, labels


class OpRecorder(TorchFunctionMode):
    """Records the name of every torch function called while it is active."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", "").rstrip("_"))  # relu_ (in place) counts as relu
        return func(*args, **(kwargs or {}))


def forward_ops(model):
    """The torch functions one forward pass of a small batch calls, in order."""
    images, _ = bars(4, seed=0)
    model.eval()
    recorder = OpRecorder()
    with torch.no_grad(), recorder:
        model(images)
    return recorder.names


def activations(ops):
    return [op for op in ops if op in ACTIVATIONS]


def ends_with_log_softmax(ops):
    if "log_softmax" not in ops:
        raise Failed("forward does not end with log_softmax (it never calls it)")
    after = [op for op in ops[len(ops) - ops[::-1].index("log_softmax"):] if op not in SHAPE_OPS]
    if after:
        raise Failed(f"forward calls {after[0]} after log_softmax: log_softmax must come last")


def layers(model, kind):
    return [module for module in model.modules() if isinstance(module, kind)]


def sizes(linears):
    return ", ".join(f"{layer.in_features}->{layer.out_features}" for layer in linears) or "none"


@check("lin_structure", "kuzu.py", 1, "NetLin: one linear layer 784 -> 10 (7,850 parameters), then log_softmax")
def lin_structure(context):
    model = network("NetLin")
    linears, count = layers(model, nn.Linear), sum(p.numel() for p in model.parameters())
    if [(layer.in_features, layer.out_features) for layer in linears] != [(784, 10)] or count != 7850:
        raise Failed(f"{count:,} parameters in linear layers {sizes(linears)}: want one linear layer 784->10 (7,850)")
    ops = forward_ops(model)
    if activations(ops):
        raise Failed(f"a linear model has no activation function, but forward calls {activations(ops)[0]}")
    ends_with_log_softmax(ops)
    return "one linear layer 784->10, 7,850 parameters, log_softmax"


@check("full_structure", "kuzu.py", 1, "NetFull: one fully connected hidden layer of tanh units, then log_softmax")
def full_structure(context):
    model = network("NetFull")
    linears = layers(model, nn.Linear)
    chained = lambda first, second: (first.in_features, first.out_features, second.out_features) \
        == (784, second.in_features, 10)
    if len(linears) != 2 or layers(model, nn.modules.conv._ConvNd) \
            or not (chained(*linears) or chained(*reversed(linears))):
        raise Failed(f"linear layers {sizes(linears)}: want two, 784 -> hidden -> 10, and no convolution")
    ops = forward_ops(model)
    if activations(ops) != ["tanh"]:
        raise Failed(f"the hidden layer must use tanh, once; forward calls {', '.join(activations(ops)) or 'none'}")
    ends_with_log_softmax(ops)
    return f"linear layers {sizes(linears)}, tanh, log_softmax"


@check("conv_structure", "kuzu.py", 1,
       "NetConv: two conv layers and one fully connected hidden layer, all relu, then log_softmax")
def conv_structure(context):
    model = network("NetConv")
    convs, linears = layers(model, nn.Conv2d), layers(model, nn.Linear)
    if len(convs) != 2 or len(linears) != 2 or 10 not in [layer.out_features for layer in linears]:
        raise Failed(f"{len(convs)} conv layers and linear layers {sizes(linears)}: want two conv layers, "
                     "then a hidden linear layer and the output layer (10)")
    ops = forward_ops(model)
    used = activations(ops)
    if set(used) != {"relu"} or len(used) < 3:
        raise Failed("want relu after both conv layers and the hidden layer; "
                     f"forward calls {', '.join(used) or 'none'}")
    ends_with_log_softmax(ops)
    return f"2 conv layers, linear layers {sizes(linears)}, relu x{len(used)}, log_softmax"


def forward_shapes(class_name):
    """Log-probabilities of shape (N, 10) for a single image (eval mode) and a batch (train mode)."""
    model = network(class_name)
    for n, mode in ((1, model.eval), (8, model.train)):
        mode()
        output = model(bars(n, seed=0)[0])
        if not isinstance(output, torch.Tensor) or output.shape != (n, 10):
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise Failed(f"{n} image{'s' if n > 1 else ''} of shape ({n}, 1, 28, 28) gave {shape}, not ({n}, 10)")
        if not log_probabilities(output):
            raise Failed("the outputs are not log-probabilities (exp of each row must sum to 1)")
    return "(1, 10) and (8, 10) log-probabilities"


def log_probabilities(output):
    """Whether `output` is a finite float tensor whose rows are log-probabilities (exp sums to 1)."""
    return (isinstance(output, torch.Tensor) and output.is_floating_point() and bool(torch.isfinite(output).all())
            and torch.allclose(output.double().logsumexp(dim=1), torch.zeros(len(output), dtype=torch.float64),
                               atol=1e-4))


def trains(class_name):
    """TRAIN_BATCHES batches of the course's SGD on synthetic bars: the held-out loss, a true
    negative log likelihood (the outputs stay log-probabilities), falls by 20%, and the held-out
    accuracy ends at least twice chance. A loss that falls below zero is not training."""
    model = network(class_name)
    images, labels = bars(TRAIN_BATCHES * BATCH_SIZE, seed=1)
    held_out, held_out_labels = bars(200, seed=2)

    def loss():
        model.eval()
        with torch.no_grad():
            output = model(held_out)
        if not log_probabilities(output):
            raise Failed("the held-out outputs are not log-probabilities (exp of each row must sum to 1), "
                         "so the loss is not a negative log likelihood")
        return F.nll_loss(output, held_out_labels).item(), (output.argmax(dim=1) == held_out_labels).double().mean()

    before, _ = loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    model.train()
    for batch, batch_labels in zip(images.split(BATCH_SIZE), labels.split(BATCH_SIZE)):
        optimizer.zero_grad()
        F.nll_loss(model(batch), batch_labels).backward()
        optimizer.step()
    after, accuracy = loss()
    if not after < 0.8 * before:  # also false for NaN
        raise Failed(f"held-out loss {before:.3f} -> {after:.3f} after {TRAIN_BATCHES} batches: want 20% lower")
    if accuracy < 0.2:
        raise Failed(f"held-out accuracy {100 * accuracy:.0f}% after {TRAIN_BATCHES} batches: want at least 20% "
                     "(chance is 10%)")
    return f"held-out loss {before:.3f} -> {after:.3f}, accuracy {100 * accuracy:.0f}% after {TRAIN_BATCHES} batches"


def network_checks(short, class_name):
    """Register the forward-shape and training checks of one network."""
    check(f"{short}_forward", "kuzu.py", 1, f"{class_name}: images (N, 1, 28, 28) give log-probabilities (N, 10)")(
        lambda context: forward_shapes(class_name))
    check(f"{short}_trains", "kuzu.py", 1, f"{class_name}: {TRAIN_BATCHES} batches of SGD on synthetic data "
          "lower the loss")(lambda context: trains(class_name))


for short_name, network_class in (("lin", "NetLin"), ("full", "NetFull"), ("conv", "NetConv")):
    network_checks(short_name, network_class)


# ----------------------------------------------------------------------------
# Part 2: the hand-designed weights

def hand_set(act):
    """The submission's MLP(4, act) after its set_weights(), and its outputs and the targets on the
    points of check.csv, through the course's contract (check_data.py)."""
    try:
        net = check_data.build_mlp(4, act)
        check_data.enter_hand_weights(net)
        inputs, targets = check_data.load_data("check.csv")
        check_data.check_forward(net, inputs)
        with torch.no_grad():
            return net(inputs).double(), targets.double()
    except UserError as err:  # a break of the contract, or set_weights not written yet
        raise Failed(str(err)) from None


def points_right(output, targets):
    return int(((output >= 0.5).double() == targets).sum())


@check("step_weights", "check.py", 2, "set_weights: the step network gets every point of check.csv right")
def step_weights(context):
    output, targets = hand_set("step")
    right = points_right(output, targets)
    if right != len(targets):
        raise Failed(f"{right} of {len(targets)} points right with step")
    return f"{right} of {right} points right with step"


@check("sig_weights", "check.py", 2, "set_weights with sigmoid: the rescaled weights mimic the step network")
def sig_weights(context):
    """Marks the rescaling alone: full marks when the sigmoid network gets every point right, or
    when its outputs are each within 0.1 of its own step network's (the design may be wrong, the
    rescaling is right), so that one wrong weight does not cost this check too."""
    output, targets = hand_set("sig")
    right = points_right(output, targets)
    if right == len(targets):
        return f"{right} of {right} points right with sigmoid"
    step, _ = hand_set("step")
    gap = float((output - step).abs().max())
    if gap <= 0.1:
        return f"{right} of {len(targets)} right, as its step network: each sigmoid output within {gap:.3f} of it"
    raise Failed(f"{right} of {len(targets)} points right with sigmoid, and outputs up to {gap:.2f} away from "
                 "the step network's: scale the weights up further")


# ----------------------------------------------------------------------------
# Part 3: the trained recurrent networks

# The checkpoint each Part 3 check reads, as the course's seq_train.py names it in the student's
# net/ folder ({lang}_{model}{hid}_{k}.pth, k the thousands of strings trained on; the largest
# k is taken): its language, model and hidden units. Both train on n <= LENGTH by default.
CHECKPOINTS = {"net/anb2n_srn2_K.pth": ("anb2n", "srn", 2), "net/anb2nc3n_lstm3_K.pth": ("anb2nc3n", "lstm", 3)}
LENGTH = 4
FRESH = 1000  # strings a trained network is marked on, drawn with a generator of the grader's own


def find_checkpoint(folder, file):
    """The path of the checkpoint `file` (a key of CHECKPOINTS) in a submission folder: the one
    trained longest; None when there is none."""
    lang, model, hid = CHECKPOINTS[file]
    pattern = re.compile(rf"{lang}_{model}{hid}_(\d+(?:\.\d+)?)\.pth")
    net = os.path.join(folder, "net")
    found = [(float(m[1]), name) for name in (os.listdir(net) if os.path.isdir(net) else [])
             if (m := pattern.fullmatch(name)) and os.path.isfile(os.path.join(net, name))]
    return os.path.join(net, max(found)[1]) if found else None


def scratch_name(file):
    """The name a checkpoint has in a check's scratch folder."""
    return os.path.basename(file).replace("_K", "")


def trained_network(file):
    """The network a checkpoint holds (read as weights only: no code in the file can run), with its
    language; Failed when it is not the network the file name says."""
    lang_name, model, hid = CHECKPOINTS[file]
    lang = AnBn(lang_name, LENGTH)
    try:
        saved = read_weights_only(scratch_name(file))
        weights = saved.get("state_dict", saved) if isinstance(saved, dict) else saved  # the kit's or the course's
        shape = weights_shape(weights, file)
    except UserError as err:
        raise Failed(str(err)) from None
    if (shape["model"], shape["hid"], shape["symbols"]) != (model, hid, lang.num_symbols):
        raise Failed(f"{file} holds an {shape['model'].upper()} with {shape['hid']} hidden units for "
                     f"{shape['symbols']} symbols: want an {model.upper()} with {hid} for {lang_name}'s "
                     f"{lang.num_symbols}")
    net = make_model(model, lang.num_symbols, hid, peephole=shape["peephole"], loss=saved.get("loss", "nll"))
    net.load_state_dict(weights)
    return net, lang


def checkpoint_probe(file):
    trained_network(file)
    return "loads (weights only)"


def solves(file):
    """Every determined symbol of FRESH fresh strings predicted right (the kit's verdict SOLVED)."""
    net, lang = trained_network(file)
    error, right = evaluate(net, lang, lang.batch(FRESH, np.random.default_rng(20261201)))
    if right < 1:
        raise Failed(f"{100 * (1 - right):.2f}% of the determined symbols of {FRESH} fresh strings wrong "
                     f"(error {error:.4f}): not solved")
    return f"every determined symbol of {FRESH} fresh strings right (error {error:.4f})"


PROBES = {file: lambda context, file=file: checkpoint_probe(file) for file in CHECKPOINTS}
for check_name, checkpoint in (("anb2n_srn", "net/anb2n_srn2_K.pth"), ("anb2nc3n_lstm", "net/anb2nc3n_lstm3_K.pth")):
    lang_name, model_name, hidden = CHECKPOINTS[checkpoint]
    check(check_name, checkpoint, 3, f"the {model_name.upper()} with {hidden} hidden units solves {lang_name} "
          f"(n <= {LENGTH}) on {FRESH} fresh strings")(lambda context, file=checkpoint: solves(file))
