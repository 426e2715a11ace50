"""The counting languages a^n b^n, a^n b^n c^n, a^n b^2n and a^n b^2n c^3n, as the course trains them.

A training string is five blocks glued together (each block draws its own n uniformly from 1 to
`length`) followed by the first A of a sixth block: for anb2n, AABBBB ABB AAABBBBBB ... A.
The network reads the string without its last symbol and predicts the string without its first.

Targets: while A's run the next symbol is A or B, which the course scores against 0.8/0.2 (the
network cannot know n); every later symbol of a block, and the A after the block's last symbol,
is determined. Every step is scored.

States (for colouring plots): k while reading the k-th A of a block (1..length), then
length+1+r where r counts down the symbols still to come in the block, so the block's last
symbol, the one that predicts the next A, has state length+1.
"""
import numpy as np

from common import UserError
from seq_models import Language, StringBatch

# how many of each symbol a block has, in units of n
FAMILY = {'anbn': (1, 1), 'anbncn': (1, 1, 1), 'anb2n': (1, 2), 'anb2nc3n': (1, 2, 3)}
NUM_BLOCKS = 5
A_TARGET = (0.8, 0.2)   # the course's target for the symbol after an A: A 0.8, B 0.2


class AnBn(Language):
    """One language of the a^n b^n family; `name` is a key of FAMILY, `length` the maximum n."""

    def __init__(self, name='anbn', length=4):
        if name not in FAMILY:
            raise UserError(f'unknown language {name!r}: choose from {", ".join(FAMILY)}')
        if length < 1:
            raise UserError(f'--length (maximum n) must be at least 1, not {length}')
        self.name = name
        self.max_n = length
        self.multiples = np.array(FAMILY[name])
        self.symbols = 'ABC'[:len(self.multiples)]

    def __repr__(self):
        return f'AnBn({self.name!r}, length={self.max_n})'

    def batch(self, count, rng):
        """`count` strings as a StringBatch, built with whole-array numpy operations."""
        groups = len(self.multiples)
        n = rng.integers(1, self.max_n + 1, size=(count, NUM_BLOCKS))
        block_len = n * self.multiples.sum()                                # (count, blocks)
        run_len = (n[:, :, None] * self.multiples).reshape(count, -1)       # A-run, B-run, ... per block
        length = block_len.sum(axis=1)                                      # input steps per string
        total = length.sum()

        # every input step of every string, flattened string by string
        symbol = np.repeat(np.tile(np.arange(groups), count * NUM_BLOCKS), run_len.ravel())
        row = np.repeat(np.arange(count), length)
        col = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
        seq = np.zeros((count, length.max() + 1), dtype=np.int64)          # padding and final A are 0 = A
        seq[row, col] = symbol

        # position within the block -> state number
        flat_len = block_len.ravel()
        pos = np.arange(total) - np.repeat(np.cumsum(flat_len) - flat_len, flat_len)
        block_n = np.repeat(n.ravel(), flat_len)
        remaining = np.repeat(flat_len, flat_len) - 1 - pos
        state = np.zeros((count, length.max()), dtype=np.int64)
        state[row, col] = np.where(pos < block_n, pos + 1, self.max_n + 1 + remaining)

        prob = np.zeros((count, length.max(), groups))
        prob[row, col, seq[row, col + 1]] = 1.0
        reading_a = symbol == 0
        prob[row[reading_a], col[reading_a], :2] = A_TARGET
        scored = np.zeros((count, length.max()), dtype=bool)
        scored[row, col] = True
        return StringBatch(seq, length, prob, state, scored)
