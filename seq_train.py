"""Train a small recurrent network to predict the next symbol of strings from a formal language.

    python3 seq_train.py                                   # anb2n, SRN with 2 hidden units
    python3 seq_train.py --lang anb2nc3n --model lstm
    python3 seq_train.py --lang reber --embed --model lstm
    python3 seq_train.py --lang anb2n --runs 8             # 8 seeds at once; says which solved

The training loop is the course's: one string at a time, loss = negative log-likelihood of each
next symbol, one optimizer step per string (train() below). Every 1000 strings (one "epoch" in
the course's units) it prints a line: the error on a fresh string (the mean squared difference
between output probabilities and targets) and the mean error of the last 1000 training strings.
Every 10,000 strings, and at the end, the weights go to {out_path}/{lang}_{model}{hid}_{k}.pth
(k in thousands of strings). The end says whether the network solved the task: whether it
predicts every symbol that is certain (determined) on 1000 fresh strings.

The default recipe finds the solution for nearly every seed (bench/bench_reliability.py measures
how many of seeds 1-16): Adam; a learning rate that warms up over the first 1% of the strings and
then decays along a cosine to 0.01 x --lr (small steps at the end let the network settle on the
solution instead of jumping around it); gradient clipping; and four candidate networks per run.
The candidates are there because a run that fails mostly fails early and for good: its network
gets stuck predicting about 80% of the certain symbols, and already looks so after 10% of the
strings. So each run starts four networks on the same strings and keeps, after 10% of them, the
one that predicts most certain symbols of 1000 fresh strings (printed: "kept candidate ..."); the
first candidate is the network the run would train alone (--candidates 1). `--recipe course`
trains with the course's own settings instead, for comparison. Every piece is a flag; a flag given
overrides the recipe.

Two engines do the same mathematics: `--engine fast` (the default; seq_fast.py, compiled
backpropagation through time, about 200 times faster, and several runs at once, see seq_runs.py)
and `--engine autograd`, the plain torch loop of train() below, for checking and for reading.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from anbn import FAMILY, NUM_BLOCKS, AnBn
from common import SEED, SEED_LIMIT, UserError, check_finite, number, run_main, seed_everything, writable_dir
from reber import Reber
from seq_models import (MAX_LENGTH, checkpoint_path, evaluate, make_model, predict, run_model, save_checkpoint,  # noqa: F401
                        show_string, string_errors)

LANGUAGES = [*FAMILY, 'reber']
CHUNK = 1000            # strings drawn at once, and strings between report lines
SAVE_EVERY = 10_000     # strings between checkpoints

# defaults that depend on the language (and model): maximum n (minimum Reber length), hidden units,
# thousands of training strings
DEFAULTS = {
    'anb2n':    dict(length=4, hid=2, epoch=100),
    'anbn':     dict(length=8, hid=2, epoch=100),
    'anbncn':   dict(length=8, hid=3, epoch=100),
    'anb2nc3n': dict(length=4, hid=3, epoch=100),
    'reber':    dict(length=5, hid=4, epoch=50),
}
SRN_DEFAULTS = {'anbncn': dict(hid=4, epoch=200), 'anb2nc3n': dict(hid=4, epoch=200)}
# the LSTM learns to carry embedded Reber's first symbol to the end late: 7 of seeds 1-16 solved
# it within 50,000 strings, 15 within 200,000 (bench/bench_reliability.py)
EMBEDDED_LSTM_DEFAULTS = dict(epoch=200)

# How the weights are learnt. 'default' was chosen by measuring how many of seeds 1-16 solve each
# language (bench/bench_reliability.py; the sweeps are in bench/README.md): without candidates the
# 2-unit SRN solved anb2n for 9 of them (at most 12 over a sweep of rates, initial scales, clipping
# and schedules), as about a third of its networks get stuck early; with 4 candidates all four are
# rarely stuck. What still fails now and then is a network that had solved the task and slips at
# the end on rare long strings (a few wrong steps in 1000 strings): neither decaying to 0.001x,
# nor 8 candidates, nor twice the strings made that rarer over seeds 1-32. 'course' is the
# course's own seq_train.py.
RECIPES = {
    'default': dict(optim='adam', lr=0.01, mom=0.0, wd=0.0, init=0.3,
                    schedule='cosine', warmup=0.01, decay_to=0.01, clip=1.0, candidates=4, pick_at=0.1),
    'course':  dict(optim='sgd', lr=0.005, mom=0.0, wd=1e-4, init=0.001,
                    schedule='constant', warmup=0.0, decay_to=1.0, clip=0.0, candidates=1, pick_at=0.1),
}
SELECTION = 1000                # strings the candidates are compared on
MAX_WEIGHTS = 10_000_000        # weights in all runs together: far beyond what these tasks need


def default_table(recipes=True):
    """The per-language defaults (and the recipes), as a table for --help."""
    rows = [f'  {"--lang":9} {"--length":>8} {"--hid":>12} {"--epoch":>14}']
    for lang, d in DEFAULTS.items():
        srn = {**d, **SRN_DEFAULTS.get(lang, {})}
        hid = str(d['hid']) if srn['hid'] == d['hid'] else f'{srn["hid"]} (lstm {d["hid"]})'
        epoch = f'{d["epoch"]}' if srn['epoch'] == d['epoch'] else f'{srn["epoch"]} (lstm {d["epoch"]})'
        rows.append(f'  {lang:9} {d["length"]:>8} {hid:>12} {epoch:>14}')
    embedded = f'{DEFAULTS["reber"]["epoch"]} (lstm {EMBEDDED_LSTM_DEFAULTS["epoch"]})'
    rows.append(f'  {"  --embed":9} {"":>8} {"":>12} {embedded:>14}')
    table = ('defaults per language (--length: maximum n, or minimum Reber length; --epoch: '
             'thousands of strings):\n' + '\n'.join(rows))
    if not recipes:
        return table
    return table + '\n\nrecipes:\n' + '\n'.join(f'  {name:8} ' + ', '.join(f'--{k} {v}' for k, v in r.items())
                                              for name, r in RECIPES.items())


def add_language_flags(parser):
    """The flags that name a language, a network and a checkpoint (shared with seq_plot.py)."""
    parser.add_argument('--lang', choices=LANGUAGES, default='anb2n', help='language to learn (default: anb2n)')
    parser.add_argument('--embed', action='store_true', help='embedded Reber grammar (with --lang reber)')
    parser.add_argument('--length', type=number(int, 1, MAX_LENGTH), default=None,
                        help='maximum n (anbn family) or minimum Reber string length (default: per language, below)')
    parser.add_argument('--model', choices=['srn', 'lstm'], default='srn', help='network type (default: srn)')
    parser.add_argument('--hid', type=number(int, 1, 10_000), default=None,
                        help='number of hidden units (default: per language, below)')
    parser.add_argument('--epoch', type=number(float, 0, 1e6, low_open=True), default=None,
                        help='thousands of training strings (default: per language, below)')
    parser.add_argument('--out_path', default='net', help='folder of the checkpoints (default: net)')


def resolve_defaults(args):
    """Fill in the per-language defaults of --length, --hid and --epoch, and check the values."""
    defaults = dict(DEFAULTS[args.lang])
    if args.model == 'srn':
        defaults.update(SRN_DEFAULTS.get(args.lang, {}))
    elif args.embed:
        defaults.update(EMBEDDED_LSTM_DEFAULTS)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.embed and args.lang != 'reber':
        raise UserError('--embed is for --lang reber only')
    strings = args.epoch * 1000
    if strings < 1 or abs(strings - round(strings)) > 1e-6:
        raise UserError(f'--epoch {args.epoch:g} is {strings:g} strings: give a whole number of '
                        'strings (a multiple of 0.001)')
    return args


def num_strings(args):
    return round(args.epoch * 1000)


def build_language(args):
    """The language object for --lang/--embed/--length (after resolve_defaults)."""
    if args.lang == 'reber':
        return Reber(args.embed, args.length)
    return AnBn(args.lang, args.length)


def build_model(args, lang):
    """The network for --model/--hid/--init, sized for the language's symbols."""
    return make_model(args.model, lang.num_symbols, args.hid, init=args.init)


