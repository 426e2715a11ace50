"""Several training runs at once with the fast engine: the plumbing behind `seq_train.py --engine fast`.

seq_train.train() is the course's loop for one network. This module trains one network or many
(`--runs N`, each with its own seed, weights and strings) with the same recipe through seq_fast's
compiled backpropagation, which trains all runs side by side. Two things keep it fast:
  - the strings of the next chunk are drawn in a second thread while this chunk trains (numpy and
    the compiled engine both work outside Python's global lock); each run's generator is still
    used in order, so the strings are exactly those a single run with that seed would draw;
  - the per-chunk report scores each run's fresh string with the engine rather than with torch.
With several candidates per run (--candidates), every candidate is a lane of its own, trained on
its run's strings, until the pick; then the engine keeps the lane of each run's best candidate,
with its optimizer state, and the run goes on with that one alone.
The printing and checkpoints are seq_train.Log's, the same as for the plain loop.
"""
import dataclasses
import importlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from common import UserError
from seq_train import CHUNK, Log, best_candidate, learning_rate, num_strings, pick_step


def make_engine(args, nets, lang):
    """seq_fast.FastTrainer for these networks and recipe; its first use compiles the engine, or
    loads it from numba's cache in __pycache__. A damaged cache is removed and the engine compiled
    afresh, with a note; a missing numba is a one-line error."""
    try:
        import seq_fast
    except ImportError as err:
        raise UserError(f'the fast engine needs numba ({err}): pip install -r requirements.txt, '
                        'or use --engine autograd') from None
    probe = [lang.batch(1, np.random.default_rng(0))] * len(nets)
    for attempt in range(2):
        engine = seq_fast.FastTrainer(nets, args.optim, args.lr, args.mom, args.wd, clip=args.clip)
        try:
            engine.errors(probe)        # compiles, or loads the cache: changes no weights
            return engine
        except Exception as err:        # numba's cache loader raises pickle, EOF or type errors
            if attempt:
                raise
            removed = seq_fast.clear_cache()
            print(f'note: the fast engine\'s compile cache was damaged ({type(err).__name__}); '
                  f'removed {removed} cached files and compiling again (about 20 s)')
            seq_fast = importlib.reload(seq_fast)


def drawn_ahead(lang, rngs, total):
    """Yield the training strings CHUNK at a time, total in all: a list with a StringBatch per
    generator (per run), the next chunk drawn in a second thread while the caller trains on this one."""
    sizes = [min(CHUNK, total - start) for start in range(0, total, CHUNK)]
    draw = lambda count: [lang.batch(count, rng) for rng in rngs]
    with ThreadPoolExecutor(1) as drawer:
        upcoming = drawer.submit(draw, sizes[0])
        for size in sizes[1:]:
            current = upcoming.result()
            upcoming = drawer.submit(draw, size)
            yield current
        yield upcoming.result()


def strings(batch, start, stop):
    """Strings start..stop-1 of a StringBatch, as a StringBatch."""
    return type(batch)(*(getattr(batch, field.name)[start:stop] for field in dataclasses.fields(batch)))


def train_together(args, candidates, lang, rngs, show_rngs, selections, runs):
    """Train the networks of candidates[i] (run i's) on the strings of rngs[i], all with the recipe
    in args, in the fast engine, and keep each run's best after pick_step(args) strings (as
    seq_train.train does); print and save through seq_train.Log (runs[i] names run i's
    checkpoints) -> the network each run kept."""
    width = len(candidates[0])                  # lanes per run: its candidates until the pick, then 1
    lanes = [net for run in candidates for net in run]
    widen = lambda per_run: [item for item in per_run for _ in range(width)]
    engine = make_engine(args, lanes, lang)
    nets = [run[0] for run in candidates]       # the networks shown and saved (the first candidates until the pick)
    log = Log(args, lang, nets, show_rngs, runs, score=lambda batches: engine.errors(widen(batches))[::width, 0])
    pick = pick_step(args) if width > 1 else None
    step = 0
    try:
        for batches in drawn_ahead(lang, rngs, num_strings(args)):
            count = len(batches[0].length)
            lrs = np.array([learning_rate(args, s) for s in range(step, step + count)])
            cut = pick - step if pick and step < pick <= step + count else count
            errors = engine.train_chunk(widen([strings(b, 0, cut) for b in batches]), lrs[:cut])
            if step + cut == pick:
                engine.copy_to(lanes)                   # compared in torch, as the autograd loop does
                kept, scores = zip(*[best_candidate(run, lang, selection)
                                     for run, selection in zip(candidates, selections)])
                chosen = np.arange(len(nets)) * width + kept
                nets = lanes = [run[k] for run, k in zip(candidates, kept)]
                engine, errors, width = engine.keep(chosen, nets), errors[chosen], 1
                if cut < count:
                    rest = engine.train_chunk([strings(b, cut, count) for b in batches], lrs[cut:])
                    errors = np.concatenate([errors, rest], axis=1)
                log.picked(nets, kept, scores)
            engine.copy_to(lanes)
            step += count
            log.tick(count)
            log.chunk_done(errors[::width])
    finally:
        log.close()
    return nets
