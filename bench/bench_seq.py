"""How much faster is the fast engine (seq_fast.py) than seq_train.py's autograd loop?

speed: per training string, SRN with 2 hidden units on anb2n and LSTM with 3 on anb2nc3n, at
       seq_train.py's defaults, both engines in one process on the same strings; prints the ratio.
runs:  what 16 runs cost compared with 1 in the fast engine alone, per training string (strings
       drawn beforehand).
command: the whole seq_train.py command at its defaults with --runs 16 against --runs 1, wall
       clock (an earlier target: 16 runs at most 3x one; since every candidate trains to the
       end with --keep_best, the SRN on anb2n takes 3.3x).
reliability (only when asked for, slow): seq_train.py at its defaults for seeds 1..N with both
       engines (the fast one as one --runs N command, the autograd one seed after seed), and the
       fraction of seeds that reach the course's error on 1000 fresh strings after training:
       at most 0.04 for the SRN on anb2n ("about 0.03"), below 0.02 for the LSTM on anb2nc3n;
       also how many solved the task (every determined symbol predicted).
Times of speed and runs are the best of several repeats, taken in turns, as CPU time of this
process, which other programs on the machine disturb less than the wall clock; with --threads 2
(the runs part in two threads, as seq_train.py does on two cores) use --wall. Run it alone.

    python3 bench/bench_seq.py                 # speed, runs and command (about 4 min)
    python3 bench/bench_seq.py --only runs --threads 2 --wall
    python3 bench/bench_seq.py --only reliability --model srn --seeds 8    # about 40 min
    python3 bench/bench_seq.py --only reliability --model lstm --seeds 3   # about 90 min
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import seq_fast  # noqa: E402
import seq_setup  # noqa: E402
import seq_train  # noqa: E402
from common import seed_everything  # noqa: E402

CASES = [('srn', 'anb2n'), ('lstm', 'anb2nc3n')]
TARGET = {'srn': 0.04, 'lstm': 0.02}     # error on fresh strings that counts as reaching the course's
RESULT = re.compile(r'on 1000 fresh strings: error ([0-9.]+), determined steps right [0-9.]+%( \(solved\))?')


def setup(model, lang_name, runs=1):
    """seq_train's defaults for this model and language -> (args, lang, nets)."""
    args = seq_train.parse_args(['--lang', lang_name, '--model', model])
    lang = seq_setup.build_language(args)
    nets = []
    for r in range(runs):
        seed_everything(args.seed + r)
        nets.append(seq_setup.build_model(args, lang))
    return args, lang, nets


def fast_trainer(args, nets, threads=None):
    return seq_fast.FastTrainer(nets, args.optim, args.lr, args.mom, args.wd, clip=args.clip, threads=threads)


def best_of(repeats, jobs, clock):
    """Run each job `repeats` times, in turns -> the best time of each."""
    best = [float('inf')] * len(jobs)
    for _ in range(repeats):
        for i, job in enumerate(jobs):
            start = clock()
            job()
            best[i] = min(best[i], clock() - start)
    return best


def speed(clock, repeats):
    print('per training string, same strings, one process (autograd in float32 as seq_train runs it)')
    for model, lang_name in CASES:
        args, lang, (net,) = setup(model, lang_name)
        count = 200 if model == 'srn' else 60
        batch = lang.batch(count, np.random.default_rng(0))
        optimizer = seq_train.make_optimizer(args, net)
        autograd = lambda: [seq_train.train_string(net, optimizer, lang, batch.pick(i), args.lr, args.clip)
                            for i in range(count)]
        fast = fast_trainer(args, [net])
        fast.train_chunk([batch])                     # compile or load from the cache
        seconds = best_of(repeats, [autograd, lambda: fast.train_chunk([batch])], clock)
        slow, quick = (s / count for s in seconds)
        print(f'  {model.upper()} {args.hid} hidden, {lang_name}: autograd {slow * 1e3:.2f} ms, '
              f'fast {quick * 1e6:.1f} us, fast is {slow / quick:.0f}x faster '
              f'(100,000 strings: {slow * 1e5:.0f} s vs {quick * 1e5:.1f} s)')


