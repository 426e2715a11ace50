"""The Reber grammar and the embedded Reber grammar.

A Reber string walks a 6-state machine from B to E, taking each of the two ways out of a state
with probability 1/2:
    state 0 (after B):  T -> 1   P -> 2
    state 1:            S -> 1   X -> 3
    state 2:            T -> 2   V -> 4
    state 3:            X -> 2   S -> 5
    state 4:            P -> 3   V -> 5
    state 5:            E (end)
e.g. BTXSE, BPVVE, BTSSXXTVPSE. An embedded Reber string is B, then T or P, a Reber string, the
same T or P, then E: predicting that second T or P needs a memory of the first.

States (for colouring plots; the state after reading each input symbol): plain strings use the
machine's states 0-5. Embedded strings number the whole machine: 0 after the first B, 1 after T,
2-7 the inner states 0-5 on the T side, 8 after the inner E (T must follow), 9 after P, 10-15 the
inner states on the P side, 16 after the inner E (P must follow), 17 after the second T or P.

Every step is scored except, for embedded strings, the one after the inner E: its error (the
"final" error, whether the network remembers T or P) is reported separately.
"""
import numpy as np

from common import UserError
from seq_models import Language, StringBatch

SYMBOLS = 'BTSXPVE'
B, E = SYMBOLS.index('B'), SYMBOLS.index('E')
# state -> the (symbol, next state) pairs leaving it; None is the end
MACHINE = {0: (('T', 1), ('P', 2)), 1: (('S', 1), ('X', 3)), 2: (('T', 2), ('V', 4)),
           3: (('X', 2), ('S', 5)), 4: (('P', 3), ('V', 5)), 5: (('E', None),)}
MAX_ROUNDS = 10_000     # rounds of drawing (of 100 strings or more) before --length is judged unreachable

END = len(MACHINE)       # the state after E


def machine_tables():
    """MACHINE as arrays, for walking many strings at once: way k (0 or 1) out of state s emits
    exit_symbol[s, k] and goes to exit_state[s, k]; state_prob[s] is the distribution of the
    symbol after state s. END stays END, emitting B as padding."""
    exit_symbol = np.full((END + 1, 2), B)
    exit_state = np.full((END + 1, 2), END)
    state_prob = np.zeros((END + 1, len(SYMBOLS)))
    for state, exits in MACHINE.items():
        for k in (0, 1):
            symbol, target = exits[k % len(exits)]      # state 5 has one way out, E: both take it
            exit_symbol[state, k] = SYMBOLS.index(symbol)
            exit_state[state, k] = END if target is None else target
        for symbol, _ in exits:
            state_prob[state, SYMBOLS.index(symbol)] = 1.0 / len(exits)
    return exit_symbol, exit_state, state_prob


EXIT_SYMBOL, EXIT_STATE, STATE_PROB = machine_tables()


def reber_walks(count, rng):
    """`count` Reber strings, walked side by side, each taking either way out of a state with
    probability 1/2 -> (symbols (count, width+1), states after each symbol but the last
    (count, width; END after the string), input steps (count,)); padding is B."""
    state = np.zeros(count, dtype=np.int64)
    symbols, states = [np.full(count, B)], []
    while (state != END).any():
        way = rng.integers(2, size=count)
        states.append(state)
        symbols.append(EXIT_SYMBOL[state, way])
        state = EXIT_STATE[state, way]
    states = np.stack(states, axis=1)
    return np.stack(symbols, axis=1), states, (states != END).sum(axis=1)


