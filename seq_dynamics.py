"""How does a trained recurrent network do it? State machines, fixed points and generalisation.

Four analyses of a network trained by seq_train.py, each usable from a Python prompt:

  collect_states   the network's state after every step of many strings (for the LSTM the
                   hidden and context units together), with the symbol read, the language's own
                   state number, and the symbols the network predicts next
  extract_fsm      cluster those states (k-means), build the transition graph (cluster, symbol ->
                   cluster, with counts), label each state with the symbols the network predicts,
                   merge equivalent states; fidelity() then measures on fresh strings how often the
                   machine predicts what the network predicts, compare() how its states line up
                   with the language's (purity, coverage, equivalence)
  fixed_points     the fixed points of each symbol's map h -> F_s(h), found by Newton's method from
                   many starts, with the Jacobian's eigenvalues and a class (attracting, ...)
  generalisation   for the a^n b^n family, strings whose blocks all have the same n, n = 1 ... N:
                   which n the network still gets right (for Reber: ever longer strings)
  extract_counter_machine  for the a^n b^n family, a machine with counters: the units whose value
                   is linear in the language's counts (#a - #b, ...), control states read off the
                   network's predictions, each (state, symbol)'s change of every counter and the
                   zero tests that end a phase; counter_fidelity() compares it with the network
                   on strings of one n

    >>> import seq_dynamics as dyn        # net, lang as in seq_models' docstring; rng a numpy Generator
    >>> states = dyn.collect_states(net, lang, lang.batch(200, rng))
    >>> fsm, clusters = dyn.extract_fsm(states)      # clusters: the fewest that reach 99% fidelity
    >>> fresh = dyn.collect_states(net, lang, lang.batch(1000, rng))
    >>> dyn.fidelity(fsm, fresh), dyn.compare(fsm, fresh).overall_purity
    >>> print(dyn.transition_table(fsm, lang.symbols))
    >>> counter = dyn.extract_counter_machine(dyn.collect_states(net, lang, same_n_strings(lang, range(1, 51))), lang)
    >>> print(dyn.counter_table(counter, lang.symbols)); dyn.counter_fidelity(net, lang, counter, 100)

A network "predicts" every symbol it gives at least LIKELY probability: where the language allows
two symbols (A or B while the A's run, T or P after B in Reber) a trained network splits its
output between them, and its single most likely symbol would flip from string to string.
"""
import itertools
from dataclasses import dataclass

import numpy as np
import torch

from seq_models import output_probabilities, run_model
from seq_setup import same_n_strings

LIKELY = 0.05            # output probability from which a symbol counts as predicted
FIDELITY_GOAL = 0.99     # the automatic number of clusters is the smallest reaching this
MAX_CLUSTERS = 128
START = -1               # the language's state number before the first symbol
REBER_STEP = 5           # generalisation rows of Reber: strings of at least 5, 10, ... symbols
IMAGINARY = 1e-4         # an eigenvalue with a smaller imaginary part counts as real
NEGLIGIBLE = 1e-3        # an eigenvalue this small wipes its direction out in one step: no sign
COUNTER_R2 = 0.99        # a unit whose variance within phases the counts explain this well carries a count


# ---------------------------------------------------------------- states visited

@dataclass
class States:
    """Every input step of a batch of strings, flattened string by string (N steps):
    points (N, D) the network's state after the step; symbol (N,) the symbol read; true (N,) the
    language's state number; predicted (N,) the symbols the network predicts next, as a bit mask
    (bit s for symbol s); following (N,) the symbol that really came next; first (N,) True at
    each string's first step. start (D,) is the network's state before any symbol; likeliest (N,)
    the network's most likely next symbol."""
    points: np.ndarray
    symbol: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    following: np.ndarray
    first: np.ndarray
    start: np.ndarray
    likeliest: np.ndarray = None


def initial_state(net):
    """The state before the first symbol: the SRN's tanh(H0); the LSTM's zeros (hidden, context)."""
    if hasattr(net, 'H0'):
        return net.initial_state().detach().double().numpy()
    return np.zeros(2 * net.num_hid)


def mask_of(prob):
    """Output probabilities (..., S) -> bit masks of the symbols with at least LIKELY probability."""
    return ((prob >= LIKELY) * (1 << np.arange(prob.shape[-1]))).sum(axis=-1)


def spell_mask(mask, symbols):
    """Bit mask -> 'A/B' (the symbols it holds); '-' when empty."""
    return '/'.join(s for i, s in enumerate(symbols) if mask >> i & 1) or '-'


@torch.no_grad()
def network_states(net, lang, batch):
    """Run the network over a batch -> (states (count, T, D), output probabilities (count, T, S): the
    softmax, or for a network trained with --loss bce each symbol's sigmoid)."""
    hidden, context, output = run_model(net, lang.one_hot(batch.seq[:, :-1]))
    states = hidden if context is None else torch.cat([hidden, context], dim=2)
    return states.double().numpy(), output_probabilities(net, output.double()).numpy()


