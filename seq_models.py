"""Recurrent networks for next-symbol prediction, written from their weight matrices,
plus what the Part 3 scripts share: a batch of strings, one-hot input, checkpoints.

From a Python prompt:
    >>> import torch, numpy as np
    >>> from seq_models import SRN_model
    >>> from anbn import AnBn
    >>> lang = AnBn('anb2n', 4)
    >>> seq, prob, state = lang.get_sequence(np.random.default_rng(0))
    >>> net = SRN_model(lang.num_symbols, 2, lang.num_symbols)
    >>> hidden, output = net(lang.one_hot(seq[:-1]))   # (1, T, 2), (1, T, 2)
"""
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import UserError, save_atomic


class SRN_model(nn.Module):
    """Simple Recurrent Network: h_t = tanh(x_t W + h_{t-1} U + hid_bias), h_0 = tanh(H0),
    output_t = h_t V + out_bias (raw scores; the loss applies log_softmax).
    Every parameter starts from Normal(0, init), as the course's --init."""

    def __init__(self, num_input, num_hid, num_out, init=0.3):
        super().__init__()
        self.num_hid = num_hid
        self.W = nn.Parameter(torch.empty(num_input, num_hid))
        self.U = nn.Parameter(torch.empty(num_hid, num_hid))
        self.hid_bias = nn.Parameter(torch.empty(num_hid))
        self.V = nn.Parameter(torch.empty(num_hid, num_out))
        self.out_bias = nn.Parameter(torch.empty(num_out))
        self.H0 = nn.Parameter(torch.empty(num_hid))
        for param in self.parameters():
            nn.init.normal_(param, 0.0, init)

    def initial_state(self):
        """The hidden state before the first symbol, tanh(H0)."""
        return torch.tanh(self.H0)

    def forward(self, x):
        """x: (batch, time, num_input) -> hidden (batch, time, num_hid), output (batch, time, num_out)."""
        x = x.to(self.W.dtype)
        drive = x @ self.W + self.hid_bias          # the input's share, for all steps at once
        h = self.initial_state().expand(x.shape[0], -1)
        hidden = []
        for t in range(x.shape[1]):
            h = torch.tanh(drive[:, t] + h @ self.U)
            hidden.append(h)
        hidden = torch.stack(hidden, dim=1)
        return hidden, hidden @ self.V + self.out_bias


class LSTM_model(nn.Module):
    """Long Short-Term Memory network. The 4*num_hid columns of W, U and hid_bias are the
    input gate i, forget gate f, cell candidate g and output gate o, in that order:
        z = x_t W + h_{t-1} U + hid_bias;  c_t = f*c_{t-1} + i*g;  h_t = o*tanh(c_t)
    with h_0 = c_0 = 0 and output_t = h_t V + out_bias. Weights start uniform in
    +-1/sqrt(num_hid) like torch.nn.LSTM, except the forget bias, which starts at 1 so the
    cell keeps its contents early in training (a common choice that helps counting)."""

    def __init__(self, num_input, num_hid, num_out):
        super().__init__()
        self.num_hid = num_hid
        self.W = nn.Parameter(torch.empty(num_input, 4 * num_hid))
        self.U = nn.Parameter(torch.empty(num_hid, 4 * num_hid))
        self.hid_bias = nn.Parameter(torch.empty(4 * num_hid))
        self.V = nn.Parameter(torch.empty(num_hid, num_out))
        self.out_bias = nn.Parameter(torch.empty(num_out))
        bound = 1.0 / math.sqrt(num_hid)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)
        with torch.no_grad():
            self.hid_bias[num_hid:2 * num_hid] = 1.0

    def forward(self, x):
        """x: (batch, time, num_input) -> hidden, context (batch, time, num_hid), output (batch, time, num_out)."""
        x = x.to(self.W.dtype)
        n = self.num_hid
        drive = x @ self.W + self.hid_bias
        h = x.new_zeros(x.shape[0], n)
        c = x.new_zeros(x.shape[0], n)
        hidden, context = [], []
        for t in range(x.shape[1]):
            z = drive[:, t] + h @ self.U
            i = torch.sigmoid(z[:, :n])
            f = torch.sigmoid(z[:, n:2 * n])
            g = torch.tanh(z[:, 2 * n:3 * n])
            o = torch.sigmoid(z[:, 3 * n:])
            c = f * c + i * g
            h = o * torch.tanh(c)
            hidden.append(h)
            context.append(c)
        hidden = torch.stack(hidden, dim=1)
        return hidden, torch.stack(context, dim=1), hidden @ self.V + self.out_bias