def make_optimizer(args, net):
    if args.optim == 'adam':
        return torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.wd)
    return torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.mom, weight_decay=args.wd)


def learning_rate(args, step):
    """The learning rate for training string `step` (0, 1, ...) of the run: a linear warm-up from
    0 over the first --warmup of the strings (Adam's first steps are large and noisy), then
    --lr decaying to --decay_to x --lr by the last string, along half a cosine or a line (small
    steps at the end let the network settle on the solution instead of jumping around it)."""
    total = num_strings(args)
    warmup = round(args.warmup * total)
    if step < warmup:
        return args.lr * (step + 1) / warmup
    if args.schedule == 'constant' or total <= warmup + 1:
        return args.lr
    progress = (step - warmup) / (total - warmup - 1)
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if args.schedule == 'cosine' else 1 - progress
    return args.lr * (args.decay_to + (1 - args.decay_to) * shape)


def run_checkpoint(args, thousands, run=None):
    """checkpoint_path for these flags; a run of several (run index given) gets `_run{run}` at
    the end of its name, e.g. net/anb2n_srn2_100_run3.pth."""
    path = checkpoint_path(args.out_path, args.lang, args.model, args.hid, thousands, args.embed)
    return path if run is None else f'{path[:-len(".pth")]}_run{run}.pth'


