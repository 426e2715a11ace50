"""Look inside a network trained by seq_train.py: its weights, its outputs, and its hidden unit dynamics.

    python3 seq_plot.py --lang anb2n --epoch 100
    python3 seq_plot.py --lang anb2nc3n --model lstm --hid 3
    python3 seq_plot.py --lang anb2n --epoch 100 --run 3    # run 3 of seq_train.py --runs N
    python3 seq_plot.py --checkpoint some/file.pth          # any checkpoint, also the course kit's
    python3 seq_plot.py --checkpoint anbn_srn2_100.pth      # a course state_dict: settings from its name

Prints the checkpoint's settings, the weights and, for each of --num_plot fresh strings, the
activations and output probabilities at every step. Then saves, in --plot_dir, PNG pictures named
after the checkpoint file, e.g. anb2n_srn2_100 (then _run{r} for a run of several), so pictures
of different epochs and runs never overwrite each other; each title says which network it shows:
  _{j}{k}.png     hidden unit j against hidden unit k at every step, coloured by state, with the
                  initial state (the SRN's tanh(H0), the LSTM's 0) marked
  _c{j}{k}.png    the same for the LSTM's context (cell) units
  _time.png       every unit over time along the first string, its runs of symbols under the axis
At most MAX_PICTURES pictures in all: the pairs of units whose steps spread widest, as many as fit
beside the time plot and the analyses; --all_pairs draws every pair, every three units in 3-D
(_{i}{j}{k}.png, _c{i}{j}{k}.png) and the 3-D path. Units are numbered from 0 (with more than 10
units the numbers are joined by '-'). In the scatter plots the marker shape is the symbol read; the
key beside them says what the colours count.

How does it count? (seq_dynamics.py computes, seq_analysis_plots.py draws):
    python3 seq_plot.py --lang anb2n --analyse       # all of the following at once
  --trajectory [K]  _trajectory.png (and _c_trajectory.png, the LSTM's cells; with --all_pairs
                    _trajectory3d.png): the path of K strings
  --fsm             extract a finite state machine (--clusters K, default automatic): its table,
                    fidelity, match with the language's states; _fsm.png
  --fixed_points    fixed points of each symbol's map with eigenvalues; _fixed_points.png
  --test_length N   accuracy on blocks of one n = 1..N (Reber: longer strings); _generalise.png
  --counter         a counter machine (the a^n b^n family): the units that count, the control
                    states, each counter's change and zero tests, its fidelity per n up to the
                    network's limit; _counter.png. --analyse adds it when the network counts
                    (the k-means machine misses its goal or needs more states than the
                    language's for n <= --length, and the network is perfect beyond --length)
Then come the list of every file written and, with analyses, a summary whose lines a script can
read: states, fidelity, purity, covered, perfect up to, counter fidelity.

Checkpoints are read as weights only: a file holding anything else is refused, never run.
"""
import argparse
import itertools
import os
import re

import numpy as np
import torch

import seq_analysis_plots as draw
import seq_dynamics as dyn
from common import SEED, UserError, number, pyplot, run_main, save_png, writable_dir
from seq_checkpoints import META, epoch_tag, load_weights
from seq_models import make_model, predict, show_string
from seq_setup import (SETTINGS, add_language_flags, build_language, default_table, fill_unset, find_checkpoint,
                       perfect_up_to, same_n_strings)

MAX_PLOT = 100
MAX_PICTURES = 8        # a run's pictures without --all_pairs (each kind of unit still gets one pair)
GATES = ['i input gate', 'f forget gate', 'g cell candidate', 'o output gate']


