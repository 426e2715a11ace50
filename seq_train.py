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
how many of seeds 1-16 and 17-32): Adam; a learning rate that warms up over the first 1% of the
strings and then decays along a cosine to 0.01 x --lr (small steps at the end let the network
settle on the solution instead of jumping around it); gradient clipping; and four candidate
networks per run, trained side by side on the same strings. The candidates are there because a
run that fails mostly fails early and for good: its network gets stuck predicting about 80% of
the certain symbols. And a network that has solved the task can still slip late on rare strings.
So from 10% of the strings on, and every 5,000 strings after, the candidates are compared on 1000
other strings, and the run keeps a copy of the network that predicted most of their certain
symbols so far (train_keeping_best() below; printed at the end: "kept candidate ..."). The first
candidate is the network the run would train alone (--candidates 1 --keep_best 0: the course's
loop, train()). `--recipe course` trains with the course's own settings instead, for comparison.
Every piece is a flag; a flag given overrides the recipe.

Two engines do the same mathematics: `--engine fast` (the default; seq_fast.py, compiled
backpropagation through time, about 200 times faster, and several runs at once) and
`--engine autograd`, the plain torch loop of train() below, for reading and for checking (with
--float64 both compute in float64 and save the same weights).
"""
import argparse
import copy
import sys

import numpy as np
import torch
import torch.nn.functional as F

from common import SEED, SEED_LIMIT, UserError, number, run_main, writable_dir
from seq_models import evaluate, output_probabilities, run_model, show_string, string_errors
from seq_models import LOSSES
from seq_setup import (CHUNK, COUNT_BANDS, COUNT_DEFAULTS, COUNT_TEST, RECIPES, SAVE_EVERY, Log, add_language_flags,
                       best, best_candidate, build_candidates, build_language, check_size, chunk_cuts,
                       comparisons_due, default_table, end_of_chunk, fill_unset, gate_bias, improves,
                       learning_rate, make_rngs, num_strings, perfect_up_to, pick_step, resolve_defaults,
                       run_checkpoint, saved_checkpoints, selection_strings)


# ---------------------------------------------------------------- the training loop

def string_loss(net, output, string):
    """The loss of a string (a StringBatch of one) from the network's output scores (T, S): the
    mean over its steps of the negative log-likelihood of the next symbol (the course's, loss
    'nll'), or with loss 'bce' of the summed binary cross-entropy of each symbol's sigmoid
    against whether it may come next (target probability > 0), which trains the network to
    say every symbol the language allows, not a guess between them."""
    if getattr(net, 'loss', 'nll') == 'bce':
        legal = torch.from_numpy(string.prob[0] > 0).to(output.dtype)
        return F.binary_cross_entropy_with_logits(output, legal, reduction='sum') / len(output)
    return F.nll_loss(F.log_softmax(output, dim=1), torch.from_numpy(string.seq[0, 1:]))


def train_string(net, optimizer, lang, string, lr, clip=0.0):
    """One training step on one string (a StringBatch of one): forward pass through the whole
    string, loss = string_loss (by default the mean negative log-likelihood of each next symbol),
    backward pass (backpropagation through time), clip the gradient's length to `clip` (0: no
    clipping), one optimizer step with learning rate lr. Returns the string's error before the step."""
    for group in optimizer.param_groups:
        group['lr'] = lr
    optimizer.zero_grad()
    output = run_model(net, lang.one_hot(string.seq[:, :-1]))[2][0]
    string_loss(net, output, string).backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    optimizer.step()
    return string_errors(output_probabilities(net, output.detach()).numpy()[None], string)[0]


def train(args, net, lang, chunks, log, run=None, optimizer=None, step=0):
    """The course's training loop, with torch's autograd: one optimizer step per string, the
    learning rate following the schedule. `chunks` gives the run's strings from string `step` on,
    CHUNK at a time; after each chunk the run stops if the weights diverged, `log` prints a line,
    and every SAVE_EVERY strings and at the end the weights are saved (`run` names the checkpoint
    of one run of several). Returns the trained network."""
    optimizer = optimizer or make_optimizer(args, net)
    for batch in chunks:
        errors = train_strings(args, net, optimizer, lang, batch, step, log.tick)
        step += len(errors)
        end_of_chunk(args, log, [net], [run], errors[None], step)
    return net