def collect_states(net, lang, batch):
    """The States of every input step of `batch` (a StringBatch)."""
    points, prob = network_states(net, lang, batch)
    inside = batch.real_steps
    first = np.zeros_like(inside)
    first[:, 0] = True
    return States(points[inside], batch.seq[:, :-1][inside], batch.state[inside], mask_of(prob[inside]),
                  batch.seq[:, 1:][inside], first[inside], initial_state(net), prob[inside].argmax(axis=1))


# ---------------------------------------------------------------- k-means

def kmeans(points, k, rng, weights=None, restarts=2, iterations=60):
    """Weighted k-means (k-means++ starts, the best of `restarts` by inertia) -> (centres (k, D),
    assignment (N,)). k is capped at the number of distinct points."""
    weights = np.ones(len(points)) if weights is None else weights
    k = min(k, len(points))
    best = None
    for _ in range(restarts):
        chosen = [rng.choice(len(points), p=weights / weights.sum())]
        d2 = squared_distances(points, points[chosen]).ravel()
        for _ in range(k - 1):                  # k-means++: the next centre far from those chosen
            p = d2 * weights
            chosen.append(rng.choice(len(points), p=p / p.sum()) if p.sum() > 0 else int(np.argmax(d2)))
            d2 = np.minimum(d2, squared_distances(points, points[chosen[-1:]]).ravel())
        centres = points[chosen]
        for _ in range(iterations):
            assign = squared_distances(points, centres).argmin(axis=1)
            mass = np.bincount(assign, weights, minlength=k)
            sums = np.stack([np.bincount(assign, weights * points[:, d], minlength=k)
                             for d in range(points.shape[1])], axis=1)
            moved = np.where(mass[:, None] > 0, sums / np.maximum(mass, 1e-300)[:, None], centres)
            if np.allclose(moved, centres, rtol=0, atol=1e-10):
                break
            centres = moved
        assign = squared_distances(points, centres).argmin(axis=1)
        inertia = (weights * ((points - centres[assign]) ** 2).sum(axis=1)).sum()
        if best is None or inertia < best[0]:
            best = (inertia, centres, assign)
    return best[1], best[2]


def squared_distances(points, centres):
    """(N, K) squared distances, computed as |x|^2 - 2 x.c + |c|^2 (one matrix product)."""
    d2 = (points ** 2).sum(axis=1)[:, None] - 2 * points @ centres.T + (centres ** 2).sum(axis=1)
    return np.maximum(d2, 0)


# ---------------------------------------------------------------- state machines

@dataclass
class Machine:
    """A deterministic machine over Q states: next_state[q, s] (-1: never seen), count[q, s] the
    number of times that transition was taken (seen[q, s] times q read s at all), label[q] the
    bit mask of the symbols predicted in q. Extracted machines also carry centres (Q, D), each
    state's mean network state (the start state's is the initial state), and size[q], the steps
    that fell in q."""
    next_state: np.ndarray
    count: np.ndarray
    seen: np.ndarray
    label: np.ndarray
    start: int
    centres: np.ndarray = None
    size: np.ndarray = None

    @property
    def num_states(self):
        """States other than the start state."""
        return len(self.label) - 1


def build_machine(state, symbol, label_votes, first, num_states, num_symbols):
    """The machine whose state after step i is state[i] (0..num_states-1; the start state is
    num_states): transitions by majority with counts, each state labelled with its most frequent
    label_votes (bit masks)."""
    start = num_states
    before = np.where(first, start, np.roll(state, 1))
    tally = np.zeros((num_states + 1, num_symbols, num_states + 1), dtype=np.int64)
    np.add.at(tally, (before, symbol, state), 1)
    seen = tally.sum(axis=2)
    next_state = np.where(seen > 0, tally.argmax(axis=2), -1)
    label = np.zeros(num_states + 1, dtype=np.int64)
    for q in range(num_states):
        votes = label_votes[state == q]
        if len(votes):
            values, counts = np.unique(votes, return_counts=True)
            label[q] = values[counts.argmax()]
    return Machine(next_state, tally.max(axis=2), seen, label, start)


