"""The pictures of seq_plot.py; the computations are in seq_dynamics.py. Each *_figure function
draws a new figure with the pyplot it is given and returns it; seq_plot.py saves it. Every figure
fits half an A4 page (WIDTH x HEIGHT inches) with no text under SMALL points, and its title ends
with `run`, the line that says which network it shows.

  state_groups       the language's states as phases (rows of a diagram, hues of a scatter), in count order
  scatter_figure     two or three units at every step, colour = state, marker = symbol read
  time_figure        every unit along one string
  trajectory_figure  the path of a few strings through the state space, arrows coloured by symbol
  fsm_figure         the extracted machine as a state diagram, one row per phase
  fixed_point_figure each symbol's fixed points and flow F_s(h) - h in the plane of two units
  generalise_figure  the share of steps right against n, the training range marked
  counter_figure     each unit that carries a count against the language's count, with its fit
"""
import textwrap
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap, to_rgb
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch

import seq_dynamics as dyn

WIDTH, HEIGHT = 8.1, 5.6     # inches: within half an A4 page, 8.3 x 5.8
SMALL = 8                    # points: the smallest text
TITLE = 10
MARKERS = 'o^sDvPX'
# Okabe & Ito's colour-blind-safe qualitative palette, one colour per symbol (yellow last: faint on white)
PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000', '#F0E442']
GREY = '#777777'
MAX_DRAWN = 24               # more states than this are drawn as structure, without labels
# where the first, second, ... node of one language state goes, in (rows, columns) from its place:
# the others below and half a column aside, clear of the first's count and of each other's loops
SHARED_PLACES = [(0, 0), (0.45, 0.5), (0.45, -0.5), (0.9, 0)]
RARE = 0.05                  # a merged diagram leaves out arrows taken in fewer of a node's steps on a symbol


@dataclass
class Group:
    """One phase of a language's states: `states` in count order, `ticks` naming each, one colour each."""
    words: str
    states: list
    ticks: list
    colours: list


def shades(colour, count):
    """`count` shades of `colour`, light to dark, so that the order of a count reads as lightness."""
    base = np.array(to_rgb(colour))
    mix = np.linspace(-0.6, 0.45, count) if count > 1 else [0.0]      # < 0 towards white, > 0 towards black
    return [tuple(base + (1 - base) * -t) if t < 0 else tuple(base * (1 - t)) for t in mix]


def state_groups(lang):
    """The language's phases (its phases()) with a colour per state: shades of one hue per phase,
    light to dark in count order (the rows of a state diagram and the hues of a scatter)."""
    phases = lang.phases()
    if hasattr(lang, 'multiples'):         # A's, (B's,) the last letter's: the letters' own hues
        hues = [PALETTE[0]] + [PALETTE[1]] * (len(phases) == 3) + [PALETTE[lang.num_symbols - 1]]
        return [Group(words, states, ticks, shades(hue, len(states)))
                for (words, states, ticks), hue in zip(phases, hues)]
    if not lang.embed:
        (words, states, ticks), = phases
        return [Group(words, states, ticks, PALETTE[:6])]
    colours = [shades(PALETTE[1], 8), ['#bbbbbb', '#444444'], shades(PALETTE[4], 8)]
    return [Group(words, states, ticks, c) for (words, states, ticks), c in zip(phases, colours)]


def colour_of_states(groups):
    return {q: c for g in groups for q, c in zip(g.states, g.colours)}


def thin(ticks, most=8):
    """The tick labels with those too close to the one before left out: at most `most` are written."""
    kept, last = [], -len(ticks)
    for i, tick in enumerate(ticks):
        far = tick and i - last >= len(ticks) / most
        kept.append(tick if far else '')
        last = i if far else last
    return kept


def titled(fig, what, run):
    """The title: what the figure shows, then which network, each wrapped to the figure's width."""
    width = int(fig.get_figwidth() * 12.5)           # characters of TITLE points across
    fig.suptitle('\n'.join(textwrap.fill(line, width) for line in f'{what}\n{run}'.split('\n')), fontsize=TITLE)


def unit_label(kind, u):
    return f'hidden unit {u} (activation, -1 to 1)' if kind == 'hidden' else f'context unit {u} (cell value)'


def joint_unit(u, hid):
    """Unit u of the joint state (hidden units, then the LSTM's context units) -> (kind, index)."""
    return ('hidden', u) if u < hid else ('context', u - hid)