def checkpoint_meta(args, thousands, run=None):
    """What a checkpoint records besides its weights: the settings it was trained with."""
    return dict(lang=args.lang, model=args.model, hid=args.hid, embed=args.embed,
                length=args.length, epoch=thousands, run=run,
                seed=getattr(args, 'seed', 0) + (run or 0),
                **{key: getattr(args, key, None) for key in ['recipe', *RECIPES['default'], 'engine']})


def make_rngs(seed):
    """(generator of the training strings, generator of the printed/evaluation strings)."""
    return np.random.default_rng(seed), np.random.default_rng([seed, 1])


def build_candidates(args, lang, seed):
    """The --candidates networks of the run with this seed: the first is the network the run
    would train alone, the others are drawn right after it from the same torch generator."""
    seed_everything(seed)
    return [build_model(args, lang) for _ in range(args.candidates)]


def selection_strings(args, lang, seed):
    """The strings the candidates of the run with this seed are compared on, from a generator
    of their own (the training and printed strings stay those of a run without candidates);
    None with one candidate."""
    return lang.batch(SELECTION, np.random.default_rng([seed, 2])) if args.candidates > 1 else None


def best_candidate(candidates, lang, selection):
    """Compare a run's candidates on its selection strings -> (index of the best, [(fraction of
    the determined steps right, mean error) of each]). Best: the most determined steps right,
    then the lowest error, then the lowest index. The fraction right comes first because the
    error alone can mislead: an LSTM on embedded Reber that has not learnt to carry the first
    symbol to the end has a LOWER mean error than one that has, early on (measured: 0.0004 with
    87% right against 0.0008 with 100%), as only one step in twenty needs that memory."""
    scores = [evaluate(net, lang, selection)[::-1] for net in candidates]
    return min(range(len(scores)), key=lambda k: (-scores[k][0], scores[k][1])), scores


def pick_step(args):
    """The number of training strings after which the best candidate is kept (at least 1)."""
    return min(max(round(args.pick_at * num_strings(args)), 1), num_strings(args))


# ---------------------------------------------------------------- what a run prints and saves

def show_prediction(net, lang, batch):
    """Two lines: a fresh string, and under each symbol the network's most likely next symbol,
    lower case where that is wrong at a step whose next symbol is certain."""
    prob_out = predict(net, lang, batch)[2][0]
    T = batch.length[0]
    guess = prob_out.argmax(axis=1)
    wrong = batch.determined[0] & (guess != batch.seq[0, 1:T + 1])
    shown = ''.join(lang.symbols[g].lower() if w else lang.symbols[g] for g, w in zip(guess, wrong))
    print(f'  string:    {lang.spell(batch.seq[0, :T + 1])}\n  predicted:  {shown}'
          f'   ({wrong.sum()} wrong of {batch.determined[0].sum()} certain)')