def make_parser():
    """The flags of seq_plot.py, each with its default in its help."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], epilog=default_table(recipes=False),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_language_flags(parser)
    parser.add_argument('--checkpoint', default=None,
                        help='plot this checkpoint file, of any name, instead of the one the flags above '
                             'name; also a bare state_dict saved by the course\'s seq_train.py. Its '
                             'settings are used (a bare state_dict\'s from the flags, else from a course '
                             'file name {lang}_{model}{hid}_{k}.pth, checked against the weights\' shapes); '
                             'flags given must agree with them (default: none)')
    parser.add_argument('--num_plot', type=number(int, 1, MAX_PLOT), default=10,
                        help='fresh strings to print and plot (default: %(default)s)')
    parser.add_argument('--plot_dir', default='plot', help='folder for the pictures (default: %(default)s)')
    parser.add_argument('--seed', type=SEED, default=0,
                        help='random seed of the plotted strings (default: %(default)s)')
    parser.add_argument('--run', type=number(int, 0), default=None,
                        help='which run of a seq_train.py --runs N training to look at, 0..N-1 '
                             '(default: none, a single run)')
    parser.add_argument('--all_pairs', action='store_true',
                        help='draw every pair and every three units (and the 3-D path of --trajectory), not only '
                             f'the pairs that spread widest, up to {MAX_PICTURES} pictures in all (default: off)')
    parser.add_argument('--show', action='store_true', help='also show the plots in windows (default: off)')
    add_analysis_flags(parser)
    return parser


def parse_args(argv=None):
    parser = make_parser()
    # flags left unset stay None, so that settings typed can be told from defaults
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys([*SETTINGS, 'out_path'])))
    args.given = {key for key in [*SETTINGS, 'length', 'epoch', 'out_path'] if getattr(args, key) is not None}
    fill_unset(args, {key: parser.get_default(key) for key in [*SETTINGS, 'out_path']})
    if args.checkpoint == '':
        raise UserError('--checkpoint needs a file name')
    if args.checkpoint is not None:
        extra = [f'--{key}' for key in ['epoch', 'out_path'] if key in args.given]
        if args.run is not None:
            extra.append('--run')
        if extra:
            raise UserError(f'--checkpoint names the file itself: leave out {" and ".join(extra)}')
    return args


def print_settings(path, saved, args, lang):
    print(f'{path}: {args.model.upper()} with {args.hid} hidden units on {lang!r}')
    if 'lang' not in saved:
        named = getattr(args, 'named', None)
        if named:
            print(named)
            print('(a bare state_dict, as the course\'s seq_train.py saves: the settings its name gives agree '
                  'with the weights\' shapes)')
        else:
            print('(a bare state_dict, as the course\'s seq_train.py saves: language and length from the '
                  'flags, model and hidden units from the weights)')
        return
    extras = {key: value for key, value in saved.items()
              if key not in META and key not in ('state_dict', 'symbols') and value not in (None, False)}
    trained = f'trained on {round(saved["epoch"] * 1000):,} strings'
    print(', '.join([trained] + [f'{key} {value:g}' if isinstance(value, float) else f'{key} {value}'
                                 for key, value in extras.items()]))


def print_weights(net, model):
    """Each weight matrix; the LSTM's W, U and hid_bias as their four gate blocks, one below the other."""
    print('weights:')
    with np.printoptions(precision=3, suppress=True):
        for name, param in net.named_parameters():
            values = param.detach().numpy()
            if model == 'lstm' and name in ('W', 'U', 'hid_bias'):
                print(f'{name} {tuple(values.shape)}, in four gate blocks of {net.num_hid} columns:')
                for gate, block in zip(GATES, np.split(values, 4, axis=-1)):
                    print(f' {gate}:\n{block}')
            else:
                print(f'{name} {tuple(values.shape)}:\n{values}')
        if model == 'srn':
            print(f'initial state tanh(H0): {net.initial_state().detach().numpy()}')


def units_tag(units, num_units):
    return ('' if num_units <= 10 else '-').join(str(u) for u in units)


def ranked_units(values, dims):
    """Every `dims` units of `values` (steps, units), those whose steps spread over the widest area
    (volume: the root of their covariance's determinant, which a copy of a unit adds nothing to) first."""
    combos = list(itertools.combinations(range(values.shape[1]), dims))
    spread = [np.linalg.det(np.atleast_2d(np.cov(values[:, list(c)], rowvar=False))) for c in combos]
    return [combos[i] for i in np.argsort(spread, kind='stable')[::-1]]