MODELS = {'srn': SRN_model, 'lstm': LSTM_model}


def make_model(model, num_symbols, hid, init=0.3):
    """Build an 'srn' or 'lstm' network that reads and predicts `num_symbols` symbols."""
    if model == 'srn':
        return SRN_model(num_symbols, hid, num_symbols, init=init)
    return LSTM_model(num_symbols, hid, num_symbols)


def run_model(net, x):
    """Forward pass of either model -> (hidden, context or None, output)."""
    result = net(x)
    if len(result) == 2:
        return result[0], None, result[1]
    return result


# ---------------------------------------------------------------- strings of a language

@dataclass
class StringBatch:
    """`count` strings of a language as padded arrays (padding is 0 after each string's end).
    seq (count, Tmax+1): symbol indices of the whole string; the input is seq[:, :-1], the label seq[:, 1:]
    length (count,): number of input steps T_i (= string length - 1)
    prob (count, Tmax, S): the course's target next-symbol probabilities at each input step
    state (count, Tmax): state number per input step (for colouring plots)
    scored (count, Tmax): the steps the error is measured over"""
    seq: np.ndarray
    length: np.ndarray
    prob: np.ndarray
    state: np.ndarray
    scored: np.ndarray

    @property
    def determined(self):
        """Steps whose next symbol is certain: a network that solved the task predicts them all."""
        return self.prob.max(axis=2) == 1.0

    def pick(self, i):
        """String i alone, as a batch of one without padding."""
        T = self.length[i]
        return StringBatch(self.seq[i:i + 1, :T + 1], self.length[i:i + 1], self.prob[i:i + 1, :T],
                           self.state[i:i + 1, :T], self.scored[i:i + 1, :T])


class Language:
    """What every language shares; subclasses set `symbols` and define `batch(count, rng)`."""
    symbols = ''

    @property
    def num_symbols(self):
        return len(self.symbols)

    def get_sequence(self, rng=None):
        """One string -> (seq (T+1,), prob (T, S), state (T,)); the input is seq[:-1], the label seq[1:]."""
        b = self.batch(1, np.random.default_rng() if rng is None else rng)
        T = b.length[0]
        return b.seq[0, :T + 1], b.prob[0, :T], b.state[0, :T]

    def one_hot(self, seq):
        """Symbol indices (T,) or (batch, T) -> float tensor (batch, T, num_symbols) for the network."""
        seq = torch.as_tensor(np.asarray(seq, dtype=np.int64))
        if seq.dim() == 1:
            seq = seq.unsqueeze(0)
        return nn.functional.one_hot(seq, self.num_symbols).float()

    def spell(self, seq):
        """Symbol indices -> the string of letters."""
        return ''.join(self.symbols[i] for i in seq)


# ---------------------------------------------------------------- how well a network predicts

def string_errors(prob_out, batch):
    """Per string: mean over its scored steps (and over symbols) of (output prob - target)^2.
    prob_out is a numpy array shaped like batch.prob."""
    squared = ((prob_out - batch.prob) ** 2).mean(axis=2)
    return (squared * batch.scored).sum(axis=1) / np.maximum(batch.scored.sum(axis=1), 1)


def unscored_errors(prob_out, batch):
    """Per string: the same error over the input steps that are not scored (the embedded Reber
    step after the inner E, the course's "final" error); NaN where a string has none."""
    inside = np.arange(batch.prob.shape[1]) < batch.length[:, None]
    steps = inside & ~batch.scored
    squared = ((prob_out - batch.prob) ** 2).mean(axis=2)
    with np.errstate(invalid='ignore'):
        return (squared * steps).sum(axis=1) / steps.sum(axis=1)


@torch.no_grad()
def predict(net, lang, batch):
    """Run the network over a batch -> numpy (hidden, context or None, output probabilities)."""
    hidden, context, output = run_model(net, lang.one_hot(batch.seq[:, :-1]))
    to_numpy = lambda t: None if t is None else t.double().numpy()
    return to_numpy(hidden), to_numpy(context), to_numpy(F.softmax(output, dim=2))