def minimise(machine):
    """Merge equivalent states (same label, and each symbol leads to equivalent states; a missing
    transition only matches a missing one), by partition refinement -> (smaller Machine,
    block (Q,): the new state of each old one). The start state stays apart."""
    label = np.where(np.arange(len(machine.label)) == machine.start, -1, machine.label)
    block = np.unique(label, return_inverse=True)[1]
    while True:
        target = np.where(machine.next_state >= 0, block[machine.next_state], -1)
        signature = np.column_stack([block, target])
        refined = np.unique(signature, axis=0, return_inverse=True)[1].ravel()
        if refined.max() == block.max():
            break
        block = refined
    # renumber so the start state is last, as in build_machine
    order = [b for b in dict.fromkeys(block) if b != block[machine.start]] + [block[machine.start]]
    block = np.array([order.index(b) for b in block])
    num = len(order)
    first = np.array([np.flatnonzero(block == b)[0] for b in range(num)])     # a member of each
    next_state = np.where(machine.next_state[first] >= 0, block[machine.next_state[first]], -1)
    count = np.zeros((num, machine.count.shape[1]), dtype=np.int64)
    seen = np.zeros_like(count)
    np.add.at(count, block, machine.count)
    np.add.at(seen, block, machine.seen)
    merged = Machine(next_state, count, seen, machine.label[first], num - 1)
    if machine.size is not None:
        merged.size = np.bincount(block, machine.size, minlength=num)
        weight = np.maximum(machine.size, 1e-12)[:, None]
        merged.centres = np.stack([(machine.centres[block == b] * weight[block == b]).sum(axis=0)
                                   / weight[block == b].sum() for b in range(num)])
    return merged, block


def cluster_machine(states, clusters, rng):
    """Cluster the visited states into `clusters` groups and build the (unminimised) machine."""
    # states a thousandth apart count as one point (weighted by how often it was visited)
    rounded = np.round(states.points, 3)
    unique, inverse, counts = np.unique(rounded, axis=0, return_inverse=True, return_counts=True)
    centres, assign = kmeans(unique, clusters, rng, counts.astype(float))
    state = assign[inverse.ravel()]
    num_symbols = int(max(states.symbol.max(), states.following.max())) + 1
    machine = build_machine(state, states.symbol, states.predicted, states.first, len(centres), num_symbols)
    machine.centres = np.vstack([centres, states.start])
    machine.size = np.append(np.bincount(state, minlength=len(centres)), 0)
    return machine


def extract_fsm(states, clusters=None, check=None, rng=None):
    """The minimised machine extracted from `states` with `clusters` clusters; with clusters None,
    the smallest number (found by doubling, then halving the gap) whose machine predicts what the
    network predicts on at least FIDELITY_GOAL of the steps of `check` (States of other strings;
    `states` themselves when not given), or the best found up to MAX_CLUSTERS.
    Returns (machine, clusters used)."""
    rng = np.random.default_rng(0) if rng is None else rng
    if clusters is not None:
        return minimise(cluster_machine(states, clusters, rng))[0], clusters
    check = states if check is None else check
    tried = {}

    def attempt(k):
        if k not in tried:
            machine = minimise(cluster_machine(states, k, rng))[0]
            tried[k] = (fidelity(machine, check), machine)
        return tried[k][0] >= FIDELITY_GOAL

    low, high = 1, 2                            # low fails (or is 1), high is the next try
    while not attempt(high):
        low = high
        if high >= MAX_CLUSTERS:
            best = max(tried, key=lambda k: (tried[k][0], -k))
            return tried[best][1], best
        high = min(2 * high, MAX_CLUSTERS)
    while high - low > 1:
        middle = (low + high) // 2
        if attempt(middle):
            high = middle
        else:
            low = middle
    return tried[high][1], high


def run_machine(machine, states):
    """Walk the machine along the strings of `states` -> (state after each step, label predicted).
    Where it meets a transition it never saw, it is lost for the rest of that string: state -1,
    predicting nothing (-1)."""
    state = np.empty(len(states.symbol), dtype=np.int64)
    q = machine.start
    for i, (symbol, first) in enumerate(zip(states.symbol, states.first)):
        q = machine.start if first else q
        q = -1 if q < 0 else machine.next_state[q, symbol]
        state[i] = q
    return state, np.where(state < 0, -1, machine.label[state])


def fidelity(machine, states):
    """The fraction of steps where the machine predicts the same symbols as the network."""
    return float((run_machine(machine, states)[1] == states.predicted).mean())


def language_machine(states):
    """The language's own machine, from its state numbers along the strings of `states`:
    state i of the machine is the i-th distinct number (numbers[i]); labels are the symbols that
    really followed. -> (Machine, numbers)."""
    numbers, state = np.unique(states.true, return_inverse=True)
    state = state.ravel()
    following = 1 << states.following
    labels = np.zeros(len(numbers), dtype=np.int64)
    np.bitwise_or.at(labels, state, following)
    num_symbols = int(max(states.symbol.max(), states.following.max())) + 1
    machine = build_machine(state, states.symbol, labels[state], states.first, len(numbers), num_symbols)
    return machine, numbers


