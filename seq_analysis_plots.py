"""The pictures of seq_plot.py's analyses; the computations are in seq_dynamics.py. Each
*_figure function draws a new figure with the pyplot it is given and returns it; seq_plot.py
saves it.

  draw_states       the state-coloured scatter, marker shape = symbol read, legend of the numbers
  trajectory_figure the path of a few strings through the state space, arrows coloured by symbol
  fsm_figure        the extracted machine as a state diagram
  fixed_point_figure each symbol's fixed points and flow F_s(h) - h in the plane of two units
  generalise_figure the share of steps right against n, the training range shaded
"""
import numpy as np
import torch

import seq_dynamics as dyn

MARKERS = 'o^sDvPX'


def phase_labels(lang):
    """One legend line per symbol: what the state numbers of its steps mean."""
    if hasattr(lang, 'state_phases'):
        return lang.state_phases()
    return [f'{s} read' for s in lang.symbols]


def draw_states(ax, coords, state, symbol, lang, cmap, vmin, vmax, size=12):
    """Scatter the steps at coords (2 or 3 arrays), coloured by state number, marker by the symbol
    read, with grey legend entries saying what the numbers of each symbol's steps mean.
    Returns the first scatter (for a colour bar)."""
    first = None
    for s, label in zip(range(lang.num_symbols), phase_labels(lang)):
        steps = symbol == s
        if not steps.any():
            continue
        points = ax.scatter(*(c[steps] for c in coords), c=state[steps], cmap=cmap, vmin=vmin, vmax=vmax,
                            s=size, marker=MARKERS[s % len(MARKERS)])
        ax.scatter(*([] for _ in coords), c='grey', marker=MARKERS[s % len(MARKERS)], label=label)
        first = first or points
    return first


def legend_beside(ax, dims):
    """The legend right of the colour bar (2-D) or under the axes (3-D, whose colour bar sits
    further out)."""
    if dims == 3:
        ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize='small')
    else:
        ax.legend(loc='upper left', bbox_to_anchor=(1.22, 1), fontsize='small')


def unit_name(u, hid):
    """Unit u of the joint state (hidden units, then the LSTM's context units) as text."""
    return f'hidden {u}' if u < hid else f'context {u - hid}'


def state_colours(plt, state):
    vmin, vmax = state.min() - 0.5, state.max() + 0.5
    return plt.get_cmap('jet', int(vmax - vmin)), vmin, vmax


def symbol_colour(plt, s):
    return plt.get_cmap('tab10')(s % 10)


def trajectory_figure(plt, states, lang, units, strings, hid, name):
    """The visited states (coloured by state, as draw_states) with the path of the first
    `strings` strings drawn on top: an arrow from each state to the next, coloured by the symbol
    read, the start starred. units: 2 or 3 indices of the joint state."""
    dims = len(units)
    fig = plt.figure(figsize=(7.5, 6))
    ax = fig.add_subplot(projection='3d' if dims == 3 else None)
    cmap, vmin, vmax = state_colours(plt, states.true)
    coords = [states.points[:, u] for u in units]
    points = draw_states(ax, coords, states.true, states.symbol, lang, cmap, vmin, vmax, size=8)
    string_of = np.cumsum(states.first) - 1
    for i in range(strings):
        steps = np.flatnonzero(string_of == i)
        path = np.vstack([states.start[list(units)], states.points[steps][:, list(units)]])
        for t, s in enumerate(states.symbol[steps]):
            a, b = path[t], path[t + 1]
            colour = symbol_colour(plt, s)
            if dims == 2:
                ax.annotate('', xy=b, xytext=a, arrowprops=dict(arrowstyle='->', color=colour, lw=1.2,
                                                                 shrinkA=0, shrinkB=2))
            else:
                ax.quiver(*a, *(b - a), color=colour, arrow_length_ratio=0.15, linewidth=1.2)
    ax.scatter(*states.start[list(units)], marker='*', s=250, c='black', label='start')
    for s in np.unique(states.symbol[string_of < strings]):
        ax.plot(*([] for _ in units), color=symbol_colour(plt, s), label=f'arrow: reads {lang.symbols[s]}')
    labels = [unit_name(u, hid) for u in units]
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if dims == 3:
        ax.set_zlabel(labels[2])
    ax.set_title(f'{name}: path of {strings} string{"s" * (strings > 1)}')
    legend_beside(ax, dims)
    fig.colorbar(points, ax=ax, label='state', pad=0.12 if dims == 3 else 0.03)
    return fig


def layout(machine, comparison):
    """Node positions on a circle: in the order of the language states they match (a counting
    machine then runs round the circle), else in the order they are first reached."""
    if comparison is not None:
        order = sorted(range(machine.num_states), key=lambda q: (comparison.match[q], q))
    else:
        order, todo = [], [machine.start]
        while todo:
            q = todo.pop(0)
            for target in machine.next_state[q]:
                if target >= 0 and target != machine.start and target not in order:
                    order.append(target)
                    todo.append(target)
        order += [q for q in range(machine.num_states) if q not in order]
    angle = np.pi / 2 - 2 * np.pi * np.arange(len(order) + 1) / (len(order) + 1)
    places = np.column_stack([np.cos(angle), np.sin(angle)])
    position = {q: places[i + 1] for i, q in enumerate(order)}
    position[machine.start] = places[0]
    return position


