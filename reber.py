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
# state -> the (symbol, next state) pairs leaving it; None is the end
MACHINE = {0: (('T', 1), ('P', 2)), 1: (('S', 1), ('X', 3)), 2: (('T', 2), ('V', 4)),
           3: (('X', 2), ('S', 5)), 4: (('P', 3), ('V', 5)), 5: (('E', None),)}
MAX_TRIES = 100_000      # draws allowed per string before --length is judged unreachable


def reber_walk(rng):
    """One Reber string as (symbols, states after each symbol but the last, next-symbol probabilities)."""
    symbols, states, probs = ['B'], [], []
    state = 0
    while state is not None:
        exits = MACHINE[state]
        prob = np.zeros(len(SYMBOLS))
        for symbol, _ in exits:
            prob[SYMBOLS.index(symbol)] = 1.0 / len(exits)
        states.append(state)
        probs.append(prob)
        symbol, state = exits[rng.integers(len(exits))]
        symbols.append(symbol)
    return symbols, states, probs


class Reber(Language):
    """The Reber grammar; `embed` for the embedded version; `length` is the minimum number of
    symbols of the (inner) Reber string, shorter ones are drawn again."""
    symbols = SYMBOLS

    def __init__(self, embed=False, length=5):
        if length < 1:
            raise UserError(f'--length (minimum Reber string length) must be at least 1, not {length}')
        self.embed = embed
        self.min_length = length

    def __repr__(self):
        return f'Reber(embed={self.embed}, length={self.min_length})'

    def one_string(self, rng):
        """One string -> (symbol indices, states, next-symbol probabilities, scored steps)."""
        for _ in range(MAX_TRIES):
            symbols, states, probs = reber_walk(rng)
            if len(symbols) >= self.min_length:
                break
        else:
            raise UserError(f'Reber strings of {self.min_length} or more symbols are too rare: '
                            f'use a smaller --length')
        scored = [True] * len(states)
        if self.embed:
            side = 'TP'[rng.integers(2)]
            offset = 2 if side == 'T' else 10
            must = np.eye(len(SYMBOLS))
            symbols = ['B', side] + symbols + [side, 'E']
            states = [0, offset - 1] + [s + offset for s in states] + [offset + 6, 17]
            either = np.zeros(len(SYMBOLS))
            either[[SYMBOLS.index('T'), SYMBOLS.index('P')]] = 0.5
            probs = [either, must[0]] + probs + [must[SYMBOLS.index(side)], must[SYMBOLS.index('E')]]
            scored = [True, True] + scored + [False, True]
        return [SYMBOLS.index(s) for s in symbols], states, probs, scored

    def batch(self, count, rng):
        """`count` strings as a StringBatch (one Python loop per string: Reber strings are cheap)."""
        strings = [self.one_string(rng) for _ in range(count)]
        length = np.array([len(s[1]) for s in strings], dtype=np.int64)
        T = length.max()
        seq = np.zeros((count, T + 1), dtype=np.int64)
        state = np.zeros((count, T), dtype=np.int64)
        prob = np.zeros((count, T, len(SYMBOLS)))
        scored = np.zeros((count, T), dtype=bool)
        for i, (symbols, states, probs, score) in enumerate(strings):
            seq[i, :len(symbols)] = symbols
            state[i, :length[i]] = states
            prob[i, :length[i]] = probs
            scored[i, :length[i]] = score
        return StringBatch(seq, length, prob, state, scored)