def scatter_choice(kinds, room, all_pairs, drawn):
    """The scatter plots to draw -> (kind, units) pairs: every pair then every three with all_pairs,
    else the best pair of each kind of unit, the second best of each, ... `room` of them (at least
    one a kind), those `drawn` already (as a path) last."""
    if all_pairs:
        return [(kind, units) for kind, values in kinds for dims in (2, 3) if values.shape[1] >= dims
                for units in ranked_units(values, dims)]
    ranked = [sorted([(kind, units) for units in ranked_units(values, 2)], key=lambda pick: pick in drawn)
              for kind, values in kinds]
    interleaved = [pick for rank in itertools.zip_longest(*ranked) for pick in rank if pick]
    return interleaved[:max(room, len(kinds))]


def describe_run(args, saved, lang, path):
    """The line under every title: which network, on what, from which training."""
    if hasattr(lang, 'max_n'):
        language = f'{args.lang} (n = 1 to {lang.max_n})'
    else:
        language = f'{"embedded " if lang.embed else ""}Reber (strings of {lang.min_length}+ symbols)'
    parts = [f'{args.model.upper()}, {args.hid} hidden units, {language}']
    if 'seed' in saved:
        parts.append(f'seed {saved["seed"]}')
    if 'epoch' in saved:
        parts.append(f'{round(saved["epoch"] * 1000):,} strings trained')
    return ', '.join(parts) + f' ({os.path.basename(path)})'


def save_plot(plt, fig, path, show):
    try:
        save_png(fig, path)
    except OSError as err:
        raise UserError(f'cannot write {path}: {err.strerror or err}') from None
    if not show:
        plt.close(fig)
    return path


# ---------------------------------------------------------------- how does it count?

FSM_STRINGS = 200           # strings whose states are clustered, and again to choose the clusters
FIDELITY_STRINGS = 1000     # fresh strings the fidelity and the comparison are measured on
REBER_TEST_LIMIT = 30       # longer Reber strings are too rare to draw
COUNTER_FIT_N = 50          # the counter machine is read off the strings of one n up to this


def add_analysis_flags(parser):
    group = parser.add_argument_group('how does it count? (seq_dynamics.py)')
    group.add_argument('--trajectory', type=number(int, 1), nargs='?', const=1, default=None, metavar='K',
                       help='draw the path of the first K plotted strings, 1 when K is left out (default: off)')
    group.add_argument('--fsm', action='store_true', help='extract, print and draw a finite state machine (default: off)')
    group.add_argument('--clusters', type=number(int, 1, dyn.MAX_CLUSTERS), default=None,
                       help='clusters for --fsm; without it the fewest whose machine predicts what the '
                            f'network predicts on {100 * dyn.FIDELITY_GOAL:g}%% of steps (default: automatic)')
    group.add_argument('--fixed_points', action='store_true',
                       help="fixed points of each symbol's map, their eigenvalues and flow (default: off)")
    group.add_argument('--test_length', type=number(int, 1), default=None, metavar='N',
                       help='generalisation: blocks of one n for n = 1..N (Reber: strings of at least '
                            f'5, 10, ... N symbols); with --analyse and no N, twice --length (Reber: '
                            f'{REBER_TEST_LIMIT}) (default: off)')
    group.add_argument('--counter', action='store_true',
                       help='extract, print and draw a machine with counters, and measure its fidelity per n up '
                            'to the n the network is perfect to (the a^n b^n family; --analyse adds it when '
                            'the network counts) (default: off)')
    group.add_argument('--analyse', action='store_true', help='all of the above but --counter, which it adds '
                                                              'when the network counts (default: off)')