def runs_cost(clock, repeats, threads, count=1000, many=16):
    print(f'{many} runs vs 1, fast engine alone (strings drawn beforehand), per string of each run '
          f'({count} strings a chunk, {threads} thread{"s" if threads > 1 else ""})')
    for model, lang_name in CASES:
        jobs = []
        for runs in (1, many):
            args, lang, nets = setup(model, lang_name, runs)
            fast = fast_trainer(args, nets, threads)
            batches = [lang.batch(count, np.random.default_rng([args.seed + r, 0])) for r in range(runs)]
            fast.train_chunk(batches)
            jobs.append(lambda f=fast, b=batches: f.train_chunk(b))
        one, several = (s / count * 1e6 for s in best_of(repeats, jobs, clock))
        print(f'  {model.upper()} {lang_name}: 1 run {one:.1f} us, {many} runs {several:.1f} us '
              f'-> {several / one:.2f}x')


def command_cost(repeats, many=16):
    """The whole seq_train.py command at its defaults, --runs 1 against --runs many, wall clock
    (all cores, as a student runs it; output and checkpoints thrown away)."""
    print(f'whole seq_train.py commands at the defaults, --runs {many} vs --runs 1, wall clock, best of {repeats}')
    with tempfile.TemporaryDirectory() as out_path:
        for model, lang_name in CASES:
            command = [sys.executable, os.path.join(ROOT, 'seq_train.py'), '--lang', lang_name,
                       '--model', model, '--out_path', out_path]
            jobs = [lambda runs=runs: subprocess.run(command + ['--runs', str(runs)], check=True,
                                                     stdout=subprocess.DEVNULL)
                    for runs in (1, many)]
            one, several = best_of(repeats, jobs, time.perf_counter)
            print(f'  seq_train.py --lang {lang_name} --model {model}: 1 run {one:.1f} s, '
                  f'{many} runs {several:.1f} s -> {several / one:.2f}x')


def run_seq_train(*flags):
    """Run seq_train.py on one thread -> [(error, solved)] for each run it reports."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'seq_train.py'), *flags], env=env,
                          capture_output=True, text=True, check=True)
    return [(float(m[1]), bool(m[2])) for m in RESULT.finditer(done.stdout)]


def reliability(model, seeds, out_path):
    lang_name = dict(CASES)[model]
    flags = ['--lang', lang_name, '--model', model, '--out_path', out_path]
    print(f'seq_train.py {" ".join(flags[:4])} at its defaults, seeds 1..{seeds}; reached: error '
          f'{"<=" if model == "srn" else "<"} {TARGET[model]} on 1000 fresh strings')
    results = {"fast": run_seq_train(*flags, '--runs', str(seeds), '--seed', '1')}
    results['autograd'] = []
    for seed in range(1, seeds + 1):
        results["autograd"] += run_seq_train(*flags, '--engine', 'autograd', '--seed', str(seed))
        print(f'  seed {seed}: fast error {results["fast"][seed - 1][0]:.5f}, '
              f'autograd error {results["autograd"][-1][0]:.5f}', flush=True)
    for engine, runs in results.items():
        reached = sum(error <= TARGET[model] if model == 'srn' else error < TARGET[model]
                      for error, _ in runs)
        solved = sum(solved for _, solved in runs)
        print(f'  {engine}: reached {reached} of {len(runs)} seeds, solved {solved} of {len(runs)}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', choices=['speed', 'runs', 'command', 'reliability'], help='run one part only')
    parser.add_argument('--repeats', type=int, default=5, help='repeats per measurement (best is kept)')
    parser.add_argument('--threads', type=int, default=1,
                        help='threads for the runs part (default 1; with more, time with --wall)')
    parser.add_argument('--wall', action='store_true', help='time with the wall clock, not CPU time')
    parser.add_argument('--model', choices=['srn', 'lstm'], default='srn', help='reliability: which case')
    parser.add_argument('--seeds', type=int, default=8, help='reliability: seeds 1..N')
    parser.add_argument('--out_path', default=os.path.join('net', 'bench_seq'),
                        help='reliability: folder for the checkpoints it writes')
    bench = parser.parse_args()
    torch.set_num_threads(1)                # as seq_train.py does
    clock = time.perf_counter if bench.wall else time.process_time
    if bench.only in (None, 'speed'):
        speed(clock, bench.repeats)
    if bench.only in (None, 'runs'):
        runs_cost(clock, bench.repeats, bench.threads)
    if bench.only in (None, 'command'):
        command_cost(min(bench.repeats, 3))
    if bench.only == 'reliability':
        reliability(bench.model, bench.seeds, bench.out_path)


if __name__ == '__main__':
    main()
