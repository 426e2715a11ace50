"""What seq_train.py, seq_plot.py and the fast engine share about a Part 3 run: the languages and
their defaults, the flags that name a network and its checkpoint, the recipes, the learning-rate
schedule, the candidates and how the best is chosen, what a run prints and where it saves.
"""
import argparse
import math
import os
import re
import sys

import numpy as np

from anbn import FAMILY, NUM_BLOCKS, AnBn
from common import UserError, check_finite, number, seed_everything
from reber import Reber
from seq_checkpoints import MAX_LENGTH, checkpoint_path, found_hint, load_checkpoint, save_checkpoint
from seq_models import determined_margins, evaluate, make_model, predict, show_string

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
# 'count' trains LSTMs that count far beyond the n they saw (Gers & Schmidhuber's peepholes and
# gate biases, a loss on the symbols that may follow, candidates judged by how far they count):
# measured on seeds 1-16 (README, "Networks that really count"). 8 candidates rather than 4 took
# aⁿbⁿ from 6 to 8 seeds perfect to n = 1000. For aⁿbⁿcⁿ and aⁿb²ⁿc³ⁿ what mattered was how many
# candidates there are and how far the band they are judged on reaches: 32 candidates judged up to
# n = 150 (not 8 up to 50) and twice the strings took aⁿbⁿcⁿ's median from n = 73 to 270, and
# aⁿb²ⁿc³ⁿ's from 29.5 to 116.5 (bench/README.md has the sweep).
COURSE_NETWORK = dict(peephole=False, gate_bias='u,1,u', loss='nll', select='right')
RECIPES = {
    'default': dict(optim='adam', lr=0.01, mom=0.0, wd=0.0, init=0.3,
                    schedule='cosine', warmup=0.01, decay_to=0.01, clip=1.0, candidates=4, pick_at=0.1,
                    keep_best=5000, **COURSE_NETWORK),
    'course':  dict(optim='sgd', lr=0.005, mom=0.0, wd=1e-4, init=0.001,
                    schedule='constant', warmup=0.0, decay_to=1.0, clip=0.0, candidates=1, pick_at=0.1,
                    keep_best=0, **COURSE_NETWORK),
    'count':   dict(optim='adam', lr=0.01, mom=0.0, wd=0.0, init=0.3,
                    schedule='half', warmup=0.0, decay_to=0.1, clip=1.0, candidates=8, pick_at=0.3,
                    peephole=True, gate_bias='-1,1,0', loss='bce', select='count', keep_best=200),
}
# what --recipe count changes per language: maximum n, thousands of strings, learning rate, candidates
COUNT_DEFAULTS = {
    'anb2n':    dict(length=10, epoch=4, lr=0.01),
    'anbn':     dict(length=10, epoch=8, lr=0.02),
    'anbncn':   dict(length=10, epoch=12, lr=0.01, candidates=32),
    'anb2nc3n': dict(length=10, epoch=6, lr=0.01, candidates=32),
}
# --select count compares networks on the strings of these n (five blocks of the same n): n beyond
# training, sparse far out where the strings are long
COUNT_BANDS = {
    'anb2n':    list(range(1, 31)),
    'anbn':     [*range(1, 31), 40, 50, 70, 100, 150, 200, 300],
    'anbncn':   [*range(1, 51), 70, 100, 150],
    'anb2nc3n': [*range(1, 31), 40, 50, 70],
}
COUNT_TEST = (100, 300, 1000)   # perfect up to which n: tested up to each in turn while still perfect
SELECTION = 1000                # strings the candidates are compared on
MAX_WEIGHTS = 10_000_000        # weights in all runs together: far beyond what these tasks need


# ---------------------------------------------------------------- languages, flags, defaults

def language_defaults(lang, model, embed):
    """--length, --hid and --epoch of a language for this model (and --embed)."""
    defaults = dict(DEFAULTS[lang])
    if model == 'srn':
        defaults.update(SRN_DEFAULTS.get(lang, {}))
    elif embed:
        defaults.update(EMBEDDED_LSTM_DEFAULTS)
    return defaults