def check_analysis_flags(args):
    """Fill in --analyse and the default --test_length; refuse what cannot be done."""
    if args.analyse:
        args.trajectory = args.trajectory or 1
        args.fsm = args.fixed_points = True
        if args.test_length is None:
            args.test_length = 2 * args.length if args.lang != 'reber' else REBER_TEST_LIMIT
    if args.lang == 'reber' and args.counter:
        raise UserError('--counter reads counts off a network of the a^n b^n family: Reber strings have none')
    if args.lang == 'reber' and args.test_length is not None:
        if not args.length <= args.test_length <= REBER_TEST_LIMIT:
            raise UserError(f'--test_length for Reber must be from --length ({args.length}) to '
                            f'{REBER_TEST_LIMIT} (longer strings are too rare to draw), not {args.test_length}')
    if args.trajectory is not None and args.trajectory > args.num_plot:
        raise UserError(f'--trajectory {args.trajectory} needs as many plotted strings: '
                        f'raise --num_plot ({args.num_plot})')


def run_analyses(args, net, lang, batch, pairs, run, plt, save):
    """The analyses asked for, printed, drawn and saved -> (files written, summary lines).
    pairs: the pair of units to draw of each kind, as indices of the joint state."""
    torch.set_num_threads(1)          # tiny matrices: more threads only wait for each other
    files, summary = [], []
    rng = np.random.default_rng([args.seed, 11])
    if args.trajectory:
        plotted = dyn.collect_states(net, lang, batch)
        for kind, units in pairs.items():
            files.append(save(draw.trajectory_figure(plt, plotted, lang, units, args.trajectory, args.hid, run),
                              'trajectory' if kind == 'hidden' else 'c_trajectory'))
        if args.all_pairs and args.hid >= 3:
            files.append(save(draw.trajectory_figure(plt, plotted, lang, (0, 1, 2), args.trajectory, args.hid, run),
                              'trajectory3d'))
    states = None
    if args.fsm or args.fixed_points:
        states = dyn.collect_states(net, lang, lang.batch(FSM_STRINGS, rng))
    counts = False
    if args.fsm:
        lines, counts = print_fsm(args, net, lang, states, rng, run, plt, save, files)
        summary += lines
    if args.fixed_points:
        print_fixed_points(args, net, lang, states, rng, pairs, run, plt, save, files)
    if args.test_length:
        summary += print_generalisation(args, net, lang, run, plt, save, files)
    if args.counter or counts:
        limit = perfect_up_to(net, lang)
        if args.counter or limit > lang.max_n:
            summary += print_counter(args, net, lang, limit, run, plt, save, files)
    return files, summary


def print_fsm(args, net, lang, states, rng, run, plt, save, files):
    check = dyn.collect_states(net, lang, lang.batch(FSM_STRINGS, rng))
    fresh = dyn.collect_states(net, lang, lang.batch(FIDELITY_STRINGS, rng))
    machine, clusters = dyn.extract_fsm(states, args.clusters, check, rng)
    comparison = dyn.compare(machine, fresh)
    fidelity = dyn.fidelity(machine, fresh)
    chosen = 'given' if args.clusters else 'the fewest reaching the goal on other strings'
    print(f'\nextracted machine: {clusters} clusters ({chosen}) of the states of {FSM_STRINGS} strings, '
          f'merged into {machine.num_states} states (the network predicts a symbol when it gives it '
          f'{100 * dyn.LIKELY:g}% or more; steps and purity on {FIDELITY_STRINGS} fresh strings, '
          f'transition counts on the {FSM_STRINGS} it was built from):')
    print(dyn.transition_table(machine, lang.symbols, comparison))
    if comparison.paired is None:
        verdict = 'not the same machine as the language\'s'
    elif comparison.relabelled:
        spell = lambda mask: dyn.spell_mask(mask, lang.symbols)
        verdict = ('the same states and transitions as the language\'s machine, but the network predicts '
                   + ', '.join(f'{spell(net_says)} in state {q} (language state {comparison.paired[q]}: '
                               f'{spell(allowed)})' for q, net_says, allowed in sorted(comparison.relabelled)))
    else:
        verdict = 'equivalent to the language\'s machine (same states, transitions and predictions)'
    print(f'{verdict}; the language has {comparison.total} states')
    files.append(save(draw.fsm_figure(plt, machine, comparison, lang, run), 'fsm'))
    lowest = comparison.purity[comparison.steps > 0].min() if (comparison.steps > 0).any() else 0
    # a network that counts beyond --length needs more than the language's machine for n <= --length
    finite = fidelity >= dyn.FIDELITY_GOAL and machine.num_states <= comparison.total
    counts = args.analyse and hasattr(lang, 'multiples') and not finite
    return [f'states: {machine.num_states}', f'fidelity: {100 * fidelity:.2f}%',
            f'purity: {100 * comparison.overall_purity:.2f}% (lowest state {100 * lowest:.1f}%)',
            f'covered: {comparison.covered} of {comparison.total}'], counts


