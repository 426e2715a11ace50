"""How far do the networks of `seq_train.py --recipe count` count? The README's table.

For each language, trains `seq_train.py --recipe count --lang LANG --model lstm --runs R` (seeds
seed .. seed+R-1) into a temporary folder, reads the `perfect up to n = K` line it prints for every
run (strings of five blocks of one n, every determined symbol right, tested up to n = 1000), and
prints one row of the README's table: runs perfect to n >= 50, >= 100 and = 1000, the best and the
median n, and the wall time of the training command. Run it alone on the machine.

    python3 bench/bench_generalise.py                       # anbn, anbncn, anb2nc3n, seeds 1-16
    python3 bench/bench_generalise.py --langs anbn --runs 4 --seed 17
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = 1000  # the largest n seq_train.py tests a counting network on


def counts(lang, runs, seed):
    """(perfect up to n of every run, wall seconds) of one training command."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, os.path.join(ROOT, 'seq_train.py'), '--recipe', 'count', '--lang', lang,
                   '--model', 'lstm', '--runs', str(runs), '--seed', str(seed), '--out_path', folder]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
        seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(done.stderr.strip())
    found = [int(n) for n in re.findall(r'^(?:run \d+ \(seed \d+\): )?perfect up to n = (\d+)', done.stdout, re.M)]
    if len(found) != runs:
        sys.exit(f'error: expected {runs} "perfect up to n" lines from seq_train.py, found {len(found)}')
    return found, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--langs', nargs='+', default=['anbn', 'anbncn', 'anb2nc3n'],
                        choices=['anbn', 'anbncn', 'anb2n', 'anb2nc3n'], help='languages (default: the three)')
    parser.add_argument('--runs', type=int, default=16, help='runs, one seed each (default: 16)')
    parser.add_argument('--seed', type=int, default=1, help='the first seed (default: 1)')
    args = parser.parse_args()
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    print(f'seeds {args.seed}-{args.seed + args.runs - 1}, seq_train.py --recipe count --model lstm --runs {args.runs}')
    print('| language | perfect to n >= 50 | >= 100 | = 1000 (tested to) | best, median | time |')
    print('| --- | ---: | ---: | ---: | ---: | ---: |')
    for lang in args.langs:
        found, seconds = counts(lang, args.runs, args.seed)
        share = lambda least: f'{sum(n >= least for n in found)}/{args.runs}'
        print(f'| {lang} | {share(50)} | {share(100)} | {share(LIMIT)} | {max(found)}, {statistics.median(found):g} '
              f'| {seconds:.1f} s |', flush=True)
        print(f'  per seed: {" ".join(map(str, found))}', flush=True)


if __name__ == '__main__':
    main()