def default_table(recipes=True):
    """The per-language defaults (and the recipes), as a table for --help."""
    rows = [f'  {"--lang":9} {"--length":>8} {"--hid":>12} {"--epoch":>14}']
    for lang, d in DEFAULTS.items():
        srn = language_defaults(lang, 'srn', False)
        hid = str(d['hid']) if srn['hid'] == d['hid'] else f'{srn["hid"]} (lstm {d["hid"]})'
        epoch = f'{d["epoch"]}' if srn['epoch'] == d['epoch'] else f'{srn["epoch"]} (lstm {d["epoch"]})'
        rows.append(f'  {lang:9} {d["length"]:>8} {hid:>12} {epoch:>14}')
    embedded = f'{DEFAULTS["reber"]["epoch"]} (lstm {EMBEDDED_LSTM_DEFAULTS["epoch"]})'
    rows.append(f'  {"  --embed":9} {"":>8} {"":>12} {embedded:>14}')
    table = ('defaults per language (--length: maximum n, or minimum Reber length; --epoch: '
             'thousands of strings):\n' + '\n'.join(rows))
    if not recipes:
        return table
    def flag(key, value):          # as typed: --peephole/--no-peephole, --gate_bias=-1,1,0
        if isinstance(value, bool):
            return f'--{key}' if value else f'--no-{key}'
        return f'--{key}={value}' if str(value).startswith('-') else f'--{key} {value}'
    lines = [f'  {name:8} ' + ', '.join(flag(k, v) for k, v in r.items()) for name, r in RECIPES.items()]
    lines += ['  count sets per language too (the LSTM, the anbn family; trained on n <= --length):'] + [
        f'    {lang:9} ' + ', '.join(flag(k, v) for k, v in values.items()) for lang, values in COUNT_DEFAULTS.items()]
    return table + '\n\nrecipes (a flag given overrides its recipe):\n' + '\n'.join(lines)


def add_language_flags(parser):
    """The flags that name a language, a network and a checkpoint (seq_train.py and seq_plot.py)."""
    parser.add_argument('--lang', choices=LANGUAGES, default='anb2n', help='language to learn (default: anb2n)')
    parser.add_argument('--embed', action='store_true', help='embedded Reber grammar (with --lang reber) (default: off)')
    parser.add_argument('--length', type=number(int, 1, MAX_LENGTH), default=None,
                        help='maximum n (anbn family) or minimum Reber string length (default: per language, below)')
    parser.add_argument('--model', choices=['srn', 'lstm'], default='srn', help='network type (default: srn)')
    parser.add_argument('--hid', type=number(int, 1, 10_000), default=None,
                        help='number of hidden units (default: per language, below)')
    parser.add_argument('--epoch', type=number(float, 0, 1e6, low_open=True), default=None,
                        help='thousands of training strings (default: per language, below)')
    parser.add_argument('--out_path', default='net', help='folder of the checkpoints (default: net)')


def gate_bias(text):
    """argparse type of --gate_bias: I,F,O, each a number from -10 to 10 or u (uniform like the
    other weights) -> the text, tidied."""
    parts = [part.strip() for part in text.split(',')]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f'must be three values I,F,O (each a number or u), not {text!r}')
    for part in parts:
        if part != 'u':
            number(float, -10, 10)(part)
    return ','.join(parts)


def gate_values(text):
    """--gate_bias's text -> (I, F, O), None for u."""
    return tuple(None if part == 'u' else float(part) for part in text.split(','))


def fill_unset(args, values):
    """Set each flag of `values` (name -> value) that was left unset (None) in args."""
    for key, value in values.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def resolve_defaults(args):
    """Fill in the per-language defaults of --length, --hid and --epoch, and check the values."""
    fill_unset(args, language_defaults(args.lang, args.model, args.embed))
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
    """The network for --model/--hid/--init (and --peephole/--gate_bias/--loss), sized for the
    language's symbols, in float64 with --float64."""
    net = make_model(args.model, lang.num_symbols, args.hid, init=args.init, peephole=args.peephole,
                     gate_bias=gate_values(args.gate_bias), loss=args.loss)
    return net.double() if getattr(args, 'float64', False) else net


# ---------------------------------------------------------------- finding a trained network (seq_plot.py)

SETTINGS = ['lang', 'model', 'hid', 'embed']     # what names a network: checked against the checkpoint


def find_checkpoint(args):
    """Read the checkpoint the flags name (or --checkpoint) and settle the settings in `args` that
    it records -> (path, what load_checkpoint gave). Typed flags must agree with the checkpoint;
    --length, when typed, replaces the length it was trained with (to try longer strings)."""
    if args.checkpoint is None:
        resolve_defaults(args)
        path = run_checkpoint(args, args.epoch, args.run)
        saved = load_checkpoint(path, {key: getattr(args, key) for key in SETTINGS})
    else:
        path = args.checkpoint
        if not os.path.lexists(path):
            raise UserError(f'--checkpoint {path}: no such file{found_hint(path, "")}')
        saved = load_checkpoint(path, {key: getattr(args, key) for key in SETTINGS if key in args.given})
        args.named = settings_from_name(args, path, saved) if 'lang' not in saved else None
        for key in SETTINGS:
            setattr(args, key, saved.get(key, getattr(args, key)))
        if args.lang not in LANGUAGES:
            raise UserError(f'{path} was trained on language {args.lang!r}, which this kit does not have '
                            f'({", ".join(LANGUAGES)})')
        resolve_defaults(args)
    if 'length' not in args.given:
        args.length = saved.get('length', args.length)
    return path, saved


