"""The fast training engine (seq_fast.py) against the autograd loop of seq_train.py."""
import copy
import os
import re

import numpy as np
import pytest
import torch
from numba import njit

import seq_fast
import seq_setup
import seq_train
from anbn import FAMILY, AnBn
from reber import Reber
from seq_checkpoints import load_checkpoint, load_weights
from seq_models import SRN_model, determined_margins, evaluate, make_model, predict, string_errors

LANGUAGES = [AnBn(name, 3) for name in FAMILY] + [Reber(False, 5), Reber(True, 5)]


# the networks the engines are compared on: model, and for the LSTM peepholes; each with each loss
KINDS = [('srn', False), ('lstm', False), ('lstm', True)]
LOSSES = ['nll', 'bce']


def random_net(model, lang, hid, seed, peephole=False, loss='nll'):
    """A float64 network with weights far from the usual small initial ones."""
    torch.manual_seed(seed)
    net = make_model(model, lang.num_symbols, hid, peephole=peephole, loss=loss).double()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.7)
    return net


def autograd_gradients(net, lang, string):
    """Gradients of seq_train's loss of one string (a StringBatch of one), by torch's autograd."""
    net.zero_grad()
    output = net(lang.one_hot(string.seq[:, :-1]))[-1][0]
    seq_train.string_loss(net, output, string).backward()
    return {name: p.grad.numpy().copy() for name, p in net.named_parameters()}


@njit(cache=True)
def apply(function, x):
    return np.array([function(v) for v in x])


def test_exp_tanh_and_sigmoid_match_numpy():
    x = np.concatenate([np.linspace(-30, 30, 20001), np.logspace(-300, 1.3, 2000)])
    x = np.concatenate([x, -x])
    np.testing.assert_allclose(apply(seq_fast.tanh, x), np.tanh(x), rtol=2e-15, atol=0)
    np.testing.assert_allclose(apply(seq_fast.sigmoid, x), 1 / (1 + np.exp(-x)), rtol=5e-14, atol=0)
    y = -np.abs(x[np.abs(x) < 39])
    np.testing.assert_allclose(apply(seq_fast.exp_nonpositive, y), np.exp(y), rtol=5e-14, atol=0)


@pytest.mark.parametrize('loss', LOSSES)
@pytest.mark.parametrize('model, peephole', KINDS)
@pytest.mark.parametrize('lang', LANGUAGES, ids=repr)
def test_gradients_equal_autograd(model, peephole, loss, lang):
    # five runs (one vector of four plus one), each with its own weights and string
    nets = [random_net(model, lang, 3, seed, peephole, loss) for seed in range(5)]
    batches = [lang.batch(2, np.random.default_rng(seed)) for seed in range(5)]
    fast = seq_fast.FastTrainer(nets, threads=1).gradients(batches)
    for net, batch, grads in zip(nets, batches, fast):
        expected = autograd_gradients(net, lang, batch.pick(0))
        assert set(grads) == set(expected)
        for name, grad in expected.items():
            scale = np.abs(grad).max()
            assert np.abs(grads[name] - grad).max() <= 1e-8 * scale, name


class ErrorsKept:
    """Stands in for seq_setup.Log: keeps the errors train() reports, prints nothing."""

    def __init__(self):
        self.errors = []

    def tick(self, count, recent=None):
        pass

    def chunk_done(self, nets, errors, done):
        self.errors.append(errors[0])


def train_both(folder, model, lang_name, optim, count, extra=()):
    """Train the same network on the same `count` strings with seq_train.train (the autograd loop)
    and with the fast engine, both in float64, with the recipe's learning-rate schedule and
    clipping -> (initial net, autograd net, fast net, autograd errors, fast errors)."""
    args = seq_train.parse_args(['--lang', lang_name, '--model', model, '--optim', optim, '--float64',
                                 '--seed', '4', '--epoch', str(count / 1000), '--out_path', str(folder), *extra])
    lang = seq_setup.build_language(args)
    torch.manual_seed(args.seed)
    net = seq_setup.build_model(args, lang)
    assert net.W.dtype == torch.float64
    start, twin = copy.deepcopy(net), copy.deepcopy(net)
    log = ErrorsKept()
    seq_train.train(args, net, lang, seq_train.string_chunks(lang, np.random.default_rng(args.seed), count), log)
    batch = lang.batch(count, np.random.default_rng(args.seed))
    fast = seq_fast.FastTrainer([twin], optim, args.lr, args.mom, args.wd, clip=args.clip)
    fast_errors = fast.train_chunk([batch], [seq_setup.learning_rate(args, s) for s in range(count)])[0]
    fast.copy_to([twin])
    return start, net, twin, np.concatenate(log.errors), fast_errors


