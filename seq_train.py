"""Train a small recurrent network to predict the next symbol of strings from a formal language.

    python3 seq_train.py --lang anb2n                        # SRN, 2 hidden units, 100,000 strings
    python3 seq_train.py --lang anb2nc3n --model lstm --hid 3
    python3 seq_train.py --lang reber --embed

One string per training step, loss = negative log-likelihood of each next symbol. Every 1000
strings (one "epoch" in the course's units) a fresh string is printed with the network's hidden
activations and output probabilities, and its error: the mean squared difference between the
output probabilities and the targets over the scored steps. Every 10,000 strings, and at the
end, the weights go to {out_path}/{lang}_{model}{hid}_{k}.pth (k in thousands of strings).

Training strings come from numpy's default_rng(seed), drawn 1000 at a time with lang.batch();
the printed strings come from a separate generator, so printing never changes what is learnt.

Two engines do the same mathematics: `--engine fast` (the default; seq_fast.py, compiled
backpropagation through time, about 200 times faster per string) and `--engine autograd`, the
plain torch loop of autograd_trainer() below, for checking and for reading.

`--runs N` trains N networks with seeds seed, seed+1, ..., each on its own strings (run r is
exactly what `--seed seed+r` alone would give); their checkpoints end in _run{r}, and the end
says which runs solved the task and which is best. The fast engine trains them together, at a
cost close to one run's.
"""
import argparse
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from anbn import FAMILY, AnBn
from common import UserError, run_main, seed_everything
from reber import Reber
from seq_models import checkpoint_path, make_model, run_model, save_checkpoint

LANGUAGES = ['reber', *FAMILY]
CHUNK = 1000            # strings drawn at once, and strings between reports
SAVE_EVERY = 10_000     # strings between checkpoints

# defaults that depend on the language (and model): maximum n (minimum Reber length), hidden units,
# thousands of training strings
DEFAULTS = {
    'reber':    dict(length=5, hid=4, epoch=50),
    'anbn':     dict(length=8, hid=2, epoch=100),
    'anb2n':    dict(length=4, hid=2, epoch=100),
    'anbncn':   dict(length=8, hid=3, epoch=100),
    'anb2nc3n': dict(length=4, hid=3, epoch=100),
}
SRN_DEFAULTS = {'anbncn': dict(hid=4, epoch=200), 'anb2nc3n': dict(hid=4, epoch=200)}


def add_language_flags(parser):
    """The flags that name a language, a network and a checkpoint (shared with seq_plot.py)."""
    parser.add_argument('--lang', choices=LANGUAGES, default='reber', help='language to learn')
    parser.add_argument('--embed', action='store_true', help='embedded Reber grammar (with --lang reber)')
    parser.add_argument('--length', type=int, default=None,
                        help='maximum n (anbn family) or minimum Reber string length (default per language)')
    parser.add_argument('--model', choices=['srn', 'lstm'], default='srn', help='network type')
    parser.add_argument('--hid', type=int, default=None, help='number of hidden units (default per language)')
    parser.add_argument('--epoch', type=float, default=None,
                        help='thousands of training strings (default per language)')
    parser.add_argument('--out_path', default='net', help='folder of the checkpoints')


def resolve_defaults(args):
    """Fill in the per-language defaults of --length, --hid and --epoch, and check the values."""
    defaults = dict(DEFAULTS[args.lang])
    if args.model == 'srn':
        defaults.update(SRN_DEFAULTS.get(args.lang, {}))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.embed and args.lang != 'reber':
        raise UserError('--embed is for --lang reber only')
    if args.hid < 1:
        raise UserError(f'--hid must be at least 1, not {args.hid}')
    if not args.epoch > 0:
        raise UserError(f'--epoch must be positive, not {args.epoch:g}')
    return args


def build_language(args):
    """The language object for --lang/--embed/--length (after resolve_defaults)."""
    if args.lang == 'reber':
        return Reber(args.embed, args.length)
    return AnBn(args.lang, args.length)


def build_model(args, lang):
    """The network for --model/--hid/--init, sized for the language's symbols."""
    return make_model(args.model, lang.num_symbols, args.hid, init=args.init)


def run_checkpoint(args, thousands, run=None):
    """checkpoint_path for these flags; a run of several (run index given) gets `_run{run}` at
    the end of its name, e.g. net/anb2n_srn2_100_run3.pth."""
    path = checkpoint_path(args.out_path, args.lang, args.model, args.hid, thousands, args.embed)
    return path if run is None else f'{path[:-len(".pth")]}_run{run}.pth'


def checkpoint_meta(args, thousands):
    """What a checkpoint records besides its weights (seq_plot checks it)."""
    return dict(lang=args.lang, model=args.model, hid=args.hid, embed=args.embed,
                length=args.length, epoch=thousands)


def make_optimizer(args, net):
    if args.optim == 'adam':
        return torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.wd)
    return torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.mom, weight_decay=args.wd)


def make_rngs(seed):
    """(generator of the training strings, generator of the printed/evaluation strings)."""
    return np.random.default_rng(seed), np.random.default_rng([seed, 1])