# A course checkpoint's name, as its seq_train.py writes it: {lang}_{model}{hid}_{k}.pth; the kit's own
# names (seq_checkpoints.checkpoint_path) also: reber_embed_{model}{hid}_{k}.pth and _run{r} at the end
COURSE_NAME = re.compile(r'(?P<lang>{})(?P<embed>_embed)?_(?P<model>srn|lstm)(?P<hid>\d+)_\d+(?:\.\d+)?'
                         r'(?:_run\d+)?\.pth'.format('|'.join(sorted(map(re.escape, LANGUAGES), key=len,
                                                                       reverse=True))))


def language_symbols(lang):
    """The symbols of language `lang` (the same with or without --embed, for any --length)."""
    return build_language(argparse.Namespace(lang=lang, embed=False, length=DEFAULTS[lang]['length'])).symbols


def settings_from_name(args, path, saved):
    """A bare state_dict records no settings: take --lang, --model, --hid (and the kit's _embed)
    that were not typed from a course-style file name, after checking them against the weights'
    shapes (`saved`: model, hid, symbols). Sets them in `args`; returns the line that says what was
    taken (None when nothing was). UserError when the name says nothing and --lang was not typed,
    or when what it says contradicts the weights."""
    name = os.path.basename(path)
    match = COURSE_NAME.fullmatch(name)
    if match and match['embed'] and match['lang'] != 'reber':
        match = None
    if match is None:
        if 'lang' in args.given:
            return None
        fits = [lang for lang in LANGUAGES if len(language_symbols(lang)) == saved['symbols']]
        hint = (f'its weights read {saved["symbols"]} symbols: '
                + (' or '.join(fits) + (' (with --embed for embedded Reber)' if 'reber' in fits else '')
                   if fits else 'no language of this kit has that many'))
        raise UserError(f'{path} is a bare state_dict, which records no settings, and its name is not '
                        f'{{lang}}_{{model}}{{hid}}_{{k}}.pth as the course\'s seq_train.py writes it: give the '
                        f'--lang it was trained on ({hint})')
    named = dict(lang=match['lang'], embed=True if match['embed'] else None, model=match['model'],
                 hid=int(match['hid']))
    taken = {key: value for key, value in named.items() if key not in args.given and value is not None}
    wrong = []
    if 'lang' in taken:
        symbols = language_symbols(taken['lang'])
        if len(symbols) != saved['symbols']:
            wrong.append(f'--lang {taken["lang"]}, which has {len(symbols)} symbols ({" ".join(symbols)}), '
                         f'but its weights read {saved["symbols"]}')
    if 'model' in taken and taken['model'] != saved['model']:
        wrong.append(f'--model {taken["model"]}, but its weights are those of an {saved["model"].upper()}')
    if 'hid' in taken and taken['hid'] != saved['hid']:
        wrong.append(f'--hid {taken["hid"]}, but its weights have {saved["hid"]} hidden units')
    if wrong:
        raise UserError(f'{path} does not hold what its name says: {"; ".join(wrong)} (give the flags it '
                        'was trained with: a flag typed wins over the name)')
    if not taken:
        return None
    for key, value in taken.items():
        setattr(args, key, value)
    flags = ' '.join(f'--{key}' if value is True else f'--{key} {value}'
                     for key, value in taken.items())
    notes = []
    lang = args.lang
    if 'length' not in args.given:
        notes.append(f'--length {DEFAULTS[lang]["length"]}, {lang}\'s default: a course file name does not '
                     'record it')
    if lang == 'reber' and not args.embed:
        notes.append('plain Reber: give --embed for embedded Reber, which a course file name does not tell apart')
    return f'settings from the file name {name}: {flags}' + (f' ({"; ".join(notes)})' if notes else '')


# ---------------------------------------------------------------- sizes that cannot fit

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


# ---------------------------------------------------------------- the schedule and the candidates