@dataclass
class Comparison:
    """How an extracted machine's states line up with the language's: match[q] the language
    state most of q's steps are in, purity[q] that fraction, steps[q] how many; covered the
    language states that are some state's match, of total; equivalent: the two machines are the
    same machine (state for state, transition for transition) where paired is not None: it maps
    each extracted state to its language state; relabelled lists (state, symbols the network
    predicts, symbols the language allows) where those differ (bit masks)."""
    match: np.ndarray
    purity: np.ndarray
    steps: np.ndarray
    covered: int
    total: int
    paired: dict
    relabelled: list

    @property
    def equivalent(self):
        return self.paired is not None and not self.relabelled

    @property
    def overall_purity(self):
        """The fraction of all steps that are in their state's matched language state."""
        return float((self.purity * self.steps).sum() / max(self.steps.sum(), 1))


def compare(machine, states):
    """Compare an extracted machine with the language's state numbers along `states` (strings
    the machine was not built from)."""
    path = run_machine(machine, states)[0]
    match = np.full(machine.num_states, START)
    purity, steps = np.zeros(machine.num_states), np.zeros(machine.num_states, dtype=np.int64)
    for q in range(machine.num_states):
        truths = states.true[path == q]
        steps[q] = len(truths)
        if len(truths):
            values, counts = np.unique(truths, return_counts=True)
            match[q], purity[q] = values[counts.argmax()], counts.max() / len(truths)
    truth, numbers = language_machine(states)
    covered = len(set(match[steps > 0].tolist()) & set(numbers.tolist()))
    paired = pairing(machine, truth)
    relabelled = [] if paired is None else [
        (q, machine.label[q], truth.label[t]) for q, t in paired.items()
        if q != machine.start and machine.label[q] != truth.label[t]]
    if paired is not None:
        paired = {q: int(numbers[t]) for q, t in paired.items() if q != machine.start}
    return Comparison(match, purity, steps, covered, len(numbers), paired, relabelled)


def pairing(one, other):
    """A one-to-one pairing of two machines' states, from their start states on, that keeps every
    transition (and every missing one) -> dict state of one -> state of other, or None when
    there is none (labels are not compared)."""
    pair, back = {one.start: other.start}, {other.start: one.start}
    todo = [one.start]
    while todo:
        a = todo.pop()
        b = pair[a]
        for s in range(one.next_state.shape[1]):
            a2, b2 = one.next_state[a, s], other.next_state[b, s] if s < other.next_state.shape[1] else -1
            if (a2 < 0) != (b2 < 0):
                return None
            if a2 < 0:
                continue
            if pair.get(a2, b2) != b2 or back.get(b2, a2) != a2:
                return None
            if a2 not in pair:
                pair[a2], back[b2] = b2, a2
                todo.append(a2)
    return pair if len(pair) == len(one.label) and len(back) == len(other.label) else None


def transition_table(machine, symbols, comparison=None):
    """The machine as text: one row per state with its predicted symbols, steps, the language state
    it matches (and how purely) and, per symbol, the next state and how often it was taken."""
    width = max(4, len(str(machine.num_states)) + 1)
    head = f'{"state":>6} {"predicts":>9} {"steps":>7}'
    if comparison is not None:
        head += f' {"language state":>15} {"purity":>7}'
    head += ''.join(f' {"on " + s:>{width + 9}}' for s in symbols)
    rows = [head]
    for q in range(machine.num_states + 1):
        name = 'start' if q == machine.start else str(q)
        label = '' if q == machine.start else spell_mask(machine.label[q], symbols)
        sizes = machine.size if comparison is None else np.append(comparison.steps, 0)
        size = '' if sizes is None else str(int(sizes[q]))
        row = f'{name:>6} {label:>9} {size:>7}'
        if comparison is not None:
            if q == machine.start:
                row += f' {"":>15} {"":>7}'
            elif comparison.steps[q] == 0:                  # never reached on the fresh strings
                row += f' {"-":>15} {"-":>7}'
            else:
                row += f' {comparison.match[q]:>15} {100 * comparison.purity[q]:6.1f}%'
        for s in range(len(symbols)):
            target = machine.next_state[q, s]
            cell = '.' if target < 0 else f'{target} ({machine.count[q, s]})'
            row += f' {cell:>{width + 9}}'
        rows.append(row)
    return '\n'.join(rows)


# ---------------------------------------------------------------- fixed points

