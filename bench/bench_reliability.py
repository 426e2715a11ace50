"""How reliably the default training solves each language: seeds 1-16 (or 17-32, --seed 17) of every
language/model the course uses, each trained with `seq_train.py --runs 16` at its defaults, and the course's own
recipe on anb2n for comparison. Prints a Markdown table (the README's) of solved runs, the median
and worst final error on 1000 fresh strings, and the wall time of the command.

    python3 bench/bench_reliability.py                       # every row (about 7 minutes)
    python3 bench/bench_reliability.py --seed 17             # seeds 17-32
    python3 bench/bench_reliability.py --only anb2n:srn reber-embed:lstm
    python3 bench/bench_reliability.py --extra "--lr 0.005"  # try other settings on every row

Solved means what seq_train.py's verdict means: every determined next symbol of 1000 fresh
strings predicted right. Run it alone: two trainings at once share the two cores.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = {       # name: seq_train.py flags
    'anb2n:srn': '--lang anb2n', 'anbn:srn': '--lang anbn', 'anbncn:srn': '--lang anbncn',
    'anb2nc3n:srn': '--lang anb2nc3n',
    'anb2n:lstm': '--lang anb2n --model lstm', 'anbn:lstm': '--lang anbn --model lstm',
    'anbncn:lstm': '--lang anbncn --model lstm', 'anb2nc3n:lstm': '--lang anb2nc3n --model lstm',
    'reber:srn': '--lang reber', 'reber:lstm': '--lang reber --model lstm',
    'reber-embed:lstm': '--lang reber --embed --model lstm',
    'reber-embed:srn': '--lang reber --embed',
    'anb2n:srn:course': '--lang anb2n --recipe course',
}
RESULT = re.compile(r'run (\d+) \(seed (\d+)\): on 1000 fresh strings: error ([\d.na]+), '
                    r'determined steps right ([\d.]+)%')


def measure(flags, seed, runs, out_path):
    """Train `runs` seeds from `seed` -> (errors, fractions right, seconds)."""
    command = [sys.executable, 'seq_train.py', *flags.split(), '--runs', str(runs), '--seed', str(seed),
               '--out_path', out_path]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f'{" ".join(command)} failed:\n{done.stderr}')
    found = RESULT.findall(done.stdout)
    return [float(e) for _, _, e, _ in found], [float(r) for _, _, _, r in found], seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', nargs='+', choices=list(ROWS), help='rows to run (default: all)')
    parser.add_argument('--extra', default='', help='more seq_train.py flags for every row')
    parser.add_argument('--seed', type=int, default=1, help='first seed (default: 1)')
    parser.add_argument('--runs', type=int, default=16, help='seeds per row (default: 16)')
    parser.add_argument('--out_path', default='/tmp/bench_reliability', help='checkpoint folder')
    args = parser.parse_args()
    seeds = f'{args.seed}-{args.seed + args.runs - 1}'
    print(f'| command: `seq_train.py ... --runs {args.runs} --seed {args.seed}` {args.extra} '
          f'| solved (seeds {seeds}) | unsolved seeds | median error | worst error | time |')
    print('|---|---|---|---|---|---|')
    for name in args.only or ROWS:
        flags = f'{ROWS[name]} {args.extra}'
        errors, right, seconds = measure(flags, args.seed, args.runs, args.out_path)
        failed = [str(args.seed + r) for r, value in enumerate(right) if value < 100]
        print(f'| `{flags.strip()}` | {args.runs - len(failed)}/{args.runs} | {" ".join(failed) or "-"} '
              f'| {statistics.median(errors):.4f} | {max(errors):.4f} | {seconds:.1f} s |', flush=True)


if __name__ == '__main__':
    main()