@pytest.mark.parametrize('model, lang_name, optim, count, extra', [
    ('srn', 'anb2n', 'sgd', 500, ['--lr', '0.1', '--mom', '0.9', '--wd', '0.001', '--recipe', 'course', '--init', '0.3']),
    ('srn', 'anb2n', 'adam', 500, ['--wd', '0.001', '--warmup', '0.2']),          # cosine, clip 1
    ('srn', 'anbn', 'adam', 500, ['--warmup', '0.1', '--schedule', 'linear', '--clip', '0.05']),
    ('lstm', 'anbncn', 'adam', 60, ['--warmup', '0.2', '--clip', '0.1']),
    ('lstm', 'anb2n', 'sgd', 100, ['--lr', '0.2', '--mom', '0.5', '--wd', '0.001', '--recipe', 'course']),
    ('srn', 'reber', 'adam', 200, ['--embed', '--warmup', '0.1', '--clip', '0.1']),
    ('lstm', 'reber', 'adam', 60, ['--embed', '--warmup', '0.2']),
    ('lstm', 'anbn', 'adam', 100, ['--peephole', '--loss', 'bce', '--gate_bias=-1,1,0', '--clip', '0.1']),
    ('lstm', 'anb2nc3n', 'sgd', 60, ['--peephole', '--lr', '0.2', '--mom', '0.5', '--recipe', 'course']),
    ('srn', 'anbncn', 'adam', 200, ['--loss', 'bce', '--warmup', '0.1']),
])
def test_training_gives_the_same_weights_as_autograd(model, lang_name, optim, count, extra, tmp_path):
    start, net, twin, errors, fast_errors = train_both(tmp_path, model, lang_name, optim, count, extra)
    for (name, p), q, p0 in zip(net.named_parameters(), twin.parameters(), start.parameters()):
        assert (p - p0).abs().max() > 1e-3, name          # training moved every parameter
        torch.testing.assert_close(q, p, rtol=1e-7, atol=1e-7, msg=name)
    np.testing.assert_allclose(fast_errors, errors, rtol=1e-7, atol=1e-8)
    if '--clip' in extra:       # the clipping mattered: without it the weights end elsewhere
        *_, unclipped, _, _ = train_both(tmp_path, model, lang_name, optim, count, [*extra, '--clip', '0'])
        assert max((p - q).abs().max() for p, q in zip(unclipped.parameters(), twin.parameters())) > 1e-3