def symbol_handles(lang, symbols, arrows=False):
    """One legend entry per symbol read: its marker (and, for a path, the colour of its arrows)."""
    handles = []
    for s in symbols:
        marker = Line2D([], [], ls='', marker=MARKERS[s % len(MARKERS)], color=GREY)
        handles.append(((marker, Line2D([], [], color=PALETTE[s % len(PALETTE)])) if arrows else marker,
                        f'read {lang.symbols[s]}' + (': marker, arrow' if arrows else '')))
    return handles


def state_figure(plt, dims, what, run):
    """A figure with the plot (2-D or 3-D) on the left and the key beside it -> (fig, ax, key)."""
    fig = plt.figure(figsize=(WIDTH, HEIGHT), layout='constrained')
    grid = fig.add_gridspec(1, 2, width_ratios=[2.5, 1])
    ax = fig.add_subplot(grid[0], projection='3d' if dims == 3 else None)
    key = fig.add_subplot(grid[1])
    titled(fig, what, run)
    return fig, ax, key


def draw_key(fig, key, groups, handles):
    """The key column: a colour bar per phase (what its shades count, in words), then the legend."""
    key.axis('off')
    for i, group in enumerate(groups):
        count = len(group.states)
        bar = key.inset_axes([0.02, 0.93 - 0.19 * i, 0.96, 0.045])
        mappable = ScalarMappable(BoundaryNorm(np.arange(count + 1), count), ListedColormap(group.colours))
        colorbar = fig.colorbar(mappable, cax=bar, orientation='horizontal')
        colorbar.set_ticks(np.arange(count) + 0.5, labels=thin(group.ticks))
        bar.tick_params(labelsize=SMALL, length=2)
        bar.set_title(group.words, fontsize=SMALL, loc='left', pad=3)
    key.text(0.02, 0.97 - 0.19 * len(groups), 'colour: the language\'s state\n(shade: the count above)',
             fontsize=SMALL, va='top', transform=key.transAxes)
    key.legend([h for h, _ in handles], [text for _, text in handles], loc='lower left', fontsize=SMALL,
               handler_map={tuple: HandlerTuple(ndivide=None)}, frameon=False, borderaxespad=0)


def draw_states(ax, coords, state, symbol, lang, groups, size=14):
    """Scatter the steps at coords (2 or 3 arrays), coloured by state, marker by the symbol read
    -> the legend entries of the symbols drawn."""
    colour = colour_of_states(groups)
    drawn = []
    for s in range(lang.num_symbols):
        steps = symbol == s
        if steps.any():
            ax.scatter(*(c[steps] for c in coords), c=[colour.get(q, GREY) for q in state[steps]], s=size,
                       marker=MARKERS[s % len(MARKERS)], linewidths=0)
            drawn.append(s)
    return drawn


def label_axes(ax, labels):
    for axis, text in zip('xyz', labels):
        getattr(ax, f'set_{axis}label')(text, fontsize=SMALL + 1)
    ax.tick_params(labelsize=SMALL)


def scatter_figure(plt, values, units, kind, state, symbol, lang, start, strings, run):
    """Units `units` (2 or 3) of `values` (steps, units) at every step of `strings` strings."""
    named = ' and '.join(map(str, units))
    fig, ax, key = state_figure(plt, len(units), f'{kind} units {named} after every step of {strings} strings', run)
    drawn = draw_states(ax, [values[:, u] for u in units], state, symbol, lang, state_groups(lang))
    ax.scatter(*(start[u] for u in units), marker='*', s=200, c='black')
    label_axes(ax, [unit_label(kind, u) for u in units])
    start_handle = Line2D([], [], ls='', marker='*', ms=12, color='black')
    draw_key(fig, key, state_groups(lang), symbol_handles(lang, drawn) + [(start_handle, 'before the first symbol')])
    return fig