def symbol_map(net, symbol):
    """The map F_s from the state before a step to the state after it when reading `symbol`, on
    float64 tensors (..., D): the SRN's h -> tanh(x_s W + h U + hid_bias); the LSTM's
    (h, c) -> (o tanh(c'), c') with c' = f c + i g (with peepholes, i and f also see c, o sees c')."""
    W, U, bias = (p.detach().double() for p in (net.W, net.U, net.hid_bias))
    drive = W[symbol] + bias
    if hasattr(net, 'H0'):
        return lambda h: torch.tanh(drive + h @ U)
    n = net.num_hid

    peep = net.peep.detach().double() if getattr(net, 'peep', None) is not None else torch.zeros(3 * n).double()

    def lstm_map(state):
        h, c = state[..., :n], state[..., n:]
        z = drive + h @ U
        i = torch.sigmoid(z[..., :n] + peep[:n] * c)
        f = torch.sigmoid(z[..., n:2 * n] + peep[n:2 * n] * c)
        g = torch.tanh(z[..., 2 * n:3 * n])
        c = f * c + i * g
        o = torch.sigmoid(z[..., 3 * n:] + peep[2 * n:] * c)
        return torch.cat([o * torch.tanh(c), c], dim=-1)

    return lstm_map


@dataclass
class FixedPoint:
    symbol: int
    point: np.ndarray
    eigenvalues: np.ndarray

    @property
    def kind(self):
        """attracting (all |eigenvalue| < 1), repelling (all > 1) or saddle, then 'oscillating'
        where an eigenvalue is real and negative (the state flips side at every step) and
        'rotating' where two are complex (eigenvalues below NEGLIGIBLE do not count for either)."""
        size = np.abs(self.eigenvalues)
        kind = 'attracting' if (size < 1).all() else 'repelling' if (size > 1).all() else 'saddle'
        real = np.abs(self.eigenvalues.imag) < IMAGINARY
        if (real & (self.eigenvalues.real < -NEGLIGIBLE)).any():
            kind += ', oscillating'
        if (~real & (size > NEGLIGIBLE)).any():
            kind += ', rotating'
        return kind


def jacobians(f, points):
    """The Jacobian of f at each of `points` (N, D) -> (N, D, D)."""
    return torch.func.vmap(torch.func.jacrev(f))(points)


def fixed_points(net, num_symbols, starts, iterations=60, tolerance=1e-10):
    """Fixed points of every symbol's map: Newton's method on F_s(h) - h from every start (N, D),
    the converged ones deduplicated -> list of FixedPoint, by symbol."""
    found = []
    starts = torch.as_tensor(starts, dtype=torch.float64)
    eye = torch.eye(starts.shape[1], dtype=torch.float64)
    for symbol in range(num_symbols):
        f = symbol_map(net, symbol)
        z = starts.clone()
        for _ in range(iterations):
            step = torch.linalg.lstsq(jacobians(f, z) - eye, (f(z) - z)[..., None]).solution[..., 0]
            z = z - step.clamp(-0.5, 0.5)        # damped: a start far from any fixed point stays in range
            z = torch.where(torch.isfinite(z), z, starts)
        residual = (f(z) - z).abs().max(dim=1).values
        kept = z[residual < tolerance].numpy()
        distinct = []
        for point in kept:
            if all(np.abs(point - other).max() > 1e-6 for other in distinct):
                distinct.append(point)
        for point in sorted(distinct, key=tuple):
            jacobian = jacobians(f, torch.as_tensor(point[None]))[0].numpy()
            found.append(FixedPoint(symbol, point, np.linalg.eigvals(jacobian)))
    return found


def fixed_point_starts(states, rng, per_axis=11, random_starts=400):
    """Starts for Newton's method: a grid over [-1, 1] per unit (for up to 3 units; the SRN's
    hidden units all live there) or random points in the box of the visited states, plus a sample
    of the visited states themselves."""
    dims = states.points.shape[1]
    low = np.minimum(states.points.min(axis=0), -1)
    high = np.maximum(states.points.max(axis=0), 1)
    if dims <= 3:
        axes = [np.linspace(-0.99, 0.99, per_axis)] * dims
        grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, dims)
    else:
        grid = rng.uniform(low, high, size=(random_starts, dims))
    visited = states.points[rng.choice(len(states.points), min(200, len(states.points)), replace=False)]
    return np.vstack([grid, visited])


def format_eigenvalues(values, digits=3):
    tidy = lambda x: round(x, digits) + 0.0          # no '-0.000'
    return ', '.join(f'{tidy(v.real):.{digits}f}' if abs(v.imag) < IMAGINARY else
                     f'{tidy(v.real):.{digits}f}{tidy(v.imag):+.{digits}f}i' for v in values)


def describe_fixed_point(fp, symbols):
    values = format_eigenvalues(fp.eigenvalues)
    point = ', '.join(f'{x:.3f}' for x in fp.point)
    return f'{symbols[fp.symbol]}: ({point})  eigenvalues {values}  {fp.kind}'


# ---------------------------------------------------------------- generalisation

@dataclass
class GeneralisationRow:
    n: int            # the n of every block (anbn family) or the minimum string length (Reber)
    right: float      # fraction of the checked steps predicted right
    error: float      # mean squared error of the output probabilities against the targets
    steps: int        # the checked steps