def train_strings(args, net, optimizer, lang, batch, step, tick):
    """train_string on each string of a batch in turn, the run's strings step, step+1, ...
    -> their errors; tick(1) after each."""
    errors = np.zeros(len(batch.length))
    for i in range(len(batch.length)):
        errors[i] = train_string(net, optimizer, lang, batch.pick(i), learning_rate(args, step + i), args.clip)
        tick(1)
    return errors


def make_optimizer(args, net):
    if args.optim == 'adam':
        return torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.wd)
    return torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.mom, weight_decay=args.wd)


def string_chunks(lang, rng, total):
    """The run's training strings, CHUNK at a time (StringBatch), `total` in all."""
    for start in range(0, total, CHUNK):
        yield lang.batch(min(CHUNK, total - start), rng)


def train_candidates(args, candidates, lang, chunks, log, selection, run=None):
    """A run with several candidate networks, each with its own optimizer: all are trained on the
    run's first pick_step(args) strings, the best on the `selection` strings (best_candidate) is
    kept, and train() trains it on to the end (a network stuck in a poor solution is already
    recognisable at the pick). Until the pick the first candidate, the network the run would
    train alone, is the one printed and saved. Returns the network kept."""
    optimizers = [make_optimizer(args, net) for net in candidates]
    pick, step = pick_step(args), 0
    quiet = lambda count: None                  # the bar counts the first candidate's strings
    for batch in chunks:
        count = len(batch.length)
        cut = min(count, pick - step)
        errors = [train_strings(args, net, optimizer, lang, batch.part(0, cut), step, log.tick if k == 0 else quiet)
                  for k, (net, optimizer) in enumerate(zip(candidates, optimizers))]
        if step + cut < pick:
            step += count
            end_of_chunk(args, log, candidates[:1], [run], errors[0][None], step)
            continue
        kept, results = best_candidate(candidates, lang, selection, args.select)
        log.picked([kept], [results])
        net, optimizer = candidates[kept], optimizers[kept]
        rest = train_strings(args, net, optimizer, lang, batch.part(cut, count), pick, log.tick)
        step += count
        end_of_chunk(args, log, [net], [run], np.concatenate([errors[kept], rest])[None], step)
        return train(args, net, lang, chunks, log, run, optimizer, step)


def train_keeping_best(args, candidates, lang, chunks, log, selection, run=None):
    """A run with --keep_best: every candidate trains to the end with its own optimizer; from the
    pick on, every --keep_best strings and at the end, they are compared on the `selection`
    strings, and the run keeps a copy of the best network seen so far (a network that had solved
    the task can slip late on rare strings; the copy has not). The copy is the network printed
    (with the training errors of the candidate it came from), saved and returned; until the first
    comparison that is the first candidate."""
    optimizers = [make_optimizer(args, net) for net in candidates]
    due, step = comparisons_due(args), 0
    shown, kept = candidates[0], (None, 0, 0)       # kept: (score, candidate, strings) of the best seen
    quiet = lambda count: None
    for batch in chunks:
        count = len(batch.length)
        cuts = chunk_cuts(due, step, count)
        errors = []
        for start, stop in zip(cuts[:-1], cuts[1:]):
            part = batch.part(start, stop)
            errors.append([train_strings(args, net, optimizer, lang, part, step + start, log.tick if k == 0 else quiet)
                           for k, (net, optimizer) in enumerate(zip(candidates, optimizers))])
            if step + stop in due:
                k, scores = best_candidate(candidates, lang, selection, args.select)
                if improves(args.select, scores[k], kept[0]):
                    kept, shown = (scores[k], k, step + stop), copy.deepcopy(candidates[k])
        step += count
        # printed: the training errors of the candidate the network shown was copied from
        end_of_chunk(args, log, [shown], [run], np.concatenate([trained[kept[1]] for trained in errors])[None], step)
    log.picked([kept[1]], [[kept[0]]], [kept[2]])
    return shown


# ---------------------------------------------------------------- the end of a run