def test_a_run_learns_the_same_alone_or_with_others():
    # 16 runs in two threads of 8; run 11 alone must follow exactly the same path
    lang = AnBn('anb2n', 4)
    nets = [random_net('srn', lang, 2, seed) for seed in range(16)]
    batches = [lang.batch(100, np.random.default_rng(seed)) for seed in range(16)]
    together = seq_fast.FastTrainer(nets, 'sgd', 0.1, 0.5, threads=2)
    assert len(together.groups) == 2
    errors = together.train_chunk(batches, np.linspace(0.1, 0.01, 100))
    alone = seq_fast.FastTrainer(nets[11:12], 'sgd', 0.1, 0.5)
    np.testing.assert_array_equal(alone.train_chunk(batches[11:12], np.linspace(0.1, 0.01, 100))[0], errors[11])
    trained = [copy.deepcopy(n) for n in nets]
    together.copy_to(trained)
    single = copy.deepcopy(nets[11])
    alone.copy_to([single])
    for p, q in zip(trained[11].parameters(), single.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(trained[10].W, trained[11].W)


@pytest.mark.parametrize('loss', LOSSES)
@pytest.mark.parametrize('model, peephole', KINDS)
def test_errors_without_training_match_torch_and_change_nothing(model, peephole, loss):
    lang = AnBn('anb2nc3n', 3)
    nets = [random_net(model, lang, 3, seed, peephole, loss) for seed in range(3)]
    batches = [lang.batch(5, np.random.default_rng(seed)) for seed in range(3)]
    fast = seq_fast.FastTrainer(nets, threads=1)
    errors = fast.errors(batches)
    for net, batch, row in zip(nets, batches, errors):
        prob_out = predict(net, lang, batch)[2]
        np.testing.assert_allclose(row, string_errors(prob_out, batch), rtol=1e-10)
    # weights and optimizer state untouched: training afterwards goes as from a fresh start
    untouched = seq_fast.FastTrainer(nets, threads=1)
    np.testing.assert_array_equal(fast.train_chunk(batches), untouched.train_chunk(batches))
    np.testing.assert_array_equal(fast.groups[0].theta, untouched.groups[0].theta)


def test_mismatched_networks_and_batches_are_refused():
    lang = AnBn('anbn', 3)
    with pytest.raises(ValueError, match='differ'):
        seq_fast.FastTrainer([SRN_model(2, 2, 2), SRN_model(2, 3, 2)])
    fast = seq_fast.FastTrainer([SRN_model(2, 2, 2)])
    with pytest.raises(ValueError, match='2 batches for 1 runs'):
        fast.train_chunk([lang.batch(3, np.random.default_rng(0))] * 2)


def test_three_runs_give_three_different_valid_checkpoints(tmp_path, capsys):
    flags = ['--lang', 'anbn', '--length', '3', '--epoch', '0.05', '--out_path', str(tmp_path)]
    seq_train.main(flags + ['--runs', '3', '--seed', '5'])
    together = capsys.readouterr().out
    assert 'best run: ' in together and 'solved: ' in together
    nets = []
    for r in range(3):
        path = seq_setup.run_checkpoint(seq_train.parse_args(flags), 0.05, r)
        assert path.endswith(f'anbn_srn2_0.05_run{r}.pth')
        saved = load_checkpoint(path, dict(lang='anbn', model='srn', hid=2, embed=False))
        nets.append(SRN_model(2, 2, 2))
        load_weights(nets[-1], saved, path)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert not torch.equal(nets[a].W, nets[b].W)
    # run 1 is what seed 6 alone gives, checkpoint and final error alike
    seq_train.main(flags + ['--seed', '6', '--out_path', str(tmp_path / 'alone')])
    alone = [line for line in capsys.readouterr().out.splitlines() if line.startswith('on 1000 fresh')]
    assert f'run 1 (seed 6): {alone[0]}' in together
    saved = load_checkpoint(str(tmp_path / 'alone' / 'anbn_srn2_0.05.pth'), {})
    for name, value in saved['state_dict'].items():
        assert torch.equal(value, nets[1].get_parameter(name).data)


def test_several_runs_with_the_autograd_engine(tmp_path, capsys):
    seq_train.main(['--lang', 'anbn', '--length', '3', '--epoch', '0.02', '--out_path', str(tmp_path),
                    '--runs', '2', '--engine', 'autograd'])
    out = capsys.readouterr().out
    assert 'run 0 (seed 1): on 1000 fresh strings' in out and 'run 1 (seed 2):' in out
    assert sorted(os.listdir(tmp_path)) == ['anbn_srn2_0.02_run0.pth', 'anbn_srn2_0.02_run1.pth']


def train_runs_in_both_engines(args, lang, seeds, kept_line, capsys):
    """The runs of these seeds, their candidates in float64, trained together by the fast engine
    and one after the other by the autograd loop -> (fast networks, the fast run's `kept_line`
    matches, autograd networks, the autograd run's matches, the selection strings)."""
    candidates = lambda: [[net.double() for net in seq_setup.build_candidates(args, lang, seed)] for seed in seeds]
    selections = [seq_setup.selection_strings(args, lang, seed) for seed in seeds]
    rngs = lambda: list(zip(*[seq_setup.make_rngs(seed) for seed in seeds]))
    fast = seq_fast.train_together(args, candidates(), lang, *rngs(), selections, list(range(len(seeds))))
    fast_kept = kept_line.findall(capsys.readouterr().out)
    auto = [seq_train.train_run(args, run_candidates, lang, rng, show_rng, selection, run)
            for run, (run_candidates, rng, show_rng, selection) in enumerate(zip(candidates(), *rngs(), selections))]
    return fast, fast_kept, auto, kept_line.findall(capsys.readouterr().out), selections


KEPT = re.compile(r'(?:run (\d+): )?kept candidate (\d+) of 3 after 150 strings \(on 1000 selection strings, '
                  r'determined steps right % / error: ([\d./ ]+)\)')


def test_candidates_give_the_same_pick_and_weights_in_both_engines(tmp_path, capsys):
    # two runs of three candidates each, compared half way through a chunk (after 150 of 300 strings)
    args = seq_train.parse_args(['--lang', 'anbn', '--length', '3', '--epoch', '0.3', '--candidates', '3',
                                 '--pick_at', '0.5', '--keep_best', '0', '--seed', '7', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    fast, fast_kept, auto, auto_kept, _ = train_runs_in_both_engines(args, lang, [7, 8], KEPT, capsys)
    assert [k for _, k, _ in fast_kept] == [k for _, k, _ in auto_kept] and len(fast_kept) == 2
    assert {k for _, k, _ in fast_kept} != {'0'}        # a pick that matters: not always the first
    for (_, _, a), (_, _, b) in zip(fast_kept, auto_kept):
        np.testing.assert_allclose(np.array(re.split('[ /]+', a), float), np.array(re.split('[ /]+', b), float),
                                   atol=1.5e-4)
    for p, q in zip(fast, auto):
        for (name, a), b in zip(p.named_parameters(), q.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7, msg=name)


def test_the_kept_candidate_was_the_best_on_the_selection_strings_and_goes_on_with_its_optimizer_state(tmp_path, capsys):
    args = seq_train.parse_args(['--lang', 'anbn', '--length', '3', '--epoch', '0.3', '--candidates', '3',
                                 '--pick_at', '0.5', '--keep_best', '0', '--seed', '8', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    rng, show_rng = seq_setup.make_rngs(8)
    selection = seq_setup.selection_strings(args, lang, 8)
    kept_net = seq_fast.train_together(args, [[n.double() for n in seq_setup.build_candidates(args, lang, 8)]],
                                       lang, [rng], [show_rng], [selection], [None])[0]
    (_, kept, _), = KEPT.findall(capsys.readouterr().out)
    # each candidate trained alone, as one run of its own, on the same strings with the same rates
    strings = lang.batch(300, np.random.default_rng(8))
    rates = [seq_setup.learning_rate(args, s) for s in range(300)]
    first_half = strings.part(0, 150)
    alone = [seq_fast.FastTrainer([net.double()], args.optim, args.lr, clip=args.clip)
             for net in seq_setup.build_candidates(args, lang, 8)]
    scores = []
    for trainer, net in zip(alone, seq_setup.build_candidates(args, lang, 8)):
        trainer.train_chunk([first_half], rates[:150])
        trainer.copy_to([net])
        error, right = evaluate(net, lang, selection)
        scores.append((-right, error))
    assert int(kept) == min(range(3), key=scores.__getitem__)
    alone[int(kept)].train_chunk([strings.part(150, 300)], rates[150:])
    twin = copy.deepcopy(kept_net)
    alone[int(kept)].copy_to([twin])
    for p, q in zip(kept_net.parameters(), twin.parameters()):
        assert torch.equal(p, q)


KEPT_SEEN = re.compile(r'(?:run (\d+): )?kept candidate (\d+) of 3 after (\d+) strings')


@pytest.mark.parametrize('select, lang_name', [('right', 'anbn'), ('count', 'anb2n')])
def test_keeping_the_best_seen_gives_the_same_networks_in_both_engines(select, lang_name, tmp_path, capsys):
    # two runs of three candidates, compared after 60, 160, 260 and 300 strings
    args = seq_train.parse_args(['--lang', lang_name, '--length', '3', '--epoch', '0.3', '--candidates', '3',
                                 '--pick_at', '0.2', '--keep_best', '100', '--select', select, '--seed', '3',
                                 '--out_path', str(tmp_path)])
    assert seq_setup.comparisons_due(args) == {60, 160, 260, 300}
    lang = seq_setup.build_language(args)
    fast, fast_kept, auto, auto_kept, selections = train_runs_in_both_engines(args, lang, [3, 4], KEPT_SEEN, capsys)
    assert fast_kept == auto_kept and len(fast_kept) == 2
    for p, q in zip(fast, auto):
        for (name, a), b in zip(p.named_parameters(), q.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7, msg=name)
    # run 0's network is its candidate `kept` as it was after `after` strings, and no candidate
    # scored better at any comparison
    strings = lang.batch(300, np.random.default_rng(3))
    rates = [seq_setup.learning_rate(args, s) for s in range(300)]
    seen = {}
    for k, net in enumerate(seq_setup.build_candidates(args, lang, 3)):
        net = net.double()
        trainer, done = seq_fast.FastTrainer([net], args.optim, args.lr, clip=args.clip), 0
        for due in sorted(seq_setup.comparisons_due(args)):
            trainer.train_chunk([strings.part(done, due)], rates[done:due])
            trainer.copy_to([net])
            seen[k, due] = seq_setup.best_candidate([net], lang, selections[0], select)[1][0], copy.deepcopy(net)
            done = due
    _, kept, after = fast_kept[0]
    score, net = seen[int(kept), int(after)]
    for a, b in zip(net.parameters(), fast[0].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)
    assert not any(seq_setup.improves(select, other, score) for other, _ in seen.values())


@pytest.mark.slow
def test_both_engines_save_the_same_checkpoints_from_the_command_line(tmp_path, run_in_process):
    # two runs of three candidates, picked half way through a chunk, in float64: the same weights
    flags = ['--lang', 'anbn', '--length', '3', '--epoch', '0.3', '--candidates', '3', '--pick_at', '0.5',
             '--runs', '2', '--seed', '7', '--float64']
    for engine in ('fast', 'autograd'):
        done = run_in_process(seq_train.main, 'seq_train.py', *flags, '--engine', engine,
                              '--out_path', tmp_path / engine)
        assert done.returncode == 0, done.stderr
    for run in (0, 1):
        name = f'anbn_srn2_0.3_run{run}.pth'
        fast, auto = (load_checkpoint(str(tmp_path / engine / name), {}) for engine in ('fast', 'autograd'))
        assert fast['engine'] == 'fast' and auto['engine'] == 'autograd'
        for key, value in fast['state_dict'].items():
            assert value.dtype == torch.float64
            torch.testing.assert_close(auto['state_dict'][key], value, rtol=1e-7, atol=1e-7, msg=key)


def test_a_damaged_compile_cache_is_cleared_and_other_errors_are_not(monkeypatch, tmp_path, capsys):
    args = seq_train.parse_args(['--lang', 'anbn', '--length', '3', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    nets = [SRN_model(2, 2, 2)]
    cleared = []
    monkeypatch.setattr(seq_fast, 'clear_cache', lambda: cleared.append(1) or 0)
    monkeypatch.setattr(seq_fast.importlib, 'reload', lambda module: module)

    def failing(error, in_cache):
        calls = []

        def errors(self, batches):
            calls.append(1)
            if len(calls) == 1:
                if in_cache:        # raised as if by numba's cache loader
                    exec(compile('raise error', seq_fast.os.path.join('numba', 'core', 'caching.py'), 'exec'))
                raise error
            return np.zeros((1, 1))
        return errors

    monkeypatch.setattr(seq_fast.FastTrainer, 'errors', failing(EOFError('Ran out of input'), True))
    seq_fast.make_engine(args, nets, lang)
    assert cleared and 'compile cache was damaged (EOFError)' in capsys.readouterr().out
    cleared.clear()
    monkeypatch.setattr(seq_fast.FastTrainer, 'errors', failing(ValueError('a bug of ours'), False))
    with pytest.raises(ValueError, match='a bug of ours'):
        seq_fast.make_engine(args, nets, lang)
    assert not cleared


@pytest.mark.parametrize('loss', LOSSES)
@pytest.mark.parametrize('model, peephole', KINDS)
def test_evaluate_matches_torch_with_strings_of_each_run(model, peephole, loss):
    lang = AnBn('anb2nc3n', 3)
    nets = [random_net(model, lang, 3, seed, peephole, loss) for seed in range(5)]
    first, second = (lang.batch(50, np.random.default_rng(seed)) for seed in (1, 2))
    batches = [first, first, second, first, second]       # lanes of one batch run together
    for net, batch, (error, right) in zip(nets, batches, seq_fast.FastTrainer(nets, threads=1).evaluate(batches)):
        expected_error, expected_right = evaluate(net, lang, batch)
        assert error == pytest.approx(expected_error, rel=1e-10) and right == pytest.approx(expected_right, abs=1e-12)
        assert 0 < right < 1                              # a test that counts: some right, some wrong


@pytest.mark.parametrize('loss', LOSSES)
@pytest.mark.parametrize('model, peephole', KINDS)
def test_margins_on_same_n_strings_match_torch(model, peephole, loss):
    lang = AnBn('anbncn', 3)
    nets = [random_net(model, lang, 3, seed, peephole, loss) for seed in range(5)]
    strings = seq_setup.same_n_strings(lang, [1, 2, 5, 9])
    fast = seq_fast.FastTrainer(nets, threads=1).margins(strings)
    for net, row in zip(nets, fast):
        np.testing.assert_allclose(row, determined_margins(net, lang, strings), rtol=1e-10, atol=1e-12)