def generalisation(net, lang, largest, rng=None):
    """For the a^n b^n family: for n = 1 ... largest, the string of five blocks of that n (and the
    next A); a step is right when the network's most likely symbol is the one that follows, over
    the determined steps. For Reber: for minimum lengths from the language's up to `largest` in steps
    of REBER_STEP, 100 strings at least that long; a step is right when the network predicts
    exactly the symbols the grammar allows. -> list of GeneralisationRow."""
    if hasattr(lang, 'blocks'):
        ns = np.arange(1, largest + 1)
        batch = same_n_strings(lang, ns)                             # all n at once, one string each
        return score_rows(net, lang, batch, ns - 1, ns, grammar=False)
    rng = np.random.default_rng(0) if rng is None else rng
    lengths = sorted({*range(lang.min_length, largest + 1, REBER_STEP), largest})
    rows = []
    for length in lengths:
        batch = type(lang)(lang.embed, length).batch(100, rng)
        rows += score_rows(net, lang, batch, np.zeros(100, dtype=int), [length], grammar=True)
    return rows


def score_rows(net, lang, batch, row_of, names, grammar):
    """One GeneralisationRow per name; string i of the batch counts towards row row_of[i]."""
    _, prob = network_states(net, lang, batch)
    inside = batch.real_steps
    if grammar:
        checked = inside
        right = mask_of(prob) == mask_of(np.where(batch.prob > 0, 1.0, 0.0))
    else:
        checked = inside & batch.determined
        right = prob.argmax(axis=2) == batch.seq[:, 1:]
    squared = ((prob - batch.prob) ** 2).mean(axis=2)
    rows = []
    for r, name in enumerate(names):
        strings = row_of == r
        rows.append(GeneralisationRow(int(name), float(right[strings][checked[strings]].mean()),
                                      float(squared[strings][batch.scored[strings]].mean()),
                                      int(checked[strings].sum())))
    return rows


def perfect_up_to(rows):
    """The largest n such that the network is right at every checked step for all n up to it
    (0 when already the first row has a mistake)."""
    best = 0
    for row in rows:
        if row.right < 1:
            break
        best = row.n
    return best


# ---------------------------------------------------------------- counter machines

def counter_matrix(lang):
    """(letters, counters): counter k of a block is m[k+1] #letter k - m[k] #letter k+1 (over their
    greatest common divisor), zero once the block has all its letters k+1: #a - #b (and #b - #c)."""
    m = lang.multiples
    matrix = np.zeros((len(m), len(m) - 1), dtype=np.int64)
    for k in range(len(m) - 1):
        d = np.gcd(m[k], m[k + 1])
        matrix[k, k], matrix[k + 1, k] = m[k + 1] // d, -m[k] // d
    return matrix


def counter_names(lang):
    """'#a-#b', '2#a-#b', ... one per counter."""
    names = []
    for column in counter_matrix(lang).T:
        terms = [(w, f'#{s.lower()}') for w, s in zip(column, lang.symbols) if w]
        names.append(''.join(('-' if w < 0 else '+' if i else '') + (str(abs(w)) if abs(w) > 1 else '') + t
                             for i, (w, t) in enumerate(terms)))
    return names


def count_values(lang, states):
    """The language's counters after every step of `states` (N, counters), counted within each block."""
    letters = np.eye(len(lang.multiples), dtype=np.int64)[states.symbol]
    opens = (states.symbol == 0) & (states.first | (np.roll(states.symbol, 1) != 0))
    block = np.cumsum(opens) - 1
    read = np.cumsum(letters, axis=0)
    return (read - (read - letters)[opens][block]) @ counter_matrix(lang)


def phase_keys(states):
    """Each step's phase: (symbol read, symbols the network predicts) as one number. After an A the
    language allows A or B and the network's hedge is its prediction; elsewhere the next symbol is
    determined and its most likely one is."""
    predicted = np.where(states.symbol == 0, states.predicted, 1 << states.likeliest)
    return states.symbol * (1 << int(states.symbol.max() + 2)) + predicted, int(states.symbol.max() + 2)


@dataclass
class CounterMachine:
    """A machine with counters, read off a network. phases[q] = (symbol read, bit mask predicted)
    of control state q (the start state is len(phases)); machine counter j is the language's
    counter which[j] (named names[j]), carried by unit units[j]. Per unit: slopes (D, counters) and offsets (D, Q), the
    fit value = slopes . counts + offset of the phase; r2 (D,) the share of its variance within
    phases that the counts explain. change (Q+1, S, J): the mean change of each counter's unit in
    counts per (state, symbol read), read off the counting units together; step: that rounded, what the machine adds;
    next_state (Q+1, S, 3^J): the state after reading the symbol, by the counters' signs after
    the step (code: sum of 3^j (sign_j + 1)); -1 never seen."""
    phases: list
    names: list
    which: np.ndarray
    units: np.ndarray
    slopes: np.ndarray
    offsets: np.ndarray
    r2: np.ndarray
    change: np.ndarray
    step: np.ndarray
    next_state: np.ndarray

    @property
    def start(self):
        return len(self.phases)

    @property
    def label(self):
        """The bit mask predicted in each state (nothing at the start)."""
        return np.array([mask for _, mask in self.phases] + [0])