class Reber(Language):
    """The Reber grammar; `embed` for the embedded version; `length` is the minimum number of
    symbols of the (inner) Reber string, shorter ones are drawn again."""
    symbols = SYMBOLS

    def __init__(self, embed=False, length=5):
        if length < 1:                              # the scripts' flags do not allow it
            raise ValueError(f'Reber(length={length}): the minimum length is at least 1')
        self.embed = embed
        self.min_length = length

    def __repr__(self):
        return f'Reber(embed={self.embed}, length={self.min_length})'

    def phases(self):
        """The state numbers as phases: [(what the phase is, its state numbers, a label for each)]."""
        if not self.embed:
            return [('grammar state', list(range(6)), [str(q) for q in range(6)])]
        inner = ['T/P', '0', '1', '2', '3', '4', '5', 'E']
        return [('T side: after T, inner states 0-5, inner E', list(range(1, 9)), inner),
                ('outside: after the first B, the second T/P', [0, 17], ['B', 'T/P']),
                ('P side: after P, inner states 0-5, inner E', list(range(9, 17)), inner)]

    def inner_strings(self, count, rng):
        """`count` Reber strings of at least min_length symbols, as reber_walks returns them:
        strings are drawn in rounds (at least 100 at a time, walking many costs little more than
        walking one), and the first long enough ones kept, until there are `count`."""
        kept, have = [], 0
        for _ in range(MAX_ROUNDS):
            symbols, states, length = reber_walks(max(count - have, 100), rng)
            long_enough = np.flatnonzero(length + 1 >= self.min_length)[:count - have]
            kept.append((symbols[long_enough], states[long_enough], length[long_enough]))
            have += len(long_enough)
            if have == count:
                break
        else:
            raise UserError(f'Reber strings of {self.min_length} or more symbols are too rare: '
                            f'use a smaller --length')
        width = max(states.shape[1] for _, states, _ in kept)     # input steps of the longest walk
        widen = lambda a, columns, value: np.pad(a, ((0, 0), (0, columns - a.shape[1])), constant_values=value)
        return (np.concatenate([widen(symbols, width + 1, B) for symbols, _, _ in kept]),
                np.concatenate([widen(states, width, END) for _, states, _ in kept]),
                np.concatenate([length for _, _, length in kept]))

    def batch(self, count, rng):
        """`count` strings as a StringBatch, built with whole-array numpy operations."""
        seq, state, length = self.inner_strings(count, rng)
        prob = STATE_PROB[state]
        scored = state != END                               # the input steps of each string
        state = np.where(scored, state, 0)
        if self.embed:
            seq, state, length, prob, scored = self.embed_strings(seq, state, length, prob, scored, rng)
        width = length.max()
        return StringBatch(seq[:, :width + 1], length, prob[:, :width], state[:, :width], scored[:, :width])

    def embed_strings(self, seq, state, length, prob, inside, rng):
        """Wrap inner strings as B, T or P, the string, the same T or P, E, with the states of the
        module docstring -> seq, state, length, prob, scored (every input step but the final one)."""
        count = len(length)
        rows = np.arange(count)
        side = np.where(rng.integers(2, size=count) == 0, SYMBOLS.index('T'), SYMBOLS.index('P'))
        offset = np.where(side == SYMBOLS.index('T'), 2, 10)
        after = 2 + length                                  # the input step reading the inner E
        wrap = lambda a, value: np.pad(a, [(0, 0), (2, 2)] + [(0, 0)] * (a.ndim - 2), constant_values=value)
        seq = wrap(seq, B)
        seq[:, 1] = side
        seq[rows, after + 1] = side
        seq[rows, after + 2] = E
        state = wrap(np.where(inside, state + offset[:, None], 0), 0)
        state[:, 1] = offset - 1
        state[rows, after], state[rows, after + 1] = offset + 6, 17
        prob = wrap(prob, 0.0)
        prob[:, 0, [SYMBOLS.index('T'), SYMBOLS.index('P')]] = 0.5
        prob[:, 1, B] = 1.0
        prob[rows, after, side] = 1.0
        prob[rows, after + 1, E] = 1.0
        scored = wrap(inside, False)
        scored[:, :2] = True
        scored[rows, after + 1] = True                      # not after: the final step is reported apart
        return seq, state, length + 4, prob, scored