def learning_rate(args, step):
    """The learning rate for training string `step` (0, 1, ...) of the run: a linear warm-up from
    0 over the first --warmup of the strings (Adam's first steps are large and noisy), then
    --lr decaying to --decay_to x --lr by the last string, along half a cosine or a line, or
    ('half') constant for the first half of the strings and along a line over the second (small
    steps at the end let the network settle on the solution instead of jumping around it)."""
    total = num_strings(args)
    warmup = round(args.warmup * total)
    if step < warmup:
        return args.lr * (step + 1) / warmup
    if args.schedule == 'constant' or total <= warmup + 1:
        return args.lr
    progress = (step - warmup) / (total - warmup - 1)
    if args.schedule == 'half':
        progress = max(0.0, 2 * progress - 1)
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if args.schedule == 'cosine' else 1 - progress
    return args.lr * (args.decay_to + (1 - args.decay_to) * shape)


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
    with --select count the same-n strings of the language's band; None when nothing is compared."""
    if args.candidates == 1 and not args.keep_best:
        return None
    if args.select == 'count':
        return same_n_strings(lang, COUNT_BANDS[args.lang])
    return lang.batch(SELECTION, np.random.default_rng([seed, 2]))


def same_n_strings(lang, ns):
    """For each n of ns, the string of five blocks of that n (and the next A), as a StringBatch."""
    return lang.blocks(np.repeat(np.asarray(ns)[:, None], NUM_BLOCKS, axis=1))


def same_n_of(lang, batch):
    """The n of each of same_n_strings' strings."""
    return batch.length // (NUM_BLOCKS * lang.multiples.sum())


def count_score(ns, margins):
    """(the largest n of ns up to which every string's determined steps are right, 0 if none;
    the smallest margin) from the strings' margins (seq_models.determined_margins)."""
    wrong = np.flatnonzero(margins <= 0)
    perfect = ns[-1] if not wrong.size else ns[wrong[0] - 1] if wrong[0] else 0
    return int(perfect), float(margins.min())


def best_count(scores):
    """The index of the best of several networks' count_score: the largest n, then the margin."""
    return max(range(len(scores)), key=lambda k: (scores[k], -k))


def perfect_up_to(net, lang):
    """The largest n up to which the strings of five blocks of one n are predicted right at every
    determined step, tested up to each of COUNT_TEST in turn while the network is still perfect."""
    perfect, start = 0, 1
    for stop in COUNT_TEST:
        ns = np.arange(start, stop + 1)
        perfect = count_score(ns, determined_margins(net, lang, same_n_strings(lang, ns)))[0]
        if perfect < stop:
            return max(perfect, start - 1)
        start = stop + 1
    return perfect


def best(results):
    """The index of the best of several networks' (mean error, fraction of the determined steps
    right): the most determined steps right, then the lowest error, then the lowest index. The
    fraction right comes first because the error alone can mislead: an LSTM on embedded Reber
    that has not learnt to carry the first symbol to the end has a LOWER mean error than one that
    has, early on (measured: 0.0004 with 87% right against 0.0008 with 100%), as only one step in
    twenty needs that memory."""
    return min(range(len(results)), key=lambda k: (-results[k][1], results[k][0]))


def best_of(select, scores):
    """The index of the best of several networks' scores for --select: best_count's or best's."""
    return best_count(scores) if select == 'count' else best(scores)


def best_candidate(candidates, lang, selection, select='right'):
    """Compare a run's candidates on its selection strings -> (index of the best, [(mean error,
    fraction of the determined steps right) of each], or with select 'count' [count_score of each])."""
    if select == 'count':
        ns = same_n_of(lang, selection)
        results = [count_score(ns, determined_margins(net, lang, selection)) for net in candidates]
    else:
        results = [evaluate(net, lang, selection) for net in candidates]
    return best_of(select, results), results


def pick_step(args):
    """The number of training strings after which the best candidate is kept (at least 1)."""
    return min(max(round(args.pick_at * num_strings(args)), 1), num_strings(args))


def comparisons_due(args):
    """After how many strings --keep_best compares the candidates: from the pick on, every
    --keep_best strings, and at the end."""
    total, pick = num_strings(args), pick_step(args)
    return {*range(pick, total + 1, args.keep_best), total}


def chunk_cuts(due, step, count):
    """Where a chunk of `count` strings, from string `step` on, is cut so that every step of `due`
    falls between two parts -> sorted offsets 0 ... count."""
    return sorted({0, count, *(d - step for d in due if step < d < step + count)})


def improves(select, score, kept):
    """Whether a network's score (best_candidate's, for --select) beats the kept network's
    (None: none kept yet); a tie keeps the network kept first."""
    return kept is None or best_of(select, [kept, score]) == 1


# ---------------------------------------------------------------- checkpoints of a run

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