def time_figure(plt, text, rows, run):
    """Each unit along one string (`text`, its symbols); rows: (kind, values (T, units)). Runs of
    one symbol are grey and white bands, named by count and letter under the axis."""
    T = len(text)
    fig, axes = plt.subplots(len(rows), 1, figsize=(WIDTH, 1.2 + 2.1 * len(rows)), squeeze=False, sharex=True,
                             layout='constrained')
    starts = [0] + [t for t in range(1, T) if text[t] != text[t - 1]]
    ends = starts[1:] + [T]
    per_step = 7.4 / T                                   # inches across a step
    names = [f'{e - b}{text[b]}' if (e - b) * per_step >= 0.09 * len(f'{e - b}{text[b]}') else
             text[b] if (e - b) * per_step >= 0.09 else '' for b, e in zip(starts, ends)]
    for ax, (kind, values) in zip(axes[:, 0], rows):
        for i, (b, e) in enumerate(zip(starts, ends)):
            if i % 2:
                ax.axvspan(b - 0.5, e - 0.5, color='#e8e8e8', lw=0)
        for u in range(values.shape[1]):
            ax.plot(range(T), values[:, u], marker='.', ms=4, lw=1.2, color=PALETTE[u % len(PALETTE)],
                    ls='-' if u < len(PALETTE) else '--', label=f'{kind} unit {u}')
        ax.set_ylabel('activation (-1 to 1)' if kind == 'hidden' else 'cell value', fontsize=SMALL + 1)
        ax.tick_params(labelsize=SMALL)
        ax.set_xlim(-0.5, T - 0.5)
        ax.legend(loc='lower left', bbox_to_anchor=(0, 1), ncol=min(values.shape[1], 8), fontsize=SMALL,
                  frameon=False, borderaxespad=0.2, handlelength=1.5)
    bottom = axes[-1, 0]
    bottom.set_xticks([(b + e - 1) / 2 for b, e in zip(starts, ends)], names)
    bottom.set_xlabel('the symbols read, one step each (bands: runs of one symbol, count and letter)',
                      fontsize=SMALL + 1)
    titled(fig, f'every unit along one string of {T} symbols', run)
    return fig


def trajectory_figure(plt, states, lang, units, strings, hid, run):
    """The visited states (coloured by state, as draw_states) with the path of the first
    `strings` strings drawn on top: an arrow from each state to the next, coloured by the symbol
    read, the start starred. units: 2 or 3 indices of the joint state, of one kind."""
    dims = len(units)
    kind = joint_unit(units[0], hid)[0]
    named = ' and '.join(str(joint_unit(u, hid)[1]) for u in units)
    fig, ax, key = state_figure(plt, dims, f'path of {strings} string{"s" * (strings > 1)} through '
                                           f'{kind} units {named} (dots: the states of all plotted strings)', run)
    groups = state_groups(lang)
    coords = [states.points[:, u] for u in units]
    draw_states(ax, coords, states.true, states.symbol, lang, groups, size=8)
    string_of = np.cumsum(states.first) - 1
    for i in range(strings):
        steps = np.flatnonzero(string_of == i)
        path = np.vstack([states.start[list(units)], states.points[steps][:, list(units)]])
        for t, s in enumerate(states.symbol[steps]):
            a, b = path[t], path[t + 1]
            colour = PALETTE[s % len(PALETTE)]
            if dims == 2:
                ax.annotate('', xy=b, xytext=a, arrowprops=dict(arrowstyle='->', color=colour, lw=1.2,
                                                                 shrinkA=0, shrinkB=2))
            else:
                ax.quiver(*a, *(b - a), color=colour, arrow_length_ratio=0.15, linewidth=1.2)
    ax.scatter(*states.start[list(units)], marker='*', s=200, c='black', zorder=3)
    label_axes(ax, [unit_label(*joint_unit(u, hid)) for u in units])
    read = sorted(np.unique(states.symbol[string_of < strings]).tolist())
    start_handle = Line2D([], [], ls='', marker='*', ms=12, color='black')
    draw_key(fig, key, groups, symbol_handles(lang, read, arrows=True) + [(start_handle, 'start')])
    return fig


# ---------------------------------------------------------------- state diagrams

def node_places(language_state, groups):
    """Each node's (row, column): its language state's phase and count; unplaced ones in a last row."""
    where = {q: (r, c) for r, g in enumerate(groups) for c, q in enumerate(g.states)}
    places, spare, placed = {}, 0, {}
    for key, q in language_state.items():
        row, col = where.get(q, (len(groups), None))
        if col is None:
            col, spare = spare, spare + 1
        k = placed.get((row, col), 0)           # nodes of this language state placed before
        placed[row, col] = k + 1
        down, aside = SHARED_PLACES[min(k, len(SHARED_PLACES) - 1)]
        places[key] = (row + down + 0.45 * max(0, k + 1 - len(SHARED_PLACES)), col + aside)
    return places


