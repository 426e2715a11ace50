"""seq_train.py as a student meets it: recipes, the schedule, the verdict, the output, the checks."""
import os
import re

import pytest
import torch

import seq_plot
import seq_setup
import seq_train
from common import UserError, writable_dir
from seq_checkpoints import load_checkpoint



def test_course_recipe_sets_exactly_the_course_values(tmp_path):
    args = seq_train.parse_args(['--recipe', 'course', '--out_path', str(tmp_path)])
    assert (args.optim, args.lr, args.mom, args.wd, args.init, args.schedule, args.clip) == \
        ('sgd', 0.005, 0.0, 1e-4, 0.001, 'constant', 0.0)
    assert all(seq_setup.learning_rate(args, step) == 0.005 for step in (0, 500, 99_999))
    given = seq_train.parse_args(['--recipe', 'course', '--lr', '0.01', '--out_path', str(tmp_path)])
    assert given.lr == 0.01 and given.optim == 'sgd'          # a flag given overrides the recipe


def test_default_schedule_warms_up_then_decays_along_a_cosine(tmp_path):
    args = seq_train.parse_args(['--epoch', '10', '--warmup', '0.1', '--lr', '0.02', '--decay_to', '0.1',
                                 '--out_path', str(tmp_path)])
    rate = lambda step: seq_setup.learning_rate(args, step)
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


def test_with_the_count_recipe_the_best_run_is_the_one_that_counts_furthest(tmp_path, capsys):
    args = seq_train.parse_args(['--recipe', 'count', '--lang', 'anbn', '--model', 'lstm', '--runs', '3',
                                 '--out_path', str(tmp_path)])
    results, counts = [(0.01, 1.0), (0.02, 1.0), (0.001, 1.0)], [40, 700, 90]  # run 2 the most right, run 1 counts
    seq_train.verdict(args, results, top=1)
    seq_train.count_verdict(args, counts)
    out = capsys.readouterr().out
    assert 'solved: 3 of 3 runs; best run: 1 (seed 2' in out and 'counts furthest: run 1 (seed 2' in out
    seq_train.verdict(args, results)
    assert 'best run: 2 (seed 3' in capsys.readouterr().out


@pytest.mark.slow
def test_default_run_prints_a_readable_amount_and_records_its_settings(tmp_path, capsys):
    seq_train.main(['--out_path', str(tmp_path)])
    out = capsys.readouterr().out
    verdict_agrees(out)
    lines = out.splitlines()
    assert len(lines) <= 300
    assert sum(line.startswith('epoch: ') for line in lines) == 100
    saved = load_checkpoint(str(tmp_path / 'anb2n_srn2_100.pth'), dict(lang='anb2n'))
    assert (saved['seed'], saved['recipe'], saved['lr'], saved['clip']) == (1, 'default', 0.01, 1.0)


def stated_default(parser, action):
    """What an action's help says its default is: the phrase in '(default: ...)' before any comma."""
    text = parser._get_formatter()._expand_help(action)
    found = re.search(r'\(default: ([^,)]+)', ' '.join(text.split()))
    assert found, f'{action.option_strings[0]} states no default: {text!r}'
    return found[1]


@pytest.mark.parametrize('script', [seq_train, seq_plot])
def test_every_flag_states_the_default_it_has(script):
    parser = script.make_parser()
    for action in parser._actions[1:]:                          # all but --help
        flag, stated, default = action.option_strings[0], stated_default(parser, action), action.default
        if stated == 'recipe':
            assert default is None and all(r[action.dest] is not None for r in seq_setup.RECIPES.values()), flag
        elif stated == 'per language':
            assert default is None and all(action.dest in d for d in seq_setup.DEFAULTS.values()), flag
        elif stated in ('none', 'automatic'):
            assert default is None, flag
        elif stated == 'off':
            assert default in (False, None), flag
        else:
            assert stated == str(default), flag
    epilog = parser.epilog
    for lang, defaults in seq_setup.DEFAULTS.items():
        assert re.search(rf'^  {lang} +{defaults["length"]} ', epilog, re.M), lang


def test_the_recipes_in_the_help_are_the_recipes():
    # each recipe's line of the help, given back as flags, sets exactly what the recipe sets
    parser = seq_train.make_parser()
    as_flags = lambda line: [word for flag in line.split(', ') for word in flag.split(' ')]
    for name, recipe in seq_setup.RECIPES.items():
        args = parser.parse_args(as_flags(re.search(rf'^  {name} +(--.*)$', parser.epilog, re.M)[1]))
        assert {key: getattr(args, key) for key in recipe} == recipe, name
    for lang, values in seq_setup.COUNT_DEFAULTS.items():
        args = parser.parse_args(as_flags(re.search(rf'^    {lang} +(--.*)$', parser.epilog, re.M)[1]))
        assert {key: getattr(args, key) for key in values} == values, lang


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


def test_an_output_folder_is_tried_before_the_run_and_left_as_it_was(tmp_path):
    (tmp_path / "kept").mkdir()
    assert writable_dir(str(tmp_path / "new" / "net"), "--out_path") == str(tmp_path / "new" / "net")
    assert writable_dir(str(tmp_path / "kept"), "--out_path") == str(tmp_path / "kept")
    assert os.listdir(tmp_path) == ["kept"] and os.listdir(tmp_path / "kept") == []  # what it made is gone
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file, not a folder"):
        writable_dir(str(tmp_path / "file"), "--out_path")
    with pytest.raises(UserError, match="--out_path: cannot write in"):
        writable_dir(str(tmp_path / "file" / "net"), "--out_path")
    assert sorted(os.listdir(tmp_path)) == ["file", "kept"]


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