def print_fixed_points(args, net, lang, states, rng, pairs, run, plt, save, files):
    points = dyn.fixed_points(net, lang.num_symbols, dyn.fixed_point_starts(states, rng))
    what = 'hidden units' if args.model == 'srn' else 'hidden units, then context units'
    print(f'\nfixed points of each symbol\'s map (state: {what}):')
    for s, symbol in enumerate(lang.symbols):
        found = [fp for fp in points if fp.symbol == s]
        for fp in found:
            print('  ' + dyn.describe_fixed_point(fp, lang.symbols))
        if not found:
            print(f'  {symbol}: none found')
    units = pairs.get('hidden' if args.model == 'srn' else 'context')      # the LSTM's memory is its cells
    if units:
        files.append(save(draw.fixed_point_figure(plt, net, points, states, lang, args.hid, run, units),
                          'fixed_points'))


def print_generalisation(args, net, lang, run, plt, save, files):
    rows = dyn.generalisation(net, lang, args.test_length)
    reber = args.lang == 'reber'
    if reber:
        print(f'\ngeneralisation (trained on strings of at least {args.length} symbols; a step is right '
              'when the network predicts exactly the symbols the grammar allows):')
    else:
        print(f'\ngeneralisation (trained on n <= {args.length}; blocks of one n; determined steps right):')
    print(f'{"length at least" if reber else "n":>15} {"steps right":>12} {"error":>9}')
    for row in rows:
        print(f'{row.n:>15} {100 * row.right:11.2f}% {row.error:9.5f}')
    trained = lang.min_length if reber else args.length
    files.append(save(draw.generalise_figure(plt, rows, trained, run, reber), 'generalise'))
    return [f'perfect up to n = {dyn.perfect_up_to(rows)}']


def print_counter(args, net, lang, limit, run, plt, save, files):
    """The counter machine read off the strings of one n up to the network's limit (at most
    COUNTER_FIT_N), and its fidelity per n on those up to the limit."""
    fitted = min(max(limit, lang.max_n), COUNTER_FIT_N)
    states = dyn.collect_states(net, lang, same_n_strings(lang, np.arange(1, fitted + 1)))
    machine = dyn.extract_counter_machine(states, lang)
    names = [f'hidden unit {u}' for u in range(args.hid)] + [
        f'context unit {u}' for u in range(states.points.shape[1] - args.hid)]
    print(f'\ncounter machine, read off the strings of one n, n = 1..{fitted} (each unit fitted on the counts '
          f'with an offset per phase; a unit with R2 >= {dyn.COUNTER_R2:g} carries a count):')
    print(dyn.counter_table(machine, lang.symbols, names))
    largest = max(limit, 1)
    ns, agree, steps = dyn.counter_fidelity(net, lang, machine, largest)
    share = agree / np.maximum(steps, 1)
    print(f'counter fidelity per n (determined steps where the machine predicts the network\'s most likely '
          f'symbol), n = 1..{largest}, the network being perfect up to n = {limit}:')
    below = np.flatnonzero(share < 1)
    print('  100% for every n' if not below.size else
          '  ' + ', '.join(f'n = {ns[i]}: {100 * share[i]:.2f}%' for i in below[:12])
          + (f' ... ({below.size} n below 100%)' if below.size > 12 else ''))
    if machine.units.size:
        files.append(save(draw.counter_figure(plt, machine, states, lang, run, names), 'counter'))
    return [f'counter fidelity: {100 * agree.sum() / max(steps.sum(), 1):.2f}% (n = 1..{largest})']