def verdict(args, results, top=None):
    """Print how each run does on 1000 fresh strings, and whether it solved the task; with several,
    name the best run: `top` when given (the one that counts furthest), else the most right."""
    several = len(results) > 1
    for r, (error, right) in enumerate(results):
        run = f'run {r} (seed {args.seed + r}): ' if several else ''
        print(f'{run}on 1000 fresh strings: error {error:.5f}, determined steps right {100 * right:.2f}%'
              + (' (solved)' if several and right == 1 else ''))
    if several:
        top = best(results) if top is None else top
        solved = sum(right == 1 for _, right in results)
        print(f'solved: {solved} of {len(results)} runs; best run: {top} (seed {args.seed + top}, '
              f'{run_checkpoint(args, num_strings(args) / 1000, top)}); plot it with seq_plot.py --run {top}')
    elif results[0][1] == 1:
        print('verdict: SOLVED: the network predicts every symbol that can be predicted.')
    else:
        print(f'verdict: NOT SOLVED: {100 * (1 - results[0][1]):.2f}% of the predictable symbols are '
              f'wrong. This seed did not find the solution: try another --seed, or --runs 8 and '
              f'plot the best run.')


def count_verdict(args, counts):
    """Print how far each run counts (perfect_up_to), and with several the one that counts furthest."""
    for r, count in enumerate(counts):
        run = f'run {r} (seed {args.seed + r}): ' if len(counts) > 1 else ''
        print(f'{run}perfect up to n = {count} (strings of five blocks of one n, tested up to {COUNT_TEST[-1]})')
    if len(counts) > 1:
        top = int(np.argmax(counts))
        print(f'counts furthest: run {top} (seed {args.seed + top}, '
              f'{run_checkpoint(args, num_strings(args) / 1000, top)}), perfect up to n = {counts[top]}')


# ---------------------------------------------------------------- flags

