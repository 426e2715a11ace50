"""How reliably does random-init sigmoid training solve the 3x3 check task?

Trains `check_main.py --act sig --hid 5` at its default settings once per seed
(seeds 0..N-1), exactly as the command line does, and prints how many runs
reach 100% accuracy and the median wall time of a run. Training flags other
than --seeds go to check_main's own parser, so its defaults apply unless given.

    python3 bench/bench_check.py                          # 20 seeds, check_main's defaults
    python3 bench/bench_check.py --init 0.1 --lr 0.01     # the course's settings
"""
import argparse
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from check import MLP  # noqa: E402
from check_data import init_weights, load_data  # noqa: E402
from check_main import accuracy, parse_args, train  # noqa: E402
from common import seed_everything  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds, 0..N-1 (default: 20)")
    bench, rest = parser.parse_known_args()
    args = parse_args(rest)  # check_main's flags and defaults: --hid, --init, --lr, --epoch
    torch.set_num_threads(1)  # as check_main does
    inputs, targets = load_data(os.path.join(ROOT, "check.csv"))
    print(f"sig --hid {args.hid} --init {args.init} --lr {args.lr} --epoch {args.epoch}")

    # One untimed epoch first: the optimizer's first step imports parts of torch,
    # which takes seconds once per process and would be charged to seed 0.
    train(MLP(args.hid, "sig"), inputs, targets, args.lr, 1, log=False)

    solved, seconds = 0, []
    for seed in range(bench.seeds):
        seed_everything(seed)
        net = MLP(args.hid, "sig")
        init_weights(net, args.init)
        start = time.perf_counter()
        epochs = train(net, inputs, targets, args.lr, args.epoch, log=False)
        seconds.append(time.perf_counter() - start)
        with torch.no_grad():
            final = accuracy(net(inputs), targets)
        if final == 100:
            solved += 1
        print(f"seed {seed:2d}: {final:5.1f}% after {epochs:6d} epochs, {seconds[-1]:6.2f} s", flush=True)

    print(f"reached 100%: {solved}/{bench.seeds} seeds; median wall time per run: "
          f"{statistics.median(seconds):.2f} s (total {sum(seconds):.0f} s)")


if __name__ == "__main__":
    main()