class Log:
    """What the training loops print and save: a tqdm progress bar (only on a terminal), a line
    every CHUNK strings, a checkpoint of every run every SAVE_EVERY strings and at the end.
    nets[i] is run runs[i] (None: a single run, whose checkpoint has no _run suffix)."""

    def __init__(self, args, lang, nets, show_rngs, runs, score=None):
        self.args, self.lang, self.nets, self.show_rngs, self.runs = args, lang, nets, show_rngs, runs
        self.score = score          # the fast engine's error of a fresh string per run, if given
        self.total, self.done, self.saved = num_strings(args), 0, None
        self.bar = None
        if sys.stdout.isatty():
            from tqdm import tqdm
            label = f'run {runs[0]}' if len(nets) == 1 and runs[0] is not None else 'strings'
            self.bar = tqdm(total=self.total, desc=label, unit=' strings', leave=False, dynamic_ncols=True)

    def tick(self, count, recent=None):
        if self.bar:
            self.bar.update(count)
            if recent is not None:
                self.bar.set_postfix(error=f'{recent:.4f}', refresh=False)

    def chunk_done(self, errors):
        """After a chunk: errors (runs, count) of its training strings."""
        self.done += errors.shape[1]
        check_finite([p for net in self.nets for p in net.parameters()],
                     f'the weights after {self.done} strings')
        checkpoint = self.done % SAVE_EVERY == 0 or self.done == self.total
        write = self.bar.write if self.bar else print
        epoch = f'epoch: {self.done / 1000:g}'
        recent = errors.mean(axis=1)
        if len(self.nets) == 1:
            batch = self.lang.batch(1, self.show_rngs[0])
            if self.args.verbose:
                show_string(self.nets[0], self.lang, batch)
            elif checkpoint and self.bar is None:
                show_prediction(self.nets[0], self.lang, batch)
            error = evaluate(self.nets[0], self.lang, batch)[0]
            run = '' if self.runs[0] is None else f'run {self.runs[0]}  '
            write(f'{run}{epoch}  error: {error:.5f}  (training strings of the last {errors.shape[1]}: '
                  f'{recent[0]:.5f})')
        else:
            batches = [self.lang.batch(1, rng) for rng in self.show_rngs]
            fresh = self.score(batches) if self.score else [evaluate(n, self.lang, b)[0]
                                                            for n, b in zip(self.nets, batches)]
            write(f'{epoch}  error by run: {" ".join(f"{e:.4f}" for e in fresh)}  '
                  f'(training strings, mean over runs: {recent.mean():.5f})')
        self.tick(0, recent.mean())
        if checkpoint:
            self.save()

    def picked(self, nets, kept, scores):
        """The candidates were compared: nets[i] (candidate kept[i]) goes on as run i; scores[i]
        are run i's candidates' (fraction of determined steps right, error) on the selection strings."""
        self.nets = nets
        write = self.bar.write if self.bar else print
        for run, k, row in zip(self.runs, kept, scores):
            name = '' if run is None else f'run {run}: '
            write(f'{name}kept candidate {k} of {len(row)} after {pick_step(self.args)} strings '
                  f'(on {SELECTION} selection strings, determined steps right % / error: '
                  + '  '.join(f'{100 * right:.2f}/{error:.4f}' for right, error in row) + ')')

    def save(self):
        thousands = self.done / 1000
        for net, run in zip(self.nets, self.runs):
            self.saved = run_checkpoint(self.args, thousands, run)
            save_checkpoint(self.saved, net, checkpoint_meta(self.args, thousands, run))

    def close(self):
        if self.bar:
            self.bar.close()


# ---------------------------------------------------------------- the training loop

def train_string(net, optimizer, lang, string, lr, clip=0.0):
    """One training step on one string (a StringBatch of one): forward pass through the whole
    string, loss = mean negative log-likelihood of each next symbol, backward pass
    (backpropagation through time), clip the gradient's length to `clip` (0: no clipping), one
    optimizer step with learning rate lr. Returns the string's error before the step."""
    for group in optimizer.param_groups:
        group['lr'] = lr
    optimizer.zero_grad()
    output = run_model(net, lang.one_hot(string.seq[:, :-1]))[2][0]
    log_prob = F.log_softmax(output, dim=1)
    F.nll_loss(log_prob, torch.from_numpy(string.seq[0, 1:])).backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    optimizer.step()
    return string_errors(log_prob.detach().exp().numpy()[None], string)[0]