# ---------------------------------------------------------------- error and printing

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


# ---------------------------------------------------------------- training

class ProgressBar:
    """A one-line bar redrawn with carriage returns, only when stdout is a terminal."""

    def __init__(self, total):
        self.total, self.active, self.last = total, sys.stdout.isatty(), 0.0

    def update(self, done, error):
        if not self.active or (time.monotonic() - self.last < 0.2 and done < self.total):
            return
        self.last = time.monotonic()
        filled = int(30 * done / self.total)
        shown = '  error (last 1000) ' + (f'{error:.4f}' if error is not None else '-')
        sys.stdout.write(f'\r[{"#" * filled}{"." * (30 - filled)}] {done}/{self.total}{shown}')
        sys.stdout.flush()

    def clear(self):
        if self.active:
            sys.stdout.write('\r' + ' ' * 79 + '\r')


def autograd_trainer(net, optimizer, lang):
    """The plain training step, one string at a time: forward through the matrix-form model,
    NLL loss of each next symbol (mean over the string), backward, optimizer step.
    Returns train_chunk(batch, tick) -> per-string errors, which calls tick(i) after string i."""

    def train_chunk(batch, tick):
        inputs = lang.one_hot(batch.seq[:, :-1])
        labels = torch.from_numpy(batch.seq[:, 1:])
        prob_out = np.zeros_like(batch.prob)     # what the network predicted, before each update
        for i, T in enumerate(batch.length):
            optimizer.zero_grad()
            output = run_model(net, inputs[i:i + 1, :T])[2][0]
            log_prob = F.log_softmax(output, dim=1)
            F.nll_loss(log_prob, labels[i, :T]).backward()
            optimizer.step()
            prob_out[i, :T] = log_prob.detach().exp().numpy()
            tick(i + 1)
        return string_errors(prob_out, batch)

    return train_chunk