def evaluate(net, lang, batch):
    """(mean error over the strings, fraction of determined steps predicted right) on a batch:
    the network has solved the task when that fraction is 1."""
    _, _, prob_out = predict(net, lang, batch)
    right = prob_out.argmax(axis=2) == batch.seq[:, 1:]
    determined = batch.determined
    return string_errors(prob_out, batch).mean(), right[determined].mean()


def show_string(net, lang, batch, out=sys.stdout):
    """Print a batch of one string: its symbols and states, then per step the hidden (and
    context) activations, the output probabilities and the targets.
    Returns (its error, its error over the unscored steps or NaN)."""
    T = batch.length[0]
    hidden, context, prob_out = predict(net, lang, batch)
    fmt = lambda v: ' '.join(f'{x:6.3f}' for x in v)
    print(f'string: {lang.spell(batch.seq[0, :T + 1])}', file=out)
    print(f'states: {" ".join(str(s) for s in batch.state[0, :T])}', file=out)
    width = 7 * hidden.shape[2]
    header = f'step sym state | {"hidden":^{width}}'
    if context is not None:
        header += f'| {"context":^{width}}'
    width = 7 * lang.num_symbols
    header += f'| {"output " + lang.symbols:^{width}}| {"target " + lang.symbols:^{width}}'
    print(header, file=out)
    for t in range(T):
        row = f'{t:4d}  {lang.symbols[batch.seq[0, t]]}  {batch.state[0, t]:5d} | {fmt(hidden[0, t])} '
        if context is not None:
            row += f'| {fmt(context[0, t])} '
        row += f'| {fmt(prob_out[0, t])} | {fmt(batch.prob[0, t])}'
        print(row, file=out)
    return string_errors(prob_out, batch)[0], unscored_errors(prob_out, batch)[0]


# ---------------------------------------------------------------- checkpoints

MAX_LENGTH = 100        # largest --length: the course trains with 4 to 8, and seq_plot prints whole strings


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


# What a checkpoint of seq_train.py must record besides its weights: key -> (test, what it must be).
# Checked on loading, so a damaged or hand-made file gets one line, not a traceback or a runaway.
META = {
    'lang': (lambda v: isinstance(v, str) and v.isidentifier() and len(v) <= 40, 'a language name'),
    'model': (lambda v: v in MODELS, 'srn or lstm'),
    'hid': (lambda v: is_int(v) and v >= 1, 'a whole number >= 1'),
    'embed': (lambda v: isinstance(v, bool), 'True or False'),
    'length': (lambda v: is_int(v) and 1 <= v <= MAX_LENGTH, f'a whole number from 1 to {MAX_LENGTH}'),
    'epoch': (lambda v: is_number(v) and v > 0, 'a number > 0'),
}
# Settings a checkpoint may also record (seed, run, the training recipe): plain values, printed by seq_plot
OPTIONAL_META = {
    'seed': (lambda v: is_int(v) and v >= 0, 'a whole number >= 0'),
    'run': (lambda v: v is None or is_int(v) and v >= 0, 'None or a whole number >= 0'),
}
PLAIN = (type(None), bool, int, float, str)
# The weights of each model, as its state_dict names them (the course's seq_train.py saves these alone)
WEIGHT_NAMES = {'srn': ['W', 'U', 'hid_bias', 'V', 'out_bias', 'H0'], 'lstm': ['W', 'U', 'hid_bias', 'V', 'out_bias']}
ZIP_START = b'PK\x03\x04'    # torch.save writes a zip archive; its older format is a pickle, starting 0x80
CHECKPOINT_NAME = re.compile(r'(?P<run_name>.+)_(?P<epoch>\d+(?:\.\d+)?)(?:_run(?P<run>\d+))?\.pth')


def run_name(lang, model, hid, embed=False):
    """`{lang}_{model}{hid}`, e.g. anb2n_srn2; the embedded Reber grammar is lang reber_embed."""
    return f'{lang}{"_embed" if embed else ""}_{model}{hid}'


def epoch_tag(thousands):
    """Thousands of training strings as written in a checkpoint's name, exact to one string:
    100, 0.02, 1234.567. Naming (after round(1000 x thousands) strings) and lookup (from --epoch)
    both round to whole strings here, so the same --epoch always finds what it saved."""
    whole, part = divmod(round(thousands * 1000), 1000)
    return f'{whole}' + (f'.{part:03d}'.rstrip('0') if part else '')


