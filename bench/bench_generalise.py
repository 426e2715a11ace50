"""Does a training setting give networks that count beyond their training range?

Trains `seq_train.py FLAGS --runs N` (seeds seed .. seed+N-1, the fast engine) into a temporary
folder, then tests every run on blocks of one n for n = 1 .. --test_length (default four times the
training length) and prints, per seed, the largest n up to which it is perfect, and how many runs
reach twice the training length. Flags other than --test_length and --runs go to seq_train.py.

    python3 bench/bench_generalise.py --lang anbn --model lstm --length 4 --runs 8
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import seq_dynamics as dyn  # noqa: E402
import seq_setup  # noqa: E402
import seq_train  # noqa: E402
from seq_checkpoints import load_checkpoint, load_weights  # noqa: E402
from seq_models import make_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=4, help='networks to train, one per seed (default 4)')
    parser.add_argument('--test_length', type=int, default=None, help='largest n tested (default 4 x --length)')
    bench, flags = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as folder:
        args = seq_train.parse_args(flags + ['--runs', str(bench.runs), '--out_path', folder])
        if args.lang == 'reber':
            sys.exit('error: this benchmark is for the a^n b^n family')
        largest = bench.test_length or 4 * args.length
        done = subprocess.run([sys.executable, 'seq_train.py', *flags, '--runs', str(bench.runs),
                               '--out_path', folder], cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr.strip())
        lang = seq_setup.build_language(args)
        reached = []
        for r in range(bench.runs):
            path = seq_setup.run_checkpoint(args, round(args.epoch * 1000) / 1000, r if bench.runs > 1 else None)
            net = make_model(args.model, lang.num_symbols, args.hid)
            load_weights(net, load_checkpoint(path, {}), path)
            with torch.no_grad():
                rows = dyn.generalisation(net, lang, largest)
            reached.append(dyn.perfect_up_to(rows))
            print(f'seed {args.seed + r}: perfect up to n = {reached[-1]}  (n = {largest}: '
                  f'{100 * rows[-1].right:.1f}% right)', flush=True)
    twice = sum(n >= 2 * args.length for n in reached)
    print(f'{" ".join(flags)}: perfect up to n >= {2 * args.length} (twice the training length) in {twice} of '
          f'{bench.runs} runs; trained range n <= {args.length} perfect in '
          f'{sum(n >= args.length for n in reached)}; best n = {max(reached)}')


if __name__ == '__main__':
    main()