def autograd_runs(args, nets, lang):
    """train_chunk for one or several runs with the autograd loop: one run after the other."""
    trainers = [autograd_trainer(net, make_optimizer(args, net), lang) for net in nets]

    def train_chunk(batches, tick):
        count = len(batches[0].length)
        return np.stack([trainer(batch, lambda i, r=r: tick((r * count + i) // len(nets)))
                         for r, (trainer, batch) in enumerate(zip(trainers, batches))])

    return train_chunk


def fast_trainer(args, nets):
    """(train_chunk, score) for the fast engine: train_chunk trains all runs together, then gives
    the torch networks the current weights, for printing and checkpoints; score(batches) is each
    run's error on the one string of its batch, computed by the engine."""
    try:
        import seq_fast         # needs numba, which --engine autograd does not
    except ImportError as err:
        raise UserError(f'the fast engine needs numba ({err}): pip install -r requirements.txt, '
                        'or use --engine autograd') from None
    engine = seq_fast.FastTrainer(nets, args.optim, args.lr, args.mom, args.wd)

    def train_chunk(batches, tick):
        errors = engine.train_chunk(batches)
        engine.copy_to(nets)
        tick(len(batches[0].length))
        return errors

    return train_chunk, lambda batches: engine.errors(batches)[:, 0]


def report(lang, nets, show_rngs, done, count, recent, score=None):
    """After a chunk: one run prints a fresh string in full and its error; several runs print
    each run's error on a fresh string of its own, computed by score(batches) when given (the
    fast engine's, much cheaper than 16 torch passes), else by the torch networks."""
    if len(nets) == 1:
        error, final = show_string(nets[0], lang, lang.batch(1, show_rngs[0]))
        extra = '' if math.isnan(final) else f'  final: {final:.5f}'
        print(f'epoch: {done / 1000:g}  error: {error:.5f}{extra}  '
              f'(training strings of the last {count}: {recent[0]:.5f})')
        return
    batches = [lang.batch(1, rng) for rng in show_rngs]
    errors = score(batches) if score else [evaluate(net, lang, b)[0] for net, b in zip(nets, batches)]
    print(f'epoch: {done / 1000:g}  error by run: {" ".join(f"{e:.4f}" for e in errors)}  '
          f'(training strings of the last {count}, mean over runs: {recent.mean():.5f})')


def drawn_ahead(lang, rngs, total):
    """Yield the training strings CHUNK at a time, total in all: a list with a StringBatch per
    generator (per run). The next chunk is drawn in a second thread while the caller trains on
    this one (numpy and the fast engine both do most of their work outside Python's global lock,
    so with two cores most of the drawing overlaps the training). Each generator is still used in
    order: the strings are the same as when drawn one chunk after the other."""
    sizes = [min(CHUNK, total - start) for start in range(0, total, CHUNK)]
    draw = lambda count: [lang.batch(count, rng) for rng in rngs]
    with ThreadPoolExecutor(1) as drawer:
        upcoming = drawer.submit(draw, sizes[0])
        for size in sizes[1:]:
            current = upcoming.result()
            upcoming = drawer.submit(draw, size)
            yield current
        yield upcoming.result()


def train(args, lang, nets, train_chunk, rngs, show_rngs, score=None):
    """Train each network (one per run) on round(epoch * 1000) strings of its own, drawn CHUNK at a
    time from its generator and passed to train_chunk(batches, tick) -> errors (runs, count);
    report after each chunk (score goes to report()) and save every run's checkpoint every
    SAVE_EVERY strings and at the end. Ctrl-C stops after saying which checkpoint was saved last.
    One network may also be passed alone, with train_chunk(batch, tick) -> errors (count,) as
    autograd_trainer makes it, and its two generators."""
    if not isinstance(nets, list):
        one = train_chunk
        nets, rngs, show_rngs = [nets], [rngs], [show_rngs]
        train_chunk = lambda batches, tick: one(batches[0], tick)[None]
    total = round(args.epoch * 1000)
    several = len(nets) > 1
    bar = ProgressBar(total)
    done, recent, saved = 0, None, None
    try:
        for batches in drawn_ahead(lang, rngs, total):
            mean = None if recent is None else recent.mean()
            recent = train_chunk(batches, lambda i: bar.update(done + i, mean)).mean(axis=1)
            done += len(batches[0].length)
            bar.clear()
            report(lang, nets, show_rngs, done, len(batches[0].length), recent, score)
            if done % SAVE_EVERY == 0 or done == total:
                for r, net in enumerate(nets):
                    saved = run_checkpoint(args, done / 1000, r if several else None)
                    save_checkpoint(saved, net, checkpoint_meta(args, done / 1000))
                print(f'saved {saved}' if not several else
                      f'saved {len(nets)} checkpoints, the last {saved}')
    except KeyboardInterrupt:
        bar.clear()
        print(f'\nstopped after {done} strings; last checkpoint: {saved or "none"}', file=sys.stderr)
        sys.exit(130)
    return saved


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_language_flags(parser)
    parser.add_argument('--optim', choices=['sgd', 'adam'], default='adam', help='optimizer')
    parser.add_argument('--lr', type=float, default=0.003, help='learning rate')
    parser.add_argument('--mom', type=float, default=0.0, help='SGD momentum')
    parser.add_argument('--wd', type=float, default=0.0, help='weight decay')
    parser.add_argument('--init', type=float, default=0.3,
                        help='std of the SRN initial weights (the LSTM starts like torch.nn.LSTM)')
    parser.add_argument('--seed', type=int, default=1, help='random seed (strings and weights)')
    parser.add_argument('--runs', type=int, default=1,
                        help='networks to train, with seeds seed, seed+1, ... (default 1)')
    parser.add_argument('--engine', choices=['fast', 'autograd'], default='fast',
                        help='fast: compiled backpropagation (seq_fast.py); autograd: the plain torch loop')
    args = resolve_defaults(parser.parse_args(argv))
    if args.runs < 1:
        raise UserError(f'--runs must be at least 1, not {args.runs}')
    if not args.lr > 0:
        raise UserError(f'--lr must be positive, not {args.lr:g}')
    if not 0 <= args.mom < 1:
        raise UserError(f'--mom must be in [0, 1), not {args.mom:g}')
    if args.wd < 0 or args.init < 0:
        raise UserError('--wd and --init must not be negative')
    return args


def main(argv=None):
    args = parse_args(argv)
    lang = build_language(args)
    torch.set_num_threads(1)          # tiny matrices: threads only add overhead
    nets, rngs, show_rngs = [], [], []
    for r in range(args.runs):        # run r is what --seed seed+r would train alone
        seed_everything(args.seed + r)
        nets.append(build_model(args, lang))
        rng, show_rng = make_rngs(args.seed + r)
        rngs.append(rng)
        show_rngs.append(show_rng)
    runs = f'{args.runs} runs, ' if args.runs > 1 else ''
    print(f'{lang!r}, {args.model.upper()} with {args.hid} hidden units, {args.optim} lr {args.lr:g}, '
          f'{runs}{round(args.epoch * 1000)} strings, {args.engine} engine')
    if args.engine == 'fast':
        train_chunk, score = fast_trainer(args, nets)
        train(args, lang, nets, train_chunk, rngs, show_rngs, score)
    else:
        train(args, lang, nets, autograd_runs(args, nets, lang), rngs, show_rngs)
    results = [evaluate(net, lang, lang.batch(1000, rng)) for net, rng in zip(nets, show_rngs)]
    for r, (error, right) in enumerate(results):
        run = f'run {r} (seed {args.seed + r}) ' if args.runs > 1 else ''
        print(f'{run}on 1000 fresh strings: error {error:.5f}, determined steps right {100 * right:.2f}%'
              + (' (solved)' if right == 1 else ''))
    if args.runs > 1:
        best = min(range(args.runs), key=lambda r: results[r][0])
        solved = sum(right == 1 for _, right in results)
        print(f'solved: {solved} of {args.runs} runs; best run: {best} (error {results[best][0]:.5f}, '
              f'{run_checkpoint(args, round(args.epoch * 1000) / 1000, best)})')


if __name__ == '__main__':
    run_main(main)