def checkpoint_path(out_path, lang, model, hid, thousands, embed=False):
    """`{out_path}/{lang}_{model}{hid}_{k}.pth`, k in thousands of training strings (epoch_tag)."""
    return os.path.join(out_path, f'{run_name(lang, model, hid, embed)}_{epoch_tag(thousands)}.pth')


def save_checkpoint(path, net, meta):
    """Save the weights with `meta` (lang, model, hid, embed, length, epoch and optional plain
    settings such as seed, run, lr), atomically."""
    save_atomic({'state_dict': net.state_dict(), **meta}, path)


def load_checkpoint(path, expect):
    """Load a checkpoint and check that it was trained with the settings in `expect` (a dict of
    lang, model, hid, ...); UserError with one line if it cannot be read, is damaged, or differs.

    Reads weights only (torch.load(weights_only=True)): a file holding anything else is refused,
    never run. Two kinds of file are accepted: a checkpoint of seq_train.py (a dict of the weights,
    'state_dict', and its settings, META and any plain extras) and a bare state_dict of an SRN or
    LSTM, as the course's seq_train.py saves it, which carries no settings. Either way the result
    holds 'state_dict', the settings saved, and model, hid and symbols (the number of symbols) as
    the weights' shapes give them; a bare state_dict has no 'lang'."""
    check_file(path, expect.get('lang', ''))
    saved = read_weights_only(path)
    if isinstance(saved, dict) and 'state_dict' in saved:
        weights, meta = saved['state_dict'], {k: v for k, v in saved.items() if k != 'state_dict'}
        check_meta(meta, path)
    elif isinstance(saved, dict) and saved and all(isinstance(v, torch.Tensor) for v in saved.values()):
        weights, meta = saved, {}
    else:
        raise UserError(f'{path} is neither a checkpoint of seq_train.py nor the state_dict of an '
                        f'SRN or LSTM (it holds a {type(saved).__name__})')
    shape = weights_shape(weights, path)
    wrong = [f'{key}={meta[key]!r} but its weights are of {key}={value!r}'
             for key, value in shape.items() if key in meta and meta[key] != value]
    if wrong:
        raise UserError(f'{path} is inconsistent: it records ' + ', '.join(wrong))
    saved = {'state_dict': weights, **meta, **shape}
    wrong = [f'{key}={saved[key]!r} (asked for {value!r})'
             for key, value in expect.items() if key in saved and saved[key] != value]
    if wrong:
        raise UserError(f'{path} was saved with ' + ', '.join(wrong))
    return saved


def check_file(path, lang):
    """UserError unless `path` is a file; a missing one gets a hint naming the checkpoints of the
    same network (else of the same language) in its folder, oldest to newest."""
    if os.path.islink(path) and not os.path.exists(path):
        raise UserError(f'{path} is a symbolic link to {os.readlink(path)}, which does not exist')
    if os.path.isdir(path):
        raise UserError(f'{path} is a folder, not a checkpoint file')
    if not os.path.exists(path):
        raise UserError(f'no checkpoint {path}: train it with seq_train.py and the same '
                        f'--lang/--model/--hid/--epoch/--out_path{found_hint(path, lang)}')


def found_hint(path, lang, shown=6):
    """'; found: (N older), ..., newest' for the checkpoints beside `path` of the same network, or failing
    that of language `lang` (any language when empty), sorted by thousands of strings."""
    folder, wanted = os.path.split(path)
    named = [(m, m.string) for m in map(CHECKPOINT_NAME.fullmatch, os.listdir(folder or '.')
                                        if os.path.isdir(folder or '.') else []) if m]
    same_net = CHECKPOINT_NAME.fullmatch(wanted)
    for keep in (lambda m: same_net and m['run_name'] == same_net['run_name'],
                 lambda m: not lang or m['run_name'].startswith(f'{lang}_')):
        found = sorted((float(m['epoch']), m['run_name'], int(m['run'] or -1), name)
                       for m, name in named if keep(m))
        if found:
            names = [name for *_, name in found]
            older = [f'({len(names) - shown} older)'] if len(names) > shown else []
            return '; found: ' + ', '.join(older + names[-shown:])
    return ''


