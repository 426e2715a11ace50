"""How long does `seq_plot.py --analyse` take on one checkpoint?

Runs seq_plot.py as a user would (a fresh process each time, imports included) on a checkpoint
that seq_train.py wrote: once with only its usual plots, once with each analysis flag alone, and
once with everything on (--analyse), and prints each wall time. Flags other than --repeat go to
seq_plot.py (default: --lang anb2n, the default SRN after `python3 seq_train.py --lang anb2n`).

    python3 bench/bench_analysis.py
    python3 bench/bench_analysis.py --lang anb2nc3n --model lstm --out_path /tmp/net
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import seq_plot  # noqa: E402
import seq_setup  # noqa: E402

PIECES = [('plots only', []), ('--trajectory', ['--trajectory']), ('--fsm', ['--fsm']),
          ('--fixed_points', ['--fixed_points']), ('--test_length 2L', None), ('--analyse', ['--analyse'])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=1, help='runs of each; the fastest and the slowest are shown (default 1)')
    bench, flags = parser.parse_known_args()
    flags = flags or ['--lang', 'anb2n']
    args = seq_plot.parse_args(flags)                  # the flags' own errors, before any work
    seq_setup.find_checkpoint(args)                    # and the checkpoint's --length
    with tempfile.TemporaryDirectory() as plots:
        for title, extra in PIECES:
            extra = ['--test_length', str(2 * args.length)] if extra is None else extra
            command = [sys.executable, 'seq_plot.py', *flags, '--plot_dir', plots, *extra]
            times = []
            for _ in range(bench.repeat):
                start = time.perf_counter()
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
                times.append(time.perf_counter() - start)
                if done.returncode:
                    sys.exit(done.stderr.strip() or f'seq_plot.py failed with status {done.returncode}')
            spread = f'  (slowest of {len(times)}: {max(times):.2f} s)' if len(times) > 1 else ''
            print(f'{title:>18}: {min(times):6.2f} s{spread}', flush=True)
            if extra == ['--analyse']:
                print('\n'.join(done.stdout.strip().splitlines()[-5:]))


if __name__ == '__main__':
    main()
