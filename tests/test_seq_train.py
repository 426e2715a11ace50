"""seq_train.py as a student meets it: recipes, the schedule, the verdict, the output, the checks."""
import os
import re

import pytest
import torch

import seq_train
from common import UserError
from seq_models import load_checkpoint

torch.set_num_threads(1)


def test_course_recipe_sets_exactly_the_course_values(tmp_path):
    args = seq_train.parse_args(['--recipe', 'course', '--out_path', str(tmp_path)])
    assert (args.optim, args.lr, args.mom, args.wd, args.init, args.schedule, args.clip) == \
        ('sgd', 0.005, 0.0, 1e-4, 0.001, 'constant', 0.0)
    assert all(seq_train.learning_rate(args, step) == 0.005 for step in (0, 500, 99_999))
    given = seq_train.parse_args(['--recipe', 'course', '--lr', '0.01', '--out_path', str(tmp_path)])
    assert given.lr == 0.01 and given.optim == 'sgd'          # a flag given overrides the recipe


def test_default_schedule_warms_up_then_decays_along_a_cosine(tmp_path):
    args = seq_train.parse_args(['--epoch', '10', '--warmup', '0.1', '--lr', '0.02', '--decay_to', '0.1',
                                 '--out_path', str(tmp_path)])
    rate = lambda step: seq_train.learning_rate(args, step)
    assert rate(0) == pytest.approx(0.02 / 1000) and rate(499) == pytest.approx(0.01)
    assert rate(999) == pytest.approx(0.02) and rate(1000) == pytest.approx(0.02)
    assert rate(5500) == pytest.approx(0.02 * (0.1 + 0.9 * 0.5), rel=1e-3)     # half way down
    assert rate(9999) == pytest.approx(0.002)
    rates = [rate(s) for s in range(1000, 10_000)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    args.schedule = 'linear'
    assert rate(5500) == pytest.approx(0.02 * (0.1 + 0.9 * 0.5), rel=1e-3)


def verdict_agrees(out):
    """The last line is the verdict, and it says SOLVED exactly when every determined step is right."""
    right = float(re.search(r'determined steps right ([\d.]+)%', out)[1])
    last = out.strip().splitlines()[-1]
    assert last.startswith('verdict: SOLVED' if right == 100 else 'verdict: NOT SOLVED'), last
    return right


def test_the_verdict_tells_the_truth(tmp_path, capsys):
    seq_train.main(['--lang', 'anb2n', '--epoch', '0.05', '--out_path', str(tmp_path)])   # 50 strings
    out = capsys.readouterr().out
    assert verdict_agrees(out) < 100 and '--seed' in out and '--runs 8' in out
    seq_train.verdict(seq_train.parse_args(['--out_path', str(tmp_path)]), [(0.03, 1.0)])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('verdict: SOLVED')


def test_default_run_prints_a_readable_amount_and_records_its_settings(tmp_path, capsys):
    seq_train.main(['--out_path', str(tmp_path)])
    out = capsys.readouterr().out
    verdict_agrees(out)
    lines = out.splitlines()
    assert len(lines) <= 300
    assert sum(line.startswith('epoch: ') for line in lines) == 100
    saved = load_checkpoint(str(tmp_path / 'anb2n_srn2_100.pth'), dict(lang='anb2n'))
    assert (saved['seed'], saved['recipe'], saved['lr'], saved['clip']) == (1, 'default', 0.01, 1.0)


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        seq_train.parse_args(['--help'])
    text = capsys.readouterr().out
    blocks = re.split(r'\n  (?=-)', text.split('options:')[1].split('defaults per language')[0])
    for block in blocks[1:]:
        if not block.startswith(('-h', '--embed', '--verbose')):
            assert 'default' in block, block
    assert 'anb2nc3n' in text and 'course' in text       # the per-language table and the recipes


@pytest.mark.parametrize('argv, message', [
    (['--lr', 'nan'], "argument --lr: must be a number > 0 and <= 10, not 'nan'"),
    (['--init', 'inf'], "argument --init: must be a number >= 0 and <= 10, not 'inf'"),
    (['--epoch', 'inf'], "argument --epoch"),
    (['--seed', '-1'], "argument --seed: must be a whole number >= 0"),
    (['--seed', str(2 ** 32)], "argument --seed"),
    (['--runs', '0'], "argument --runs"),
    (['--hid', '100000'], "argument --hid"),
    (['--length', '100000000'], "argument --length: must be a whole number >= 1 and <= 100"),
    (['--warmup', '1'], "argument --warmup"),
])
def test_bad_numbers_are_refused_by_argparse(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        seq_train.parse_args(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    (['--epoch', '0.0001'], 'whole number of strings'),
    (['--epoch', '0.0015'], 'whole number of strings'),
    (['--seed', str(2 ** 32 - 1), '--runs', '2'], 'largest seed'),
    (['--model', 'lstm', '--hid', '2000', '--runs', '16'], 'weights in all'),
    (['--lang', 'anb2nc3n', '--length', '100', '--runs', '1024'], 'GiB'),
])
def test_impossible_settings_are_refused_before_training(argv, message, tmp_path):
    with pytest.raises(UserError, match=message):
        seq_train.parse_args(argv + ['--out_path', str(tmp_path)])


def test_an_unwritable_out_path_is_refused_before_training(tmp_path):
    afile = tmp_path / 'afile'
    afile.write_text('hi')
    with pytest.raises(UserError, match='is a file, not a folder'):
        seq_train.parse_args(['--out_path', str(afile)])
    assert afile.read_text() == 'hi'


def test_a_diverging_run_ends_with_an_error_and_no_nan_checkpoint(tmp_path, monkeypatch):
    # no flag within the accepted ranges makes these tiny networks overflow quickly, so the
    # training step is made to poison the weights, as an overflow would
    train_string = seq_train.train_string

    def overflowing(net, *args):
        error = train_string(net, *args)
        net.W.data.fill_(float('nan'))
        return error

    monkeypatch.setattr(seq_train, 'train_string', overflowing)
    with pytest.raises(UserError, match='the weights after 1000 strings are not finite'):
        seq_train.main(['--lang', 'anbn', '--length', '3', '--epoch', '2', '--engine', 'autograd',
                        '--out_path', str(tmp_path)])
    assert os.listdir(tmp_path) == []


def test_embedded_reber_gives_the_lstm_more_strings_and_only_the_lstm(tmp_path):
    flags = ['--lang', 'reber', '--embed', '--out_path', str(tmp_path)]
    assert seq_train.parse_args(flags + ['--model', 'lstm']).epoch == 200
    assert seq_train.parse_args(flags).epoch == seq_train.parse_args(flags[:2] + flags[3:]).epoch == 50


def test_a_full_disk_at_save_is_one_line_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    seq_train.main(['--lang', 'anbn', '--length', '3', '--epoch', '1', '--out_path', str(tmp_path)])
    path = tmp_path / 'anbn_srn2_1.pth'
    before = path.read_bytes()

    def full_disk(obj, file):
        with open(file, 'wb') as f:
            f.write(b'half')
        raise RuntimeError('basic_ios::clear: iostream error')   # what torch.save says on a full disk

    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(UserError, match='cannot write .*anbn_srn2_1.pth: basic_ios::clear'):
        seq_train.main(['--lang', 'anbn', '--length', '3', '--epoch', '1', '--seed', '2', '--out_path', str(tmp_path)])
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ['anbn_srn2_1.pth']