def sign_code(counts):
    """(..., J) counter values -> the code of their signs (next_state's last index)."""
    return ((np.sign(counts) + 1) * 3 ** np.arange(counts.shape[-1])).sum(axis=-1).astype(np.int64)


def extract_counter_machine(states, lang):
    """The counter machine of the network whose `states` (its strings, best long ones of one n)
    are given: fit every unit on the language's counts with an offset per phase; the units with
    r2 >= COUNTER_R2 carry a count, the best of them each counter's; then the counters' change per
    (state, symbol), and the transitions by their signs, tallied along the strings."""
    counts = count_values(lang, states)
    keys, base = phase_keys(states)
    values, phase = np.unique(keys, return_inverse=True)
    phase = phase.ravel()
    start = len(values)
    onehot = np.eye(start)[phase]
    fit = np.linalg.lstsq(np.hstack([counts, onehot]), states.points, rcond=None)[0]
    within = states.points - (onehot.T @ states.points / onehot.sum(axis=0)[:, None])[phase]
    residual = states.points - np.hstack([counts, onehot]) @ fit
    r2 = 1 - (residual ** 2).sum(axis=0) / np.maximum((within ** 2).sum(axis=0), 1e-300)
    slopes, offsets = fit[:counts.shape[1]].T, fit[counts.shape[1]:].T
    spread = np.abs(slopes) * counts.std(axis=0)           # what each count moves each unit by
    carried = spread.argmax(axis=1)
    units = [max(candidates, key=lambda u: r2[u]) for k in range(counts.shape[1])
             if (candidates := [u for u in np.flatnonzero(r2 >= COUNTER_R2) if carried[u] == k])]
    units = np.array(units, dtype=np.int64)
    level = counter_levels(states.points[:, units], counts[:, carried[units]], phase, start)
    before = np.where(states.first, start, np.roll(phase, 1))
    moved = level - np.where(states.first[:, None], 0, np.roll(level, 1, axis=0))
    num_symbols = lang.num_symbols
    change = np.zeros((start + 1, num_symbols, len(units)))
    taken = np.zeros((start + 1, num_symbols))
    np.add.at(change, (before, states.symbol), moved)
    np.add.at(taken, (before, states.symbol), 1)
    change /= np.maximum(taken, 1)[..., None]
    string = np.cumsum(states.first) - 1
    step = integer_steps(change, level, before, states.symbol, states.first, string)
    counted = running_counts(step, before, states.symbol, states.first, string)
    tally = np.zeros((start + 1, num_symbols, 3 ** len(units), start), dtype=np.int64)
    np.add.at(tally, (before, states.symbol, sign_code(counted), phase), 1)
    next_state = np.where(tally.sum(axis=3) > 0, tally.argmax(axis=3), -1)
    phases = [(int(v // (1 << base)), int(v % (1 << base))) for v in values]
    return CounterMachine(phases, [counter_names(lang)[k] for k in carried[units]], carried[units], units,
                          slopes, offsets, r2, change, step, next_state)


def running_counts(step, before, symbol, first, string):
    """The machine's counters after every step (N, J): each string's running sum of step[state
    before, symbol read]."""
    added = np.cumsum(step[before, symbol], axis=0)
    return added - (added - step[before, symbol])[first][string]


def integer_steps(change, level, before, symbol, first, string, doubt=0.25):
    """What the machine adds to each counter per (state, symbol): the mean change rounded, except
    where it is not near a whole number (a reading of the units that bends at the start of a
    phase, say +1.5 for the first A): there, of the two whole numbers around it, the ones whose
    running sums follow the readings `level` best over all the strings."""
    step = np.rint(change).astype(np.int64)
    doubtful = np.argwhere(np.abs(change - step) > doubt)
    if len(doubtful) > 10:                      # too many to try every choice: keep the rounding
        return step
    best, best_error = step, np.inf
    for choice in itertools.product((0, 1), repeat=len(doubtful)):
        trial = step.copy()
        for (q, s, j), up in zip(doubtful, choice):
            trial[q, s, j] = np.floor(change[q, s, j]) + up
        error = ((running_counts(trial, before, symbol, first, string) - level) ** 2).sum()
        if error < best_error:
            best, best_error = trial, error
    return best


def counter_levels(points, counts, phase, phases):
    """What the counting units say the counters are at each step (N, J): within each phase, the
    units' values (N, J) read back through a line fitted in that phase alone (a network's steps
    may differ a little between phases, say +0.98 a count for an A and -1.00 for a B, which one
    line over all phases would turn into offsets that shift every step's reading). A counter that
    a phase holds constant (such as #b-#c while A's are read) is that constant there."""
    level = np.empty(counts.shape)
    for p in range(phases):
        rows = phase == p
        varying = np.flatnonzero(np.ptp(counts[rows], axis=0) > 0)
        level[rows] = counts[rows].mean(axis=0)
        if varying.size:
            design = np.hstack([counts[rows][:, varying], np.ones((rows.sum(), 1))])
            fit = np.linalg.lstsq(design, points[rows], rcond=None)[0]         # (varying + 1, J)
            read = np.linalg.lstsq(fit[:-1].T, (points[rows] - fit[-1]).T, rcond=None)[0].T
            level[np.ix_(rows, varying)] = read
    return level


def run_counter_machine(machine, seq, length):
    """Walk the machine along strings (seq (count, T+1), as StringBatch.seq; length (count,)) ->
    the bit mask it predicts after each input step (count, T); -1 once lost (a transition never seen)."""
    count, T = seq.shape[0], seq.shape[1] - 1
    q = np.full(count, machine.start)
    counts = np.zeros((count, len(machine.units)), dtype=np.int64)
    label = np.append(machine.label, -1)                 # index -1: lost
    predicted = np.empty((count, T), dtype=np.int64)
    for t in range(T):
        symbol = seq[:, t]
        lost = q < 0
        counts += np.where(lost[:, None], 0, machine.step[q, symbol])
        q = np.where(lost, -1, machine.next_state[q, symbol, sign_code(counts)])
        predicted[:, t] = label[q]
    return np.where(np.arange(T) < length[:, None], predicted, -1)


def counter_fidelity(net, lang, machine, largest, chunk=100):
    """For n = 1 ... largest, on the string of five blocks of that n: the share of its determined
    steps where the machine predicts the network's most likely symbol -> (ns, agreeing steps, determined
    steps), arrays over n. Strings are run `chunk` at a time (a string of n = 1000 is 10,000 steps)."""
    ns = np.arange(1, largest + 1)
    agree, steps = np.zeros(len(ns), dtype=np.int64), np.zeros(len(ns), dtype=np.int64)
    for first in range(0, len(ns), chunk):
        batch = same_n_strings(lang, ns[first:first + chunk])
        prob = network_states(net, lang, batch)[1]
        checked = batch.real_steps & batch.determined
        same = run_counter_machine(machine, batch.seq, batch.length) == 1 << prob.argmax(axis=2)
        agree[first:first + chunk] = (same & checked).sum(axis=1)
        steps[first:first + chunk] = checked.sum(axis=1)
    return ns, agree, steps


def counter_table(machine, symbols, unit_names=None):
    """The machine as text: its counters and the units that carry them, every unit's fit, its control
    states, and per (state, symbol) each counter's change (measured, then as the machine counts it)
    and the next state by the counters' signs after the step."""
    unit_names = unit_names or [f'unit {u}' for u in range(len(machine.r2))]
    spell = lambda mask: spell_mask(mask, symbols)
    rows = ['counters: ' + (', '.join(f'c{j} = {name}, in {unit_names[u]} (slope {machine.slopes[u, k]:.3f} a count, '
                                      f'R2 {machine.r2[u]:.4f})' for j, (name, u, k) in
                                      enumerate(zip(machine.names, machine.units, machine.which))) or 'none')]
    rows.append('every unit\'s R2 (the share of its variance within phases that the counts explain): '
                + ', '.join(f'{name} {r2:.4f}' for name, r2 in zip(unit_names, machine.r2)))
    rows.append('control states (symbol read > symbols the network predicts): '
                + ', '.join(f'{q} {symbols[s]}>{spell(mask)}' for q, (s, mask) in enumerate(machine.phases)))
    signs = list(itertools.product('<=>', repeat=len(machine.units)))    # code order: sign_code's
    rows.append(f'{"state":>6} {"on":>3}  {"change of each counter (machine)":<34} next state by the counters\' signs')
    for q in range(machine.start + 1):
        for s, symbol in enumerate(symbols):
            targets = machine.next_state[q, s]
            if (targets < 0).all():
                continue
            change = ' '.join(f'c{j} {machine.change[q, s, j]:+.3f} ({machine.step[q, s, j]:+d})'
                              for j in range(len(machine.units))) or '-'
            tests = '  '.join(('' if not machine.units.size else ' '.join(f'c{j}{sign}0' for j, sign in
                                                                          enumerate(reversed(signs[code]))) + ': ')
                              + str(target) for code, target in enumerate(targets) if target >= 0)
            rows.append(f'{"start" if q == machine.start else q:>6} {symbol:>3}  {change:<34} {tests}')
    return '\n'.join(rows)