def bezier(a, b, rad, points=24):
    """Points along matplotlib's arc3 connection from a to b with curvature rad (equal aspect)."""
    control = (a + b) / 2 + rad * np.array([b[1] - a[1], a[0] - b[0]])
    t = np.linspace(0, 1, points)[:, None]
    return (1 - t) ** 2 * a + 2 * t * (1 - t) * control + t ** 2 * b


def label_place(path, bands, placed, clearance):
    """Where on an arrow's path its label goes: the point nearest the middle outside every band
    of heights (low, high) that a row label takes and at least `clearance` from the labels
    `placed` already (the point is added to them)."""
    middle = len(path) // 2
    clear = lambda p: (not any(low <= p[1] <= high for low, high in bands)
                       and all(np.abs(p - q).max() >= clearance for q in placed))
    spot = next((path[i] for i in sorted(range(1, len(path) - 1), key=lambda i: abs(i - middle))
                 if clear(path[i])), path[middle])
    placed.append(spot)
    return spot


def route(a, b, others, radius, bent):
    """The curvature of the arrow a -> b that keeps farthest from the nodes `others` (first the
    straightest that clears them all); `bent`: never straight (an arrow back exists)."""
    best = None
    for rad in [0, 0.15, -0.15, 0.3, -0.3, 0.45, -0.45, 0.6, -0.6, 0.8, -0.8][int(bent):]:
        path = bezier(a, b, rad)
        gap = np.min(np.linalg.norm(path[:, None] - others[None], axis=2)) if len(others) else np.inf
        if gap > 1.3 * radius:
            return rad
        best = max(best or (gap, rad), (gap, rad))
    return best[1]


