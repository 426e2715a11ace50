"""Look inside a network trained by seq_train.py: its weights, its outputs, and its hidden unit dynamics.

    python3 seq_plot.py --lang anb2n --epoch 100
    python3 seq_plot.py --lang anb2nc3n --model lstm --hid 3
    python3 seq_plot.py --lang anb2n --epoch 100 --run 3    # run 3 of seq_train.py --runs N
    python3 seq_plot.py --checkpoint some/file.pth          # any checkpoint, also the course kit's

Prints the checkpoint's settings, the weights and, for each of --num_plot fresh strings, the
activations and output probabilities at every step. Then saves, in --plot_dir, pictures named
after the checkpoint file, e.g. anb2n_srn2_100 (then _run{r} for a run of several), so pictures
of different epochs and runs never overwrite each other:
  _{j}{k}.jpg     hidden unit j against hidden unit k at every step, coloured by state, with the
                  initial state (the SRN's tanh(H0), the LSTM's 0) marked
  _{i}{j}{k}.jpg  the same in 3-D, for every three hidden units (3 or more hidden units)
  _c{j}{k}.jpg, _c{i}{j}{k}.jpg   the same for the LSTM's context (cell) units
  _time.jpg       every unit over time along the first string, with its symbols on the x-axis
Units are numbered from 0 (with more than 10 units the numbers are joined by '-'). The last lines
list every file written.

Checkpoints are read as weights only: a file holding anything else is refused, never run.
"""
import argparse
import itertools
import os
import re

import numpy as np

from common import SEED, UserError, number, pyplot, run_main, save_figure, writable_dir
from seq_models import (META, MAX_LENGTH, epoch_tag, found_hint, load_checkpoint, load_weights,
                        make_model)
from seq_train import (LANGUAGES, add_language_flags, build_language, predict, resolve_defaults,
                       run_checkpoint, show_string)

SETTINGS = ['lang', 'model', 'hid', 'embed']     # what names a network: checked against the checkpoint
MAX_PLOT = 100
GATES = ['i input gate', 'f forget gate', 'g cell candidate', 'o output gate']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_language_flags(parser)
    parser.add_argument('--checkpoint', default=None,
                        help='plot this checkpoint file, of any name, instead of the one the flags above '
                             'name; also a bare state_dict saved by the course\'s seq_train.py. Its '
                             'settings are used (a bare state_dict\'s from the flags and the weights\' '
                             'shapes); flags given must agree with them (default: none)')
    parser.add_argument('--num_plot', type=number(int, 1, MAX_PLOT), default=10,
                        help='fresh strings to print and plot (default: %(default)s)')
    parser.add_argument('--plot_dir', default='plot', help='folder for the pictures (default: %(default)s)')
    parser.add_argument('--seed', type=SEED, default=0,
                        help='random seed of the plotted strings (default: %(default)s)')
    parser.add_argument('--run', type=number(int, 0), default=None,
                        help='which run of a seq_train.py --runs N training to look at, 0..N-1 '
                             '(default: none, a single run)')
    parser.add_argument('--show', action='store_true', help='also show the plots in windows (default: off)')
    # flags left unset stay None, so that settings typed can be told from defaults
    args = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys([*SETTINGS, 'out_path'])))
    args.given = {key for key in [*SETTINGS, 'length', 'epoch', 'out_path'] if getattr(args, key) is not None}
    for key in SETTINGS + ['out_path']:
        if getattr(args, key) is None:
            setattr(args, key, parser.get_default(key))
    if args.checkpoint == '':
        raise UserError('--checkpoint needs a file name')
    if args.checkpoint is not None:
        extra = [f'--{key}' for key in ['epoch', 'out_path'] if key in args.given]
        if args.run is not None:
            extra.append('--run')
        if extra:
            raise UserError(f'--checkpoint names the file itself: leave out {" and ".join(extra)}')
    return args


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
        for key in SETTINGS:
            setattr(args, key, saved.get(key, getattr(args, key)))
        if args.lang not in LANGUAGES:
            raise UserError(f'{path} was trained on language {args.lang!r}, which this kit does not have '
                            f'({", ".join(LANGUAGES)})')
        resolve_defaults(args)
    if 'length' not in args.given:
        args.length = saved.get('length', args.length)
    if args.length > MAX_LENGTH:
        raise UserError(f'--length {args.length} makes strings too long to print: at most {MAX_LENGTH}')
    return path, saved