def checkpoint_due(args, done):
    """Whether a run saves its checkpoints after `done` strings: every SAVE_EVERY and at the end."""
    return done % SAVE_EVERY == 0 or done == num_strings(args)


def saved_checkpoints(args, runs):
    """The paths of every checkpoint a whole run (of these run indices) writes, in order."""
    total = num_strings(args)
    saved = sorted({*range(SAVE_EVERY, total + 1, SAVE_EVERY), total})
    return [run_checkpoint(args, k / 1000, run) for k in saved for run in runs]


def save_checkpoints(args, nets, runs, done):
    """Save nets[i], run runs[i] (None: a single run), after `done` strings."""
    for net, run in zip(nets, runs):
        save_checkpoint(run_checkpoint(args, done / 1000, run), net, checkpoint_meta(args, done / 1000, run))


def end_of_chunk(args, log, nets, runs, errors, done):
    """What both engines' loops do after a chunk, `done` strings in all: stop if the weights
    diverged, print the chunk's line (errors: (runs, count) of its training strings), and save
    every run's checkpoint every SAVE_EVERY strings and at the end."""
    check_finite([p for net in nets for p in net.parameters()], f'the weights after {done} strings')
    log.chunk_done(nets, errors, done)
    if checkpoint_due(args, done):
        save_checkpoints(args, nets, runs, done)


# ---------------------------------------------------------------- what a run prints

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
    """What the training loops print: a tqdm progress bar (only on a terminal) and a line every
    CHUNK strings, with a fresh string's error. runs[i] names run i in the lines (None: a single
    run); show_rngs[i] draws its fresh strings."""

    def __init__(self, args, lang, show_rngs, runs, score=None):
        self.args, self.lang, self.show_rngs, self.runs = args, lang, show_rngs, runs
        self.score = score          # the fast engine's error of a fresh string per run, if given
        self.bar = None
        if sys.stdout.isatty():
            from tqdm import tqdm
            label = f'run {runs[0]}' if len(runs) == 1 and runs[0] is not None else 'strings'
            self.bar = tqdm(total=num_strings(args), desc=label, unit=' strings', leave=False, dynamic_ncols=True)

    def write(self, line):
        (self.bar.write if self.bar else print)(line)

    def tick(self, count, recent=None):
        if self.bar:
            self.bar.update(count)
            if recent is not None:
                self.bar.set_postfix(error=f'{recent:.4f}', refresh=False)

    def chunk_done(self, nets, errors, done):
        """After a chunk, `done` strings in all: nets[i] is run i's network, errors (runs, count)
        the errors of its training strings."""
        epoch = f'epoch: {done / 1000:g}'
        recent = errors.mean(axis=1)
        if len(nets) == 1:
            batch = self.lang.batch(1, self.show_rngs[0])
            if self.args.verbose:
                show_string(nets[0], self.lang, batch)
            elif checkpoint_due(self.args, done) and self.bar is None:
                show_prediction(nets[0], self.lang, batch)
            error = evaluate(nets[0], self.lang, batch)[0]
            run = '' if self.runs[0] is None else f'run {self.runs[0]}  '
            self.write(f'{run}{epoch}  error: {error:.5f}  (training strings of the last {errors.shape[1]}: '
                       f'{recent[0]:.5f})')
        else:
            batches = [self.lang.batch(1, rng) for rng in self.show_rngs]
            fresh = self.score(batches) if self.score else [evaluate(n, self.lang, b)[0]
                                                            for n, b in zip(nets, batches)]
            self.write(f'{epoch}  error by run: {" ".join(f"{e:.4f}" for e in fresh)}  '
                       f'(training strings, mean over runs: {recent.mean():.5f})')
        self.tick(0, recent.mean())

    def picked(self, kept, results, when=None):
        """The candidates were compared: run i keeps candidate kept[i]; results[i] are run i's
        candidates' (mean error, fraction of determined steps right) on the selection strings,
        or with --select count their count_score; when[i]: after how many strings (--keep_best)."""
        for i, (run, k, row) in enumerate(zip(self.runs, kept, results)):
            name = '' if run is None else f'run {run}: '
            after = pick_step(self.args) if when is None else when[i]
            if self.args.select == 'count':
                shown = ('on the strings of one n, perfect up to n / margin: '
                         + '  '.join(f'{n}/{margin:.3f}' for n, margin in row))
            else:
                shown = (f'on {SELECTION} selection strings, determined steps right % / error: '
                         + '  '.join(f'{100 * right:.2f}/{error:.4f}' for error, right in row))
            self.write(f"{name}kept candidate {k} of {self.args.candidates} after {after} strings ({shown})")

    def close(self):
        if self.bar:
            self.bar.close()