def fsm_figure(plt, machine, comparison, lang, run):
    """The machine as a state diagram, one row per phase of the language in count order (the
    language state each state is most often in): a node per state (its number in the table and
    the symbols it predicts), one arrow per pair of states, labelled with the symbols read. With
    more than MAX_DRAWN states the nodes are the language states, coloured as in the scatters."""
    groups = state_groups(lang)
    match = [int(m) if steps else None for m, steps in zip(comparison.match, comparison.steps)]
    merged = machine.num_states > MAX_DRAWN
    if merged:                   # a node per language state; states not reached on fresh strings left out
        node_of = match + ['start']
        nodes = {q: q for q in sorted(set(match) - {None})}
    else:
        node_of = list(range(machine.num_states)) + ['start']
        nodes = dict(enumerate(match))
    places = node_places(nodes, groups)
    taken = {}                   # (from node, to node, symbol) -> times taken
    for q, targets in enumerate(machine.next_state):
        for s, target in enumerate(targets):
            if target >= 0 and node_of[q] is not None and node_of[target] is not None:
                key = (node_of[q], node_of[target], s)
                taken[key] = taken.get(key, 0) + machine.count[q, s]
    out = {}
    for (a, _, s), count in taken.items():
        out[a, s] = out.get((a, s), 0) + count
    edges = {}                   # (from node, to node) -> the symbols read: one arrow for all of them
    for (a, b, s), count in taken.items():
        if not merged or count >= RARE * out[a, s]:
            edges.setdefault((a, b), set()).add(s)
    first = [b for (a, b) in edges if a == 'start']
    row = places[first[0]][0] if first else 0
    places['start'] = (row, min(c for r, c in places.values() if r == row) - 1)
    labelled = len(places) <= MAX_DRAWN + 1
    columns = max(c for _, c in places.values()) - min(c for _, c in places.values()) + 1
    rows = int(max(r for r, _ in places.values())) + 1
    radius = 0.3 if labelled else 0.2
    inch = min(0.7, (WIDTH - 0.4) / (columns + 0.8))                                    # inches a column
    line = SMALL / 72 / inch      # a line of text, in columns: rows keep a row label and counts apart
    gap = 2.0 if labelled else max(1.6, 2 * radius + 0.4 + 2 * line)
    inch = min(inch, (HEIGHT - 1.6) / (rows * gap))
    position = {key: np.array([c, -r * gap]) for key, (r, c) in places.items()}
    fig, ax = plt.subplots(figsize=(min(WIDTH, inch * (columns + 0.8) + 0.3), inch * rows * gap + 1.6),
                           layout='constrained')
    colour = colour_of_states(groups)
    circles = {}
    for key, xy in position.items():
        state = nodes.get(key)
        if key == 'start':
            text, face, edge = 'start', '#dddddd', 'black'
        elif merged:
            count = sum(1 for n in node_of[:-1] if n == key)
            text, face, edge = f'×{count}' if count > 1 else '', colour.get(state, 'white'), 'black'
        else:
            text, face, edge = f'{key}\n{dyn.spell_mask(machine.label[key], lang.symbols)}', 'white', \
                colour.get(state, GREY)
        circles[key] = Circle(xy, radius, fc=face, ec=edge, lw=1.5, zorder=2, gid=f'node {key}')
        ax.add_patch(circles[key])
        if not labelled and key == 'start':
            ax.text(xy[0], xy[1] - radius - 0.08, text, ha='center', va='top', fontsize=SMALL)
        elif labelled:
            ax.text(*xy, text, ha='center', va='center', fontsize=SMALL, linespacing=0.9, zorder=3,
                    color='white' if merged and key != 'start' and sum(to_rgb(face)) < 1.2 else 'black')
    ticks = {q: t for g in groups for q, t in zip(g.states, g.ticks)}
    ends = {g.states[0] for g in groups} | {g.states[-1] for g in groups}
    for key, xy in position.items():             # the count under each node (the ends only, unlabelled)
        if key != 'start' and (labelled or nodes[key] in ends):
            ax.text(xy[0], xy[1] - radius - 0.08, ticks.get(nodes[key], ''), ha='center', va='top',
                    fontsize=SMALL, color='#555555')
    bands = []                                   # the heights of the row labels, kept clear of arrow labels
    for r in sorted({int(r) for r, _ in places.values()}):
        words = groups[r].words if r < len(groups) else 'not reached on the fresh strings'
        left = min(c for rr, c in places.values() if int(rr) == r)
        above = 3 * radius if labelled else radius + 0.1          # labelled nodes have loops over them
        ax.text(left - radius, -r * gap + above, words, fontsize=SMALL, va='bottom', ha='left', color='#333333')
        bands.append(-r * gap + above + np.array([-0.1, 0.35]))
    # the counts under the nodes are kept clear of arrows too
    obstacles = {key: xy for key, xy in position.items()} | {
        (key, 'count'): xy - [0, radius + 0.3] for key, xy in position.items() if labelled and key != 'start'}
    reach = [np.array(list(position.values()))]
    placed = []                                  # where arrow labels went, kept apart
    for (a, b), read in sorted(edges.items(), key=str):
        tint = PALETTE[min(read) % len(PALETTE)] if len(read) == 1 else '#444444'
        names = '/'.join(lang.symbols[s] for s in sorted(read))
        if a == b:                            # a loop: a small circle over the node
            loop = position[a] + [0, radius * 1.5]
            reach.append(loop[None] + [0, radius * 0.6])
            ax.add_patch(Circle(loop, radius * 0.6, fill=False, ec=tint, lw=1.2))
            if labelled:
                ax.text(*(loop + [0, radius * 0.6]), names, color=tint, ha='center', va='bottom', fontsize=SMALL)
            continue
        others = np.array([xy for key, xy in obstacles.items() if key not in (a, b)])
        rad = route(position[a], position[b], others, radius, (b, a) in edges)
        reach.append(bezier(position[a], position[b], rad))
        ax.add_patch(FancyArrowPatch(position[a], position[b], arrowstyle='-|>', mutation_scale=9 if labelled else 6,
                                     color=tint, lw=1.2 if labelled else 0.8, connectionstyle=f'arc3,rad={rad}',
                                     patchA=circles[a], patchB=circles[b], zorder=1))
        if labelled:
            ax.text(*label_place(bezier(position[a], position[b], rad, 11), bands, placed, 1.5 * line), names, color=tint,
                    ha='center', va='center', fontsize=SMALL, bbox=dict(fc='white', ec='none', pad=0.3), zorder=1.5)
    reach = np.vstack(reach)
    ax.set_xlim(reach[:, 0].min() - 0.5, reach[:, 0].max() + 0.5)
    ax.set_ylim(reach[:, 1].min() - 0.8, reach[:, 1].max() + 1.1)
    ax.set_aspect('equal')
    ax.axis('off')
    used = sorted({s for read in edges.values() for s in read})
    several = any(len(read) > 1 for read in edges.values())
    handles = [Line2D([], [], color=PALETTE[s % len(PALETTE)]) for s in used] + [Line2D([], [], color='#444444')] * several
    fig.legend(handles, [lang.symbols[s] for s in used] + ['several (labelled)'] * several, title='arrow: symbol read',
               loc='outside lower center', ncol=len(handles), fontsize=SMALL, title_fontsize=SMALL, frameon=False)
    if merged:
        what = (f'extracted machine: {machine.num_states} states, too many to draw one by one: the {len(nodes)} '
                f'language states they are in\n(colour: as in the scatters; ×k: k extracted states; arrows taken '
                f'on under {100 * RARE:g}% of a symbol\'s steps left out; the printed table has every state)')
    else:
        what = (f'extracted machine: {machine.num_states} states, in rows by the language state each is in'
                '\n(circle: state number and the symbols it predicts; under it: the count)')
    titled(fig, what, run)
    return fig