def main(argv=None):
    args = parse_args(argv)
    path, saved = find_checkpoint(args)
    lang = build_language(args)
    check_analysis_flags(args)
    if saved['symbols'] != lang.num_symbols:
        raise UserError(f'{path} reads {saved["symbols"]} symbols, but {args.lang} has {lang.num_symbols} '
                        f'({" ".join(lang.symbols)}): give the --lang it was trained on')
    net = make_model(args.model, lang.num_symbols, args.hid)
    load_weights(net, saved, path)
    net.eval()
    plot_dir = writable_dir(args.plot_dir, '--plot_dir')
    print_settings(path, saved, args, lang)
    print_weights(net, args.model)

    rng = np.random.default_rng(args.seed)
    batch = lang.batch(args.num_plot, rng)
    for i in range(args.num_plot):
        print(f'\n--- string {i + 1} of {args.num_plot}')
        error, final = show_string(net, lang, batch.pick(i))
        print(f'error: {error:.5f}' + ('' if np.isnan(final) else f'  final: {final:.5f}'))

    hidden, context, _ = predict(net, lang, batch)
    inside = batch.real_steps
    state, symbol = batch.state[inside], batch.seq[:, :-1][inside]
    rows = [('hidden', hidden)] + ([('context', context)] if context is not None else [])
    kinds = [(kind, values[inside]) for kind, values in rows]
    start = {'hidden': dyn.initial_state(net)[:args.hid], 'context': np.zeros(args.hid)}
    name = picture_name(path, saved)
    run = describe_run(args, saved, lang, path)
    plt = pyplot(args.show)
    save = lambda fig, tag: save_plot(plt, fig, os.path.join(plot_dir, f'{name}_{tag}.png'), args.show)
    offset = {'hidden': 0, 'context': args.hid}              # where each kind starts in the joint state
    best = {kind: ranked_units(values, 2)[0] for kind, values in kinds if args.hid >= 2}
    pairs = {kind: tuple(u + offset[kind] for u in units) for kind, units in best.items()}
    analysed, summary = run_analyses(args, net, lang, batch, pairs, run, plt, save)
    T = batch.length[0]
    timed = save(draw.time_figure(plt, lang.spell(batch.seq[0, :T]), [(kind, values[0, :T]) for kind, values in rows],
                                  run), 'time')
    drawn = set(best.items()) if args.trajectory else set()
    chosen = scatter_choice(kinds, MAX_PICTURES - 1 - len(analysed), args.all_pairs, drawn) if best else []
    values = dict(kinds)
    files = [save(draw.scatter_figure(plt, values[kind], units, kind, state, symbol, lang, start[kind],
                                      args.num_plot, run),
                  ('' if kind == 'hidden' else 'c') + units_tag(units, args.hid)) for kind, units in chosen]
    files += [timed] + analysed
    print(f'\nwrote {len(files)} pictures:\n' + '\n'.join(files))
    pairs_in_all = len(kinds) * args.hid * (args.hid - 1) // 2
    shown = len({*chosen, *drawn})
    if shown < pairs_in_all:
        print(f'(of the {pairs_in_all} pairs of units, the {shown} whose steps spread widest: --all_pairs draws '
              'every pair and every three)')
    if summary:
        print('\n' + '\n'.join(summary))
    if args.show:
        plt.show()


def picture_name(path, saved):
    """The pictures' prefix: the checkpoint's file name, which carries its epoch (and run), e.g.
    anb2n_srn2_100_run3; a file named otherwise gets _{epoch} added when it records one."""
    stem = os.path.splitext(os.path.basename(path))[0]
    tag = epoch_tag(saved['epoch']) if 'epoch' in saved else None
    return stem if tag is None or re.search(f'_{re.escape(tag)}(_|$)', stem) else f'{stem}_{tag}'


if __name__ == '__main__':
    run_main(main)
