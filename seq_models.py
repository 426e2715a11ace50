"""Recurrent networks for next-symbol prediction, written from their weight matrices; the
strings they read (a batch of strings, the base class of the languages); how well they predict.

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
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


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
    cell keeps its contents early in training (a common choice that helps counting);
    gate_bias (i, f, o) starts those three gates' biases at the values given instead (None: uniform).
    With peephole the gates also see the cell (Gers & Schmidhuber), one weight per cell and gate
    in peep (i, f, o blocks): i and f add peep*c_{t-1} to their z, o adds peep*c_t."""

    def __init__(self, num_input, num_hid, num_out, peephole=False, gate_bias=None):
        super().__init__()
        self.num_hid = num_hid
        self.W = nn.Parameter(torch.empty(num_input, 4 * num_hid))
        self.U = nn.Parameter(torch.empty(num_hid, 4 * num_hid))
        self.hid_bias = nn.Parameter(torch.empty(4 * num_hid))
        self.V = nn.Parameter(torch.empty(num_hid, num_out))
        self.out_bias = nn.Parameter(torch.empty(num_out))
        # drawn last, so the other weights are those of the same seed without peepholes
        self.peep = nn.Parameter(torch.empty(3 * num_hid)) if peephole else None
        bound = 1.0 / math.sqrt(num_hid)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)
        n = num_hid
        with torch.no_grad():
            if gate_bias is None:
                self.hid_bias[n:2 * n] = 1.0
            else:
                for block, value in zip((0, 1, 3), gate_bias):
                    if value is not None:
                        self.hid_bias[block * n:(block + 1) * n] = value

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
            z_i, z_f, z_o = z[:, :n], z[:, n:2 * n], z[:, 3 * n:]
            if self.peep is not None:
                z_i, z_f = z_i + self.peep[:n] * c, z_f + self.peep[n:2 * n] * c
            i = torch.sigmoid(z_i)
            f = torch.sigmoid(z_f)
            g = torch.tanh(z[:, 2 * n:3 * n])
            c = f * c + i * g
            if self.peep is not None:
                z_o = z_o + self.peep[2 * n:] * c
            o = torch.sigmoid(z_o)
            h = o * torch.tanh(c)
            hidden.append(h)
            context.append(c)
        hidden = torch.stack(hidden, dim=1)
        return hidden, torch.stack(context, dim=1), hidden @ self.V + self.out_bias

    def add_peephole(self):
        """Give a network built without peepholes the peep weights (zero), to load them into."""
        if self.peep is None:
            self.peep = nn.Parameter(self.W.new_zeros(3 * self.num_hid))


MODELS = {'srn': SRN_model, 'lstm': LSTM_model}


LOSSES = ('nll', 'bce')


def make_model(model, num_symbols, hid, init=0.3, peephole=False, gate_bias=None, loss='nll'):
    """Build an 'srn' or 'lstm' network that reads and predicts `num_symbols` symbols, trained
    with `loss` (see output_probabilities); peephole and gate_bias are the LSTM's."""
    if model == 'srn':
        net = SRN_model(num_symbols, hid, num_symbols, init=init)
    else:
        net = LSTM_model(num_symbols, hid, num_symbols, peephole=peephole, gate_bias=gate_bias)
    net.loss = loss
    return net


def output_probabilities(net, output):
    """The network's raw output scores -> what it predicts: with the course's loss 'nll'
    (softmax cross-entropy on the next symbol) the softmax, a distribution over the next symbol;
    with 'bce' (sigmoid binary cross-entropy on each symbol: may it come next?) each symbol's
    sigmoid. Either way the most likely next symbol is the largest score."""
    if getattr(net, 'loss', 'nll') == 'bce':
        return torch.sigmoid(output)
    return F.softmax(output, dim=-1)


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
    def real_steps(self):
        """(count, Tmax): True at each string's input steps, False on its padding."""
        return np.arange(self.prob.shape[1]) < self.length[:, None]

    @property
    def determined(self):
        """Steps whose next symbol is certain: a network that solved the task predicts them all."""
        return self.prob.max(axis=2) == 1.0

    def part(self, start, stop):
        """Strings start..stop-1, as a StringBatch."""
        return StringBatch(self.seq[start:stop], self.length[start:stop], self.prob[start:stop],
                           self.state[start:stop], self.scored[start:stop])

    def pick(self, i):
        """String i alone, as a batch of one without padding."""
        T = self.length[i]
        return StringBatch(self.seq[i:i + 1, :T + 1], self.length[i:i + 1], self.prob[i:i + 1, :T],
                           self.state[i:i + 1, :T], self.scored[i:i + 1, :T])


class Language:
    """What every language shares; subclasses set `symbols` and define `batch(count, rng)` and
    `phases()` (their state numbers grouped, for the pictures)."""
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
    steps = batch.real_steps & ~batch.scored
    squared = ((prob_out - batch.prob) ** 2).mean(axis=2)
    with np.errstate(invalid='ignore'):
        return (squared * steps).sum(axis=1) / steps.sum(axis=1)


@torch.no_grad()
def predict(net, lang, batch):
    """Run the network over a batch -> numpy (hidden, context or None, output probabilities)."""
    hidden, context, output = run_model(net, lang.one_hot(batch.seq[:, :-1]))
    to_numpy = lambda t: None if t is None else t.double().numpy()
    return to_numpy(hidden), to_numpy(context), to_numpy(output_probabilities(net, output))


def evaluate(net, lang, batch):
    """(mean error over the strings, fraction of determined steps predicted right) on a batch:
    the network has solved the task when that fraction is 1."""
    _, _, prob_out = predict(net, lang, batch)
    right = prob_out.argmax(axis=2) == batch.seq[:, 1:]
    determined = batch.determined
    return string_errors(prob_out, batch).mean(), right[determined].mean()


@torch.no_grad()
def determined_margins(net, lang, batch):
    """Per string of the batch: the smallest margin, over its determined steps, by which the
    network's output for the symbol that follows beats its largest output for any other (> 0:
    every determined step predicted right); +inf for a string without determined steps."""
    output = run_model(net, lang.one_hot(batch.seq[:, :-1]))[2]
    prob_out = output_probabilities(net, output.double())
    label = torch.from_numpy(batch.seq[:, 1:, None])
    following = prob_out.gather(2, label)[..., 0]
    others = prob_out.scatter(2, label, -math.inf).max(dim=2).values
    margin = torch.where(torch.from_numpy(batch.determined), following - others, math.inf)
    return margin.min(dim=1).values.numpy()


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
