"""Look inside a network trained by seq_train.py: its weights, its outputs, and its hidden unit dynamics.

    python3 seq_plot.py --lang anb2n --epoch 100
    python3 seq_plot.py --lang anb2nc3n --model lstm --hid 3
    python3 seq_plot.py --lang anb2n --epoch 100 --run 3    # run 3 of seq_train.py --runs N

Prints the weights and, for each of --num_plot fresh strings, the activations and output
probabilities at every step. Then saves, in --plot_dir, with prefix {lang}_{model}{hid}
(then _run{r} with --run r):
  _{j}{k}.jpg     hidden unit j against hidden unit k at every step, coloured by state, with the
                  initial state (the SRN's tanh(H0), the LSTM's 0) marked
  _{i}{j}{k}.jpg  the same in 3-D, for every three hidden units (3 or more hidden units)
  _c{j}{k}.jpg, _c{i}{j}{k}.jpg   the same for the LSTM's context (cell) units
  _time.jpg       every unit over time along the first string, with its symbols on the x-axis
Units are numbered from 0 (with more than 10 units the numbers are joined by '-').
"""
import argparse
import itertools
import os

import numpy as np

from common import UserError, pyplot, run_main, save_figure
from seq_models import load_checkpoint, load_weights, make_model, run_name
from seq_train import (add_language_flags, build_language, predict, resolve_defaults, run_checkpoint,
                       show_string)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_language_flags(parser)
    parser.add_argument('--num_plot', type=int, default=10, help='number of strings to plot')
    parser.add_argument('--plot_dir', default='plot', help='folder for the plots')
    parser.add_argument('--seed', type=int, default=0, help='random seed of the plotted strings')
    parser.add_argument('--run', type=int, default=None,
                        help='which run of a seq_train.py --runs N training to look at (0..N-1)')
    parser.add_argument('--show', action='store_true', help='also show the plots in windows')
    args = parser.parse_args(argv)
    args.length_given = args.length is not None
    resolve_defaults(args)
    if args.num_plot < 1:
        raise UserError(f'--num_plot must be at least 1, not {args.num_plot}')
    return args


def print_weights(net, model):
    print('weights:')
    if model == 'lstm':
        print('(columns of W, U and hid_bias: input gate, forget gate, cell candidate, output gate)')
    with np.printoptions(precision=3, suppress=True):
        for name, param in net.named_parameters():
            print(f'{name} {tuple(param.shape)}:\n{param.detach().numpy()}')
    if model == 'srn':
        with np.printoptions(precision=3, suppress=True):
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
        ax.legend(loc='upper right', fontsize='small')
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
    path = run_checkpoint(args, args.epoch, args.run)
    saved = load_checkpoint(path, dict(lang=args.lang, model=args.model, hid=args.hid, embed=args.embed))
    if not args.length_given:
        args.length = saved.get('length', args.length)
    lang = build_language(args)
    net = make_model(args.model, lang.num_symbols, args.hid)
    load_weights(net, saved, path)
    net.eval()
    print(f'{path}: {args.model.upper()} with {args.hid} hidden units on {lang!r}')
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
    name = run_name(args.lang, args.model, args.hid, args.embed)
    if args.run is not None:
        name += f'_run{args.run}'
    plt = pyplot(args.show)
    files = scatter_plots(plt, hidden[inside], state, start, name, 'hidden', args.plot_dir, args.show)
    if context is not None:
        files += scatter_plots(plt, context[inside], state, np.zeros(args.hid), name, 'context',
                               args.plot_dir, args.show)
    files.append(time_plot(plt, lang, batch, hidden, context, name, args.plot_dir, args.show))
    print(f'\nsaved {len(files)} plots in {args.plot_dir}: ' + ', '.join(os.path.basename(f) for f in files))
    if args.show:
        plt.show()


if __name__ == '__main__':
    run_main(main)