def print_settings(path, saved, args, lang):
    print(f'{path}: {args.model.upper()} with {args.hid} hidden units on {lang!r}')
    if 'lang' not in saved:
        print('(a bare state_dict, as the course\'s seq_train.py saves: language and length from the '
              'flags, model and hidden units from the weights)')
        return
    extras = {key: value for key, value in saved.items()
              if key not in META and key not in ('state_dict', 'symbols') and value is not None}
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


def scatter_plots(plt, values, state, start, name, kind, plot_dir, show):
    """Scatter every pair (and, with 3 or more units, every three) of units, coloured by state."""
    num_units = values.shape[1]
    cmap = plt.get_cmap('jet', state.max() - state.min() + 1)
    prefix = '' if kind == 'hidden' else 'c'
    saved = []
    for dims in (2, 3):
        if num_units < dims:
            continue
        for units in itertools.combinations(range(num_units), dims):
            fig = plt.figure(figsize=(6.4, 5))
            ax = fig.add_subplot(projection='3d' if dims == 3 else None)
            points = ax.scatter(*(values[:, u] for u in units), c=state, cmap=cmap, s=12,
                                vmin=state.min() - 0.5, vmax=state.max() + 0.5)
            ax.scatter(*(start[u] for u in units), marker='*', s=250, c='black',
                       label='initial state')
            labels = [f'{kind} unit {u}' for u in units]
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            if dims == 3:
                ax.set_zlabel(labels[2])
            ax.set_title(f'{name}: {kind} units {", ".join(map(str, units))}')
            ax.legend(loc='best')
            fig.colorbar(points, ax=ax, label='state', pad=0.12 if dims == 3 else 0.05)
            saved.append(save_plot(plt, fig, os.path.join(
                plot_dir, f'{name}_{prefix}{units_tag(units, num_units)}.jpg'), show))
    return saved


def time_plot(plt, lang, batch, hidden, context, name, plot_dir, show):
    """Each unit's activation along the first string, the symbol read at each step on the x-axis."""
    T = batch.length[0]
    rows = [('hidden', hidden)] + ([('context', context)] if context is not None else [])
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6.4, 0.18 * T), 2.8 * len(rows)),
                             squeeze=False, sharex=True)
    for ax, (kind, values) in zip(axes[:, 0], rows):
        for u in range(values.shape[2]):
            ax.plot(range(T), values[0, :T, u], marker='.', label=f'{kind} {u}')
        ax.set_ylabel(kind)
        ax.grid(alpha=0.3)
        ax.legend(loc='upper left', bbox_to_anchor=(1.01, 1), fontsize='small')  # beside the data
    axes[-1, 0].set_xticks(range(T))
    axes[-1, 0].set_xticklabels(list(lang.spell(batch.seq[0, :T])))
    axes[-1, 0].set_xlabel('symbol read')
    axes[0, 0].set_title(f'{name}: activations along one string')
    return save_plot(plt, fig, os.path.join(plot_dir, f'{name}_time.jpg'), show)


def save_plot(plt, fig, path, show):
    try:
        save_figure(fig, path)
    except OSError as err:
        raise UserError(f'cannot write {path}: {err.strerror or err}') from None
    if not show:
        plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv)
    path, saved = find_checkpoint(args)
    lang = build_language(args)
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
    inside = np.arange(batch.state.shape[1]) < batch.length[:, None]
    state = batch.state[inside]
    if args.model == 'srn':
        start = net.initial_state().detach().double().numpy()
    else:
        start = np.zeros(args.hid)
    name = picture_name(path, saved)
    plt = pyplot(args.show)
    files = scatter_plots(plt, hidden[inside], state, start, name, 'hidden', plot_dir, args.show)
    if context is not None:
        files += scatter_plots(plt, context[inside], state, np.zeros(args.hid), name, 'context',
                               plot_dir, args.show)
    files.append(time_plot(plt, lang, batch, hidden, context, name, plot_dir, args.show))
    print(f'\nwrote {len(files)} pictures:\n' + '\n'.join(files))
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
