"""The counting languages a^n b^n, a^n b^n c^n, a^n b^2n and a^n b^2n c^3n, as the course trains them.

A training string is five blocks glued together (each block draws its own n uniformly from 1 to
`length`) followed by the first A of a sixth block: for anb2n, AABBBB ABB AAABBBBBB ... A.
The network reads the string without its last symbol and predicts the string without its first.

Targets: while A's run the next symbol is A or B, which the course scores against 0.8/0.2 (the
network cannot know n); every later symbol of a block, and the A after the block's last symbol,
is determined. Every step is scored.

States: each number is one state of the minimal machine that predicts the next symbol for
n <= length, so two steps share a number exactly when the rest of their block is the same:
  k              after the k-th A of a block (1..length)
  length+1+r     once only the last letter is left to come (the B's of anbn and anb2n; the last
                 B and the C's of the three-letter languages), r = symbols still to come in the
                 block: the block's last symbol, the one that predicts the next A, has length+1
  then, for the three-letter languages, one number per (n, B's read) for every B but the last:
                 first those of n = 1, then n = 2, ... (the B run must remember n for the C's)
For n > length (generalisation tests) the numbers are no longer a machine.
"""
import numpy as np

from seq_models import Language, StringBatch

# how many of each symbol a block has, in units of n
FAMILY = {'anbn': (1, 1), 'anbncn': (1, 1, 1), 'anb2n': (1, 2), 'anb2nc3n': (1, 2, 3)}
NUM_BLOCKS = 5
A_TARGET = (0.8, 0.2)   # the course's target for the symbol after an A: A 0.8, B 0.2


class AnBn(Language):
    """One language of the a^n b^n family; `name` is a key of FAMILY, `length` the maximum n."""

    def __init__(self, name='anbn', length=4):
        if name not in FAMILY or length < 1:       # the scripts' flags allow neither
            raise ValueError(f'AnBn({name!r}, {length}): the name is one of {", ".join(FAMILY)}, the length >= 1')
        self.name = name
        self.max_n = length
        self.multiples = np.array(FAMILY[name])
        self.symbols = 'ABC'[:len(self.multiples)]

    def __repr__(self):
        return f'AnBn({self.name!r}, length={self.max_n})'

    @property
    def num_states(self):
        """States of the minimal next-symbol machine for n <= length (numbered 1..num_states)."""
        m, L = self.multiples, self.max_n
        inner_b = m[1] * L * (L + 1) // 2 - L if len(m) == 3 else 0     # B's that are not the last
        return L + m[-1] * L + (len(m) == 3) + inner_b

    def state_numbers(self, block_n, pos):
        """State number of the step at position `pos` (from 0) of a block with this n (arrays)."""
        m, L = self.multiples, self.max_n
        remaining = block_n * m.sum() - 1 - pos
        state = np.where(pos < block_n, pos + 1, L + 1 + remaining)
        if len(m) == 3:                   # every B but the last: one state per (n, B's read)
            b_read = pos + 1 - block_n
            inner_b = (pos >= block_n) & (b_read < m[1] * block_n)
            before = m[1] * (block_n - 1) * block_n // 2 - (block_n - 1)    # those of smaller n's
            state = np.where(inner_b, L + 2 + m[2] * L + before + b_read - 1, state)
        return state

    def phases(self):
        """The state numbers as phases, each in the order a block runs through them: [(what the
        phase is, its state numbers, a label for each)]: the rows of a state diagram."""
        m, L, last = self.multiples, self.max_n, self.symbols[-1]
        top = L + m[-1] * L + (len(m) == 3)
        phases = [("A's read", list(range(1, L + 1)), [str(k) for k in range(1, L + 1)])]
        inner = [(n, b) for n in range(1, L + 1) for b in range(1, m[1] * n)]    # every B but a block's last
        if len(m) == 3 and inner:
            phases.append(("B's read but the last, by the block's n", list(range(top + 1, top + 1 + len(inner))),
                           [f'n={n}' if b == 1 else '' for n, b in inner]))
        remaining = list(range(top - L - 1, -1, -1))        # most still to come first: the order they run
        words = f"{last}'s still to come" + (' (the last B: all of them)' if len(m) == 3 else '')
        phases.append((words, [L + 1 + r for r in remaining], [str(r) for r in remaining]))
        return phases

    def batch(self, count, rng):
        """`count` strings as a StringBatch, each block with its own n drawn from 1 to length."""
        return self.blocks(rng.integers(1, self.max_n + 1, size=(count, NUM_BLOCKS)))

    def blocks(self, n):
        """The strings whose blocks have the n's in `n` (count, NUM_BLOCKS), as a StringBatch,
        built with whole-array numpy operations (any n >= 1, also beyond length)."""
        count = len(n)
        groups = len(self.multiples)
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

        flat_len = block_len.ravel()
        pos = np.arange(total) - np.repeat(np.cumsum(flat_len) - flat_len, flat_len)
        state = np.zeros((count, length.max()), dtype=np.int64)
        state[row, col] = self.state_numbers(np.repeat(n.ravel(), flat_len), pos)

        prob = np.zeros((count, length.max(), groups))
        prob[row, col, seq[row, col + 1]] = 1.0
        reading_a = symbol == 0
        prob[row[reading_a], col[reading_a], :2] = A_TARGET
        scored = np.zeros((count, length.max()), dtype=bool)
        scored[row, col] = True
        return StringBatch(seq, length, prob, state, scored)