def train(args, candidates, lang, rng, log, selection=None):
    """The course's training loop, with torch's autograd: the strings come CHUNK at a time from
    lang.batch(CHUNK, rng), one optimizer step per string, the learning rate following the
    schedule; `log` prints after each chunk and saves the checkpoints. With several candidate
    networks, each with its own optimizer, all learn from the same strings until pick_step(args);
    then the best on the `selection` strings (best_candidate) goes on alone: a network stuck in a
    poor solution is already recognisable there. Returns the network trained to the end."""
    optimizers = [make_optimizer(args, net) for net in candidates]
    pick = pick_step(args) if len(candidates) > 1 else None
    step = 0
    while step < log.total:
        batch = lang.batch(min(CHUNK, log.total - step), rng)
        errors = np.zeros((len(candidates), len(batch.length)))
        for i in range(len(batch.length)):
            for k, (net, optimizer) in enumerate(zip(candidates, optimizers)):
                errors[k, i] = train_string(net, optimizer, lang, batch.pick(i), learning_rate(args, step), args.clip)
            step += 1
            log.tick(1)
            if step == pick:
                kept, scores = best_candidate(candidates, lang, selection)
                candidates, optimizers, errors = [candidates[kept]], [optimizers[kept]], errors[kept:kept + 1]
                log.picked(candidates, [kept], [scores])
        log.chunk_done(errors[:1])      # the first candidate's until the pick: the one shown
    return candidates[0]


# ---------------------------------------------------------------- the end of a run

def verdict(args, results):
    """Print how each run does on 1000 fresh strings, and whether it solved the task."""
    several = len(results) > 1
    for r, (error, right) in enumerate(results):
        run = f'run {r} (seed {args.seed + r}): ' if several else ''
        print(f'{run}on 1000 fresh strings: error {error:.5f}, determined steps right {100 * right:.2f}%'
              + (' (solved)' if several and right == 1 else ''))
    if several:
        best = min(range(len(results)), key=lambda r: (-results[r][1], results[r][0]))
        solved = sum(right == 1 for _, right in results)
        print(f'solved: {solved} of {len(results)} runs; best run: {best} (seed {args.seed + best}, '
              f'{run_checkpoint(args, num_strings(args) / 1000, best)}); plot it with seq_plot.py --run {best}')
    elif results[0][1] == 1:
        print('verdict: SOLVED: the network predicts every symbol that can be predicted.')
    else:
        print(f'verdict: NOT SOLVED: {100 * (1 - results[0][1]):.2f}% of the predictable symbols are '
              f'wrong. This seed did not find the solution: try another --seed, or --runs 8 and '
              f'plot the best run.')


# ---------------------------------------------------------------- checks and flags

def longest_string(args):
    """An upper bound on the input steps of a training string (Reber's are rarely longer)."""
    if args.lang == 'reber':
        return 4 * max(args.length, 25) + (4 if args.embed else 0)
    return NUM_BLOCKS * sum(FAMILY[args.lang]) * args.length