def read_weights_only(path):
    """torch.load(path) allowing tensors and plain values only, so no code in the file can run;
    every way it can fail becomes one line that says what is wrong with the file."""
    try:
        with open(path, 'rb') as f:
            start = f.read(4)
        if not start:
            raise UserError(f'cannot read {path}: it is empty (0 bytes)')
        with warnings.catch_warnings():      # torch warns about pickle protocols it reads anyway
            warnings.simplefilter('ignore')
            return torch.load(path, map_location='cpu', weights_only=True)
    except OSError as err:
        raise UserError(f'cannot read {path}: {err.strerror or err}') from None
    except (UserError, MemoryError):
        raise
    except Exception as err:          # torch raises many kinds, with advice we must not pass on
        unsafe = re.search(r'GLOBAL ([\w.]+)', str(err))
        if unsafe:
            raise UserError(f'cannot read {path}: it holds Python objects ({unsafe[1]}), not only '
                            'weights and plain values, and loading them could run code') from None
        if start != ZIP_START and start[0] != 0x80:
            raise UserError(f'cannot read {path}: it is not a PyTorch checkpoint (it starts with {start!r})') from None
        raise UserError(f'cannot read {path}: it is damaged, or not written by torch.save') from None


def check_meta(meta, path):
    """UserError unless a checkpoint's settings have the keys, types and ranges of META and
    OPTIONAL_META, and any others are plain values (numbers, strings, None)."""
    missing = [key for key in META if key not in meta]
    if missing:
        raise UserError(f'{path} is not a complete checkpoint: it records no {", ".join(missing)}')
    for key, value in meta.items():
        test, wanted = META.get(key) or OPTIONAL_META.get(key) or (
            lambda v: isinstance(v, PLAIN) and not (isinstance(v, str) and len(v) > 100), 'a plain value')
        if not test(value):
            shown = repr(value) if isinstance(value, PLAIN) and len(repr(value)) < 40 else f'a {type(value).__name__}'
            raise UserError(f'{path} is damaged: its {key} is {shown}, not {wanted}')


def weights_shape(weights, path):
    """{model, hid, symbols} of an SRN's or LSTM's state_dict, from its tensors' shapes;
    UserError when they are not the weights of either, or not finite."""
    if not isinstance(weights, dict):
        raise UserError(f'{path} is damaged: its state_dict is a {type(weights).__name__}, '
                        'not a dict of weight tensors')
    names = sorted(map(str, weights))
    model = next((m for m, wanted in WEIGHT_NAMES.items() if names == sorted(wanted)), None)
    if model is None:
        raise UserError(f'{path} holds weights {" ".join(names) or "(none)"}, not those of an SRN '
                        f'({" ".join(WEIGHT_NAMES["srn"])}) or an LSTM ({" ".join(WEIGHT_NAMES["lstm"])})')
    if not all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in weights.values()):
        raise UserError(f'{path} is damaged: its weights are not all tensors of real numbers')
    W, U = weights['W'], weights['U']
    hid, symbols = (U.shape[0], W.shape[0]) if U.dim() == W.dim() == 2 else (0, 0)
    gates = 4 if model == 'lstm' else 1
    wanted = dict(W=(symbols, gates * hid), U=(hid, gates * hid), hid_bias=(gates * hid,),
                  V=(hid, symbols), out_bias=(symbols,), H0=(hid,))
    wrong = [f'{name} {tuple(t.shape)}' for name, t in weights.items() if tuple(t.shape) != wanted[name]]
    if wrong or hid == 0 or symbols == 0:
        raise UserError(f'{path} is damaged: the shapes of its weights do not fit together '
                        f'({", ".join(wrong or [f"W {tuple(W.shape)}"])})')
    bad = [name for name, t in weights.items() if not torch.isfinite(t).all()]
    if bad:
        raise UserError(f'{path}: weights {" ".join(bad)} are not finite (NaN or infinity): the '
                        'training that saved them diverged, so there is nothing to look at')
    return dict(model=model, hid=hid, symbols=symbols)


def load_weights(net, saved, path):
    """Copy the weights that load_checkpoint gave into `net`; UserError when the shapes do not fit."""
    try:
        net.load_state_dict(saved['state_dict'])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()
        raise UserError(f'{path} does not fit this network: {first[-1] if first else err}') from None