def fsm_figure(plt, machine, comparison, symbols, name):
    """The machine as a state diagram: a node per state (its number, the symbols it predicts, and
    the language state it matches), an arrow per transition labelled with the symbol read."""
    from matplotlib.patches import FancyArrowPatch
    position = layout(machine, comparison)
    size = max(6.5, 0.32 * machine.num_states + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    radius = min(0.09, 1.6 / (machine.num_states + 1))
    font = 'small' if machine.num_states <= 20 else 'x-small'
    for q, (x, y) in position.items():
        if q == machine.start:
            text = 'start'
        else:
            text = f'{q}\n{dyn.spell_mask(machine.label[q], symbols)}'
            if comparison is not None and comparison.steps[q] > 0:
                text += f'\n={comparison.match[q]}'
        ax.add_patch(plt.Circle((x, y), radius, fc='white' if q != machine.start else '#ddd', ec='black'))
        ax.text(x, y, text, ha='center', va='center', fontsize=font, linespacing=0.9)
    for q in range(machine.num_states + 1):
        for s, target in enumerate(machine.next_state[q]):
            if target < 0:
                continue
            a, b = position[q], position[target]
            colour = plt.get_cmap('tab10')(s % 10)
            if q == target:                  # a loop: a small circle outside the node
                out = a / np.linalg.norm(a)
                loop = plt.Circle(a + out * radius * 1.6, radius * 0.7, fill=False, ec=colour)
                ax.add_patch(loop)
                ax.text(*(a + out * radius * 2.7), symbols[s], color=colour, ha='center', va='center',
                        fontsize=font)
                continue
            ax.add_patch(FancyArrowPatch(a, b, arrowstyle='-|>', mutation_scale=10, color=colour,
                                         connectionstyle='arc3,rad=0.15', shrinkA=radius * 72 * size / 2.6,
                                         shrinkB=radius * 72 * size / 2.6))
            middle = (a + b) / 2 + 0.08 * np.array([b[1] - a[1], a[0] - b[0]])
            ax.text(*middle, symbols[s], color=colour, ha='center', va='center', fontsize=font,
                    bbox=dict(fc='white', ec='none', pad=0.1))
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_aspect('equal')
    ax.axis('off')
    note = ('node: state, symbols it predicts, = language state' if comparison is not None
            else 'node: state, symbols it predicts')
    ax.set_title(f'{name}: extracted machine, {machine.num_states} states\n({note}; arrow: symbol read)',
                 fontsize='medium')
    return fig


def fixed_point_figure(plt, net, points, states, lang, hid, name, units=(0, 1)):
    """One panel per symbol in the plane of two units: the visited states in grey, the symbol's
    fixed points (filled: attracting, open: repelling, x: saddle) with their eigenvalues, and the
    direction of the flow F_s(h) - h as arrows: on a grid when the state has exactly these two
    units, else at a sample of the visited states (the other units as they were there)."""
    num = lang.num_symbols
    columns = min(num, 4)
    rows = -(-num // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.4 * rows), squeeze=False)
    units = list(units)
    dims = states.points.shape[1]
    shown = np.vstack([states.points[:, units]] + [p.point[units] for p in points])
    low, high = shown.min(axis=0), shown.max(axis=0)
    pad = 0.1 * np.maximum(high - low, 0.2)
    low, high = low - pad, high + pad
    if dims == 2:
        starts = np.stack(np.meshgrid(np.linspace(low[0], high[0], 17), np.linspace(low[1], high[1], 17)),
                          axis=-1).reshape(-1, 2)
    else:
        sample = np.unique(np.round(states.points, 2), axis=0)
        starts = sample[np.random.default_rng(0).permutation(len(sample))[:150]]
    for s, ax in enumerate(axes.ravel()):
        if s >= num:
            ax.axis('off')
            continue
        ax.scatter(states.points[:, units[0]], states.points[:, units[1]], s=4, c='#bbb')
        with torch.no_grad():
            flow = (dyn.symbol_map(net, s)(torch.as_tensor(starts)).numpy() - starts)[:, units]
        length = np.linalg.norm(flow, axis=1, keepdims=True)
        step = 0.5 * (high - low) / 17 * flow / np.maximum(length, 1e-12)    # direction only
        ax.quiver(starts[:, units[0]], starts[:, units[1]], step[:, 0], step[:, 1], color=symbol_colour(plt, s),
                  angles='xy', scale_units='xy', scale=1, width=0.004, alpha=0.8)
        for i, fp in enumerate(p for p in points if p.symbol == s):
            kind = fp.kind.split(',')[0]
            style = dict(attracting=dict(marker='o', fc='black'), repelling=dict(marker='o', fc='white'),
                         saddle=dict(marker='X', fc='black'))[kind]
            ax.scatter(*fp.point[units], s=90, ec='black', zorder=3, **style)
            if dims <= 3:                 # more eigenvalues than fit: the printout has them
                ax.annotate(f'{kind}\n({dyn.format_eigenvalues(fp.eigenvalues, 2)})', fp.point[units],
                            textcoords='offset points', xytext=(6, 6 - 22 * i), fontsize='x-small')
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_xlabel(unit_name(units[0], hid))
        ax.set_ylabel(unit_name(units[1], hid))
        ax.set_title(f'reading {lang.symbols[s]}')
    where = 'on a grid' if dims == 2 else 'at visited states'
    fig.suptitle(f"{name}: fixed points of each symbol's map (arrows: direction of F(h) - h {where};\n"
                 'visited states grey; filled: attracting, open: repelling, x: saddle; eigenvalues in the printout)',
                 fontsize='medium')
    fig.tight_layout()
    return fig


def generalise_figure(plt, rows, trained_up_to, name, what):
    """Share of the checked steps right against n (or string length), the training range shaded."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ns = [row.n for row in rows]
    ax.axvspan(min(ns) - 0.5, trained_up_to + 0.5, color='#cde', label='training range')
    ax.plot(ns, [100 * row.right for row in rows], marker='o')
    ax.set_xlabel(what)
    ax.set_ylabel('steps right (%)')
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower left')
    ax.set_title(f'{name}: generalisation')
    return fig