def check_size(args):
    """Refuse, before any work, sizes whose weights or strings cannot fit in memory."""
    gates = 4 * args.hid if args.model == 'lstm' else args.hid
    weights = args.runs * args.candidates * gates * (args.hid + 8)
    if weights > MAX_WEIGHTS:
        raise UserError(f'{weights:,} weights in all (--hid {args.hid}, --runs {args.runs}, --candidates '
                        f'{args.candidates}) is more than '
                        f'{MAX_WEIGHTS:,}: use fewer hidden units or runs')
    # a chunk of strings per run, drawn twice over (the next chunk is drawn during training), and
    # the selection strings of the candidates, in numpy arrays of about 80 bytes per step
    # (targets, states, indices)
    strings = 2 * min(CHUNK, num_strings(args)) + (SELECTION if args.candidates > 1 else 0)
    need = args.runs * strings * longest_string(args) * 80
    try:
        have = os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise UserError(f'--length {args.length} with --runs {args.runs} needs about {need / 2**30:.0f} GiB '
                        f'for its strings, more than the {have / 2**30:.0f} GiB free: use a smaller --length or fewer runs')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=default_table(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_language_flags(parser)
    parser.add_argument('--recipe', choices=list(RECIPES), default='default',
                        help='the training settings below, as a set (default: default)')
    parser.add_argument('--optim', choices=['sgd', 'adam'], help='optimizer (default: recipe)')
    parser.add_argument('--lr', type=number(float, 0, 10, low_open=True),
                        help='learning rate, the peak of the schedule (default: recipe)')
    parser.add_argument('--schedule', choices=['constant', 'cosine', 'linear'],
                        help='how the learning rate falls after the warm-up (default: recipe)')
    parser.add_argument('--warmup', type=number(float, 0, 1, high_open=True),
                        help='fraction of the strings over which the learning rate warms up (default: recipe)')
    parser.add_argument('--decay_to', type=number(float, 0, 1),
                        help='the last string\'s learning rate, as a fraction of --lr (default: recipe)')
    parser.add_argument('--clip', type=number(float, 0), help='largest gradient length per string; '
                        '0: no clipping (default: recipe)')
    parser.add_argument('--mom', type=number(float, 0, 1, high_open=True), help='SGD momentum (default: recipe)')
    parser.add_argument('--wd', type=number(float, 0, 1), help='weight decay (default: recipe)')
    parser.add_argument('--init', type=number(float, 0, 10),
                        help='std of the SRN initial weights; the LSTM starts like torch.nn.LSTM (default: recipe)')
    parser.add_argument('--candidates', type=number(int, 1, 64),
                        help='networks each run starts with; after --pick_at of the strings the one with the '
                        'lowest error on fresh strings goes on (default: recipe)')
    parser.add_argument('--pick_at', type=number(float, 0, 1, low_open=True),
                        help='fraction of the strings after which the best candidate is kept (default: recipe)')
    parser.add_argument('--seed', type=SEED, default=1, help='random seed of strings and weights (default: 1)')
    parser.add_argument('--runs', type=number(int, 1, 1024), default=1,
                        help='networks to train, with seeds seed, seed+1, ... (default: 1)')
    parser.add_argument('--engine', choices=['fast', 'autograd'], default='fast',
                        help='fast: compiled backpropagation (seq_fast.py); autograd: the plain torch loop (default: fast)')
    parser.add_argument('--verbose', action='store_true',
                        help='print every step of a fresh string every 1000 strings, not only at the end')
    args = resolve_defaults(parser.parse_args(argv))
    for key, value in RECIPES[args.recipe].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seed + args.runs > SEED_LIMIT:
        raise UserError(f'--seed {args.seed} with --runs {args.runs} goes past the largest seed {SEED_LIMIT - 1}')
    check_size(args)
    writable_dir(args.out_path, '--out_path')
    return args


def main(argv=None):
    args = parse_args(argv)
    lang = build_language(args)
    torch.set_num_threads(1)          # tiny matrices: threads only add overhead
    seeds = range(args.seed, args.seed + args.runs)    # run r is what --seed seed+r would train alone
    candidates = [build_candidates(args, lang, seed) for seed in seeds]
    rngs, show_rngs = zip(*[make_rngs(seed) for seed in seeds])
    selections = [selection_strings(args, lang, seed) for seed in seeds]
    runs = f'{args.runs} runs, ' if args.runs > 1 else ''
    pick = f', best of {args.candidates} after {pick_step(args)} strings' if args.candidates > 1 else ''
    print(f'{lang!r}, {args.model.upper()} with {args.hid} hidden units, {runs}{num_strings(args)} strings, '
          f'{args.recipe} recipe: {args.optim} lr {args.lr:g} ({args.schedule}), clip {args.clip:g}{pick}, '
          f'{args.engine} engine')
    indices = list(range(args.runs)) if args.runs > 1 else [None]
    try:
        if args.engine == 'fast':
            import seq_runs           # the fast engine's plumbing; needs numba
            nets = seq_runs.train_together(args, candidates, lang, rngs, show_rngs, selections, indices)
        else:                         # the plain loop trains one run after the other
            nets = []
            for run_candidates, rng, show_rng, selection, run in zip(candidates, rngs, show_rngs, selections, indices):
                log = Log(args, lang, run_candidates[:1], [show_rng], [run])
                try:
                    nets.append(train(args, run_candidates, lang, rng, log, selection))
                finally:
                    log.close()
    except KeyboardInterrupt:
        print(f'\nstopped; the last checkpoints are the ones saved above (every {SAVE_EVERY:,} strings)',
              file=sys.stderr)
        sys.exit(130)
    total = num_strings(args)
    saved = sorted({*range(SAVE_EVERY, total + 1, SAVE_EVERY), total})
    paths = [run_checkpoint(args, k / 1000, run) for k in saved for run in indices]
    print(f'{len(paths)} checkpoints written (every {SAVE_EVERY:,} strings and at the end): '
          + (paths[0] if len(paths) == 1 else f'{paths[0]} ... {paths[-1]}'))
    fresh = [lang.batch(1000, rng) for rng in show_rngs]
    if args.runs == 1 and not args.verbose:
        show_string(nets[0], lang, fresh[0].pick(0))
    verdict(args, [evaluate(net, lang, batch) for net, batch in zip(nets, fresh)])


if __name__ == '__main__':
    run_main(main)