# ---------------------------------------------------------------- fixed points and generalisation

def fixed_point_figure(plt, net, points, states, lang, hid, run, units=(0, 1)):
    """One panel per symbol in the plane of two units: the visited states in grey, the symbol's
    fixed points (filled: attracting, open: repelling, x: saddle) with their eigenvalues, and the
    direction of the flow F_s(h) - h as arrows: on a grid when the state has exactly these two
    units, else at a sample of the visited states (the other units as they were there)."""
    num = lang.num_symbols
    columns = min(num, 4)
    rows = -(-num // columns)
    panel = min(WIDTH / columns, (HEIGHT - 1.4) / rows)
    fig, axes = plt.subplots(rows, columns, figsize=(WIDTH, panel * rows + 1.4), squeeze=False, layout='constrained')
    units = list(units)
    dims = states.points.shape[1]
    shown = np.vstack([states.points[:, units]] + [p.point[units] for p in points])
    low, high = shown.min(axis=0), shown.max(axis=0)
    pad = 0.1 * np.maximum(high - low, 0.2)
    low, high = low - pad, high + pad
    if dims == 2:
        starts = np.stack(np.meshgrid(np.linspace(low[0], high[0], 15), np.linspace(low[1], high[1], 15)),
                          axis=-1).reshape(-1, 2)
    else:
        sample = np.unique(np.round(states.points, 2), axis=0)
        starts = sample[np.random.default_rng(0).permutation(len(sample))[:150]]
    styles = dict(attracting=dict(marker='o', fc='black'), repelling=dict(marker='o', fc='white'),
                  saddle=dict(marker='X', fc='black'))
    for s, ax in enumerate(axes.ravel()):
        if s >= num:
            ax.axis('off')
            continue
        ax.scatter(states.points[:, units[0]], states.points[:, units[1]], s=4, c='#bbbbbb')
        with torch.no_grad():
            flow = (dyn.symbol_map(net, s)(torch.as_tensor(starts)).numpy() - starts)[:, units]
        length = np.linalg.norm(flow, axis=1, keepdims=True)
        step = 0.5 * (high - low) / 15 * flow / np.maximum(length, 1e-12)    # direction only
        ax.quiver(starts[:, units[0]], starts[:, units[1]], step[:, 0], step[:, 1], color=PALETTE[s % len(PALETTE)],
                  angles='xy', scale_units='xy', scale=1, width=0.005, alpha=0.8)
        for i, fp in enumerate(p for p in points if p.symbol == s):
            kind = fp.kind.split(',')[0]
            xy = fp.point[units]
            ax.scatter(*xy, s=70, ec='black', zorder=3, **styles[kind])
            if dims <= 3:                 # more eigenvalues than fit: the printout has them
                right = xy[0] > (low[0] + high[0]) / 2           # the label towards the middle, inside
                up = xy[1] > (low[1] + high[1]) / 2
                ax.annotate(f'{kind}\neigenvalues {dyn.format_eigenvalues(fp.eigenvalues, 2)}', xy,
                            textcoords='offset points', xytext=(-6 if right else 6, (-8 if up else 8) - 22 * i),
                            ha='right' if right else 'left', va='top' if up else 'bottom', fontsize=SMALL,
                            bbox=dict(fc='white', ec='none', alpha=0.8, pad=0.5))
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        x, y = [unit_label(*joint_unit(u, hid)) for u in units]
        label_axes(ax, [x if s + columns >= num else '', y if s % columns == 0 else ''])    # outer panels only
        ax.set_title(f'reading {lang.symbols[s]}', fontsize=SMALL + 1)
    handles = [Line2D([], [], ls='', marker=style['marker'], mfc=style['fc'], mec='black', ms=8)
               for style in styles.values()] + [Line2D([], [], ls='', marker='o', color='#bbbbbb', ms=4)]
    where = 'on a grid' if dims == 2 else 'at visited states, the other units as there'
    fig.legend(handles, [f'{kind} fixed point' for kind in styles] + ['visited states'], loc='outside lower center',
               ncol=4, fontsize=SMALL, frameon=False)
    titled(fig, f"fixed points of each symbol's step, arrows: the way one step moves the state ({where})", run)
    return fig


def generalise_figure(plt, rows, trained, run, reber):
    """Share of the checked steps right against n (or minimum string length), the training range
    marked, every value below 100% written by its point."""
    fig, ax = plt.subplots(figsize=(6.4, 4), layout='constrained')
    ns = [row.n for row in rows]
    right = [100 * row.right for row in rows]
    if reber:
        ax.axvline(trained, color=PALETTE[0], ls='--', label=f'trained on strings of {trained} or more symbols')
        ax.set_xlabel('minimum string length (symbols; 100 strings each)', fontsize=SMALL + 1)
    else:
        ax.axvspan(min(ns) - 0.5, trained + 0.5, color='#cfe3f3', lw=0, label=f'trained on n = 1 to {trained}')
        ax.set_xlabel('n (all five blocks of the test string have this n)', fontsize=SMALL + 1)
    ax.plot(ns, right, marker='o', color='black')
    for n, value in zip(ns, right):
        if value < 100:
            ax.annotate(f'{value:.2f}%', (n, value), textcoords='offset points', xytext=(0, -12 if value > 50 else 8),
                        ha='center', va='top' if value > 50 else 'bottom', fontsize=SMALL)
    ax.set_ylabel('steps predicted right (%)', fontsize=SMALL + 1)
    ax.set_ylim(-2, 104)
    ax.tick_params(labelsize=SMALL)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower left', fontsize=SMALL)
    titled(fig, 'generalisation: the share of determined steps right' if not reber else
           'generalisation: steps where the network predicts exactly what the grammar allows', run)
    return fig


def counter_figure(plt, machine, states, lang, run, unit_names):
    """One panel per counter of the machine: its unit at every step of `states` against the
    language's count it carries, coloured by phase, with the fit's line of each phase (slope a
    count, the phase's offset)."""
    counts = dyn.count_values(lang, states)
    keys, _ = dyn.phase_keys(states)
    phase = np.searchsorted(np.unique(keys), keys)
    fig, axes = plt.subplots(1, len(machine.units), figsize=(WIDTH, HEIGHT), squeeze=False, layout='constrained')
    for ax, u, k, name in zip(axes[0], machine.units, machine.which, machine.names):
        for q, (symbol, mask) in enumerate(machine.phases):
            steps = phase == q
            colour = PALETTE[q % len(PALETTE)]
            ax.scatter(counts[steps, k], states.points[steps, u], s=6, color=colour, linewidths=0,
                       label=f'read {lang.symbols[symbol]}, predicts {dyn.spell_mask(mask, lang.symbols)}')
            span = np.array([counts[steps, k].min(), counts[steps, k].max()])
            ax.plot(span, machine.slopes[u, k] * span + machine.offsets[u, q], color=colour, lw=1)
        ax.set_title(f'{unit_names[u]}: slope {machine.slopes[u, k]:.3f} a count, R\u00b2 {machine.r2[u]:.4f}',
                     fontsize=SMALL + 1)
        label_axes(ax, [f'{name} (the language\'s count in the block)', f'{unit_names[u]} value'])
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(Line2D([], [], color=GREY, lw=1))
    labels.append('fit: slope a count, an offset per phase')
    fig.legend(handles, labels, title='phase (dots: every step)', loc='outside lower center',
               ncol=min(len(labels), 4), fontsize=SMALL, title_fontsize=SMALL, frameon=False, markerscale=2)
    strings = int(states.first.sum())
    titled(fig, f'the units that count, at every step of the strings of one n, n = 1 to {strings}', run)
    return fig