def make_parser():
    """The flags of seq_train.py, each with its default in its help."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=default_table(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_language_flags(parser)
    parser.add_argument('--recipe', choices=list(RECIPES), default='default',
                        help='the training settings below, as a set (default: default)')
    parser.add_argument('--optim', choices=['sgd', 'adam'], help='optimizer (default: recipe)')
    parser.add_argument('--lr', type=number(float, 0, 10, low_open=True),
                        help='learning rate, the peak of the schedule (default: recipe)')
    parser.add_argument('--schedule', choices=['constant', 'cosine', 'linear', 'half'],
                        help='how the learning rate falls after the warm-up (half: constant, then linear over the '
                        'second half) (default: recipe)')
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
                        help='networks each run trains on the same strings; they are compared (--select) after '
                        '--pick_at of the strings, and with --keep_best every KEEP_BEST strings after '
                        '(default: recipe)')
    parser.add_argument('--pick_at', type=number(float, 0, 1, low_open=True),
                        help='fraction of the strings after which the best candidate is kept (default: recipe)')
    parser.add_argument('--peephole', action=argparse.BooleanOptionalAction,
                        help='LSTM gates that also see the cell (--no-peephole: without) (default: recipe)')
    parser.add_argument('--gate_bias', type=gate_bias,
                        help='initial biases I,F,O of the LSTM\'s input, forget and output gates, each a number '
                        'or u: uniform like the other weights (default: recipe)')
    parser.add_argument('--loss', choices=LOSSES, help='nll: the course\'s, softmax cross-entropy on the next '
                        'symbol; bce: sigmoid binary cross-entropy on each symbol, 1 where it may come next '
                        '(default: recipe)')
    parser.add_argument('--select', choices=['right', 'count'],
                        help='how candidates are compared: right: determined steps right on other strings, '
                        'then error; count: the largest n up to which strings of five blocks of one n are '
                        'perfect, then the margin (the anbn family) (default: recipe)')
    parser.add_argument('--keep_best', type=number(int, 0),
                        help='0: keep the best candidate at --pick_at and train only it on; else every candidate '
                        'trains to the end and, from --pick_at on, every KEEP_BEST strings and at the end, the '
                        'run keeps a copy of the best network seen (default: recipe)')
    parser.add_argument('--seed', type=SEED, default=1, help='random seed of strings and weights (default: 1)')
    parser.add_argument('--runs', type=number(int, 1, 1024), default=1,
                        help='networks to train, with seeds seed, seed+1, ... (default: 1)')
    parser.add_argument('--engine', choices=['fast', 'autograd'], default='fast',
                        help='fast: compiled backpropagation (seq_fast.py); autograd: the plain torch loop (default: fast)')
    parser.add_argument('--float64', action='store_true',
                        help='networks in float64, as the fast engine computes, so that both engines save the same '
                        'weights (default: off, float32)')
    parser.add_argument('--verbose', action='store_true',
                        help='print every step of a fresh string every 1000 strings, not only at the end '
                        '(default: off)')
    return parser


def parse_args(argv=None):
    args = make_parser().parse_args(argv)
    if args.recipe == 'count':
        if args.lang not in COUNT_DEFAULTS:
            raise UserError('--recipe count is for the anbn family of languages')
        fill_unset(args, COUNT_DEFAULTS[args.lang])
    args = resolve_defaults(args)
    fill_unset(args, RECIPES[args.recipe])
    if args.model == 'srn' and (args.peephole or args.gate_bias != RECIPES['default']['gate_bias']):
        raise UserError(f'--peephole and --gate_bias{" (set by --recipe count)" if args.recipe == "count" else ""} '
                        'are for --model lstm')
    if args.select == 'count' and args.lang not in COUNT_BANDS:
        raise UserError('--select count is for the anbn family of languages')
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
    if args.keep_best:
        pick = f', best of {args.candidates} seen (compared every {args.keep_best} strings from {pick_step(args)})'
    else:
        pick = f', best of {args.candidates} after {pick_step(args)} strings' if args.candidates > 1 else ''
    print(f'{lang!r}, {args.model.upper()} with {args.hid} hidden units, {runs}{num_strings(args)} strings, '
          f'{args.recipe} recipe: {args.optim} lr {args.lr:g} ({args.schedule}), clip {args.clip:g}{pick}, '
          f'{args.engine} engine')
    indices = list(range(args.runs)) if args.runs > 1 else [None]
    try:
        if args.engine == 'fast':
            try:
                import seq_fast
            except ImportError as err:
                raise UserError(f'the fast engine needs numba ({err}): pip install -r requirements.txt, '
                                'or use --engine autograd') from None
            nets = seq_fast.train_together(args, candidates, lang, rngs, show_rngs, selections, indices)
        else:                         # the plain loop trains one run after the other
            nets = [train_run(args, run_candidates, lang, rng, show_rng, selection, run)
                    for run_candidates, rng, show_rng, selection, run
                    in zip(candidates, rngs, show_rngs, selections, indices)]
    except KeyboardInterrupt:
        print(f'\nstopped; the last checkpoints are the ones saved above (every {SAVE_EVERY:,} strings)',
              file=sys.stderr)
        sys.exit(130)
    paths = saved_checkpoints(args, indices)
    print(f'{len(paths)} checkpoints written (every {SAVE_EVERY:,} strings and at the end): '
          + (paths[0] if len(paths) == 1 else f'{paths[0]} ... {paths[-1]}'))
    fresh = [lang.batch(1000, rng) for rng in show_rngs]
    if args.runs == 1 and not args.verbose:
        show_string(nets[0], lang, fresh[0].pick(0))
    counts = [perfect_up_to(net, lang) for net in nets] if args.select == 'count' else None
    verdict(args, [evaluate(net, lang, batch) for net, batch in zip(nets, fresh)],
            None if counts is None else int(np.argmax(counts)))
    if counts is not None:
        count_verdict(args, counts)


def train_run(args, candidates, lang, rng, show_rng, selection, run):
    """One run in the autograd engine: train() its network, or train_candidates() or
    train_keeping_best() its candidates."""
    log = Log(args, lang, [show_rng], [run])
    chunks = string_chunks(lang, rng, num_strings(args))
    try:
        if args.keep_best:
            return train_keeping_best(args, candidates, lang, chunks, log, selection, run)
        if len(candidates) == 1:
            return train(args, candidates[0], lang, chunks, log, run)
        return train_candidates(args, candidates, lang, chunks, log, selection, run)
    finally:
        log.close()


if __name__ == '__main__':
    run_main(main)
