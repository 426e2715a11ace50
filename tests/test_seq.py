"""Part 3: the languages, the recurrent models, checkpoints, training and plotting."""
import os
import re

import numpy as np
import pytest
import torch

import reber
import seq_plot
import seq_setup
import seq_train
from anbn import FAMILY, AnBn
from common import UserError
from kit import run_script
from reber import Reber
from seq_checkpoints import checkpoint_path, load_checkpoint, load_weights, save_checkpoint
from seq_models import LSTM_model, SRN_model

# The Reber grammar written out again, independently of reber.py, as allowed next symbols per node
REBER_EDGES = {'start': {'T': 'a', 'P': 'b'}, 'a': {'S': 'a', 'X': 'c'}, 'b': {'T': 'b', 'V': 'd'},
               'c': {'X': 'b', 'S': 'f'}, 'd': {'P': 'c', 'V': 'f'}, 'f': {'E': 'end'}}


def reber_accepts(text):
    if not text.startswith('B'):
        return False
    node = 'start'
    for symbol in text[1:]:
        if node == 'end' or symbol not in REBER_EDGES[node]:
            return False
        node = REBER_EDGES[node][symbol]
    return node == 'end'


def steps(batch):
    """(row, col) of every real input step of a batch."""
    return np.nonzero(batch.real_steps)


# ---------------------------------------------------------------- anbn family

@pytest.mark.parametrize('name', list(FAMILY))
def test_anbn_strings_are_five_blocks_and_an_a(name):
    lang = AnBn(name, 4)
    batch = lang.batch(300, np.random.default_rng(1))
    multiples = FAMILY[name]
    ns = []
    for i in range(300):
        text = lang.spell(batch.seq[i, :batch.length[i] + 1])
        assert batch.seq[i, batch.length[i] + 1:].sum() == 0            # padding
        assert text[-1] == 'A' and len(text) == batch.length[i] + 1
        runs = [(m.group()[0], len(m.group())) for m in re.finditer(r'A+|B+|C+', text[:-1])]
        assert len(runs) == 5 * len(multiples)
        for b in range(5):
            block = runs[b * len(multiples):(b + 1) * len(multiples)]
            n = block[0][1]
            assert [s for s, _ in block] == list(lang.symbols)
            assert [count for _, count in block] == [n * m for m in multiples]
            ns.append(n)
    assert set(ns) == {1, 2, 3, 4}           # n is drawn from 1 to the maximum


@pytest.mark.parametrize('name', list(FAMILY))
def test_anbn_targets_states_and_determined_steps(name):
    lang = AnBn(name, 3)
    batch = lang.batch(200, np.random.default_rng(2))
    row, col = steps(batch)
    prob = batch.prob[row, col]
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    padding = np.ones(batch.prob.shape[:2], bool)
    padding[row, col] = False
    assert not batch.prob[padding].any() and not batch.scored[padding].any()
    assert batch.scored[row, col].all()
    reading = batch.seq[row, col]
    following = batch.seq[row, col + 1]
    # after an A the course's target is A 0.8, B 0.2; everything else is determined and right
    np.testing.assert_allclose(prob[reading == 0][:, :2], np.tile([0.8, 0.2], ((reading == 0).sum(), 1)))
    assert (batch.determined[row, col] == (reading != 0)).all()
    assert (prob[reading != 0].argmax(axis=1) == following[reading != 0]).all()
    # states: 1..n along the A's, then counting down to max_n + 1 at the block's last symbol
    state = batch.state[row, col]
    assert ((state[reading == 0] >= 1) & (state[reading == 0] <= 3)).all()
    assert (state[reading != 0] > 3).all()
    block_end = (reading != 0) & (following == 0)
    assert (state[block_end] == 4).all()


def test_anbn_bad_parameters():
    with pytest.raises(ValueError, match='length >= 1'):
        AnBn('anbn', 0)
    with pytest.raises(ValueError, match='name is one of anbn, anbncn'):
        AnBn('anbncndn', 4)
    with pytest.raises(ValueError, match='at least 1'):
        Reber(False, 0)


# ---------------------------------------------------------------- Reber

def test_reber_strings_follow_the_grammar_with_true_probabilities():
    lang = Reber(embed=False, length=1)
    batch = lang.batch(300, np.random.default_rng(3))
    texts = {lang.spell(batch.seq[i, :batch.length[i] + 1]) for i in range(300)}
    assert all(reber_accepts(t) for t in texts)
    assert {'BTXSE', 'BPVVE'} <= texts
    row, col = steps(batch)
    prob = batch.prob[row, col]
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    assert set(np.unique(prob)) <= {0.0, 0.5, 1.0}
    assert (prob[np.arange(len(row)), batch.seq[row, col + 1]] > 0).all()   # what came next was possible
    assert batch.scored[row, col].all()
    assert set(np.unique(batch.state[row, col])) == set(range(6))


def test_embedded_reber_strings_repeat_their_t_or_p():
    lang = Reber(embed=True, length=8)
    batch = lang.batch(200, np.random.default_rng(4))
    sides = set()
    for i in range(200):
        T = batch.length[i]
        text = lang.spell(batch.seq[i, :T + 1])
        assert text[0] == 'B' and text[-1] == 'E' and text[1] == text[-2] and text[1] in 'TP'
        assert reber_accepts(text[2:-2]) and len(text) - 4 >= 8
        sides.add(text[1])
        # the step after the inner E must predict the remembered T/P, and is the one step not scored
        final = T - 2
        assert batch.prob[i, final, lang.symbols.index(text[1])] == 1.0
        assert batch.determined[i, final]
        assert not batch.scored[i, final] and batch.scored[i, :T].sum() == T - 1
    assert sides == {'T', 'P'}


def test_reber_minimum_length_and_bad_length(monkeypatch):
    batch = Reber(length=12).batch(100, np.random.default_rng(5))
    assert (batch.length + 1 >= 12).all()
    monkeypatch.setattr(reber, 'MAX_ROUNDS', 5)
    with pytest.raises(UserError, match='too rare'):
        Reber(length=200).batch(3, np.random.default_rng(5))


def test_get_sequence_is_batch_of_one_and_pick_trims():
    for lang in (AnBn('anb2nc3n', 4), Reber(embed=True)):
        seq, prob, state = lang.get_sequence(np.random.default_rng(7))
        one = lang.batch(1, np.random.default_rng(7))
        assert (seq == one.seq[0]).all() and (prob == one.prob[0]).all() and (state == one.state[0]).all()
        assert len(seq) == len(prob) + 1 == len(state) + 1
        batch = lang.batch(6, np.random.default_rng(8))
        longest = batch.pick(int(batch.length.argmax()))
        shortest = batch.pick(int(batch.length.argmin()))
        assert longest.seq.shape[1] == batch.seq.shape[1] and shortest.prob.shape[1] == batch.length.min()


# ---------------------------------------------------------------- models

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_forward_shapes(dtype):
    x = torch.zeros(3, 7, 4, dtype=dtype)
    x[:, :, 0] = 1
    srn = SRN_model(4, 5, 4).to(dtype)
    hidden, output = srn(x)
    assert hidden.shape == (3, 7, 5) and output.shape == (3, 7, 4) and output.dtype == dtype
    lstm = LSTM_model(4, 5, 4).to(dtype)
    hidden, context, output = lstm(x)
    assert hidden.shape == context.shape == (3, 7, 5) and output.shape == (3, 7, 4)
    assert output.dtype == dtype


def test_models_compute_their_equations():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 3, dtype=torch.float64)
    srn = SRN_model(3, 2, 3, init=0.5).double()
    hidden, output = srn(x)
    h1 = torch.tanh(x[0, 0] @ srn.W + torch.tanh(srn.H0) @ srn.U + srn.hid_bias)
    h2 = torch.tanh(x[0, 1] @ srn.W + h1 @ srn.U + srn.hid_bias)
    torch.testing.assert_close(hidden[0], torch.stack([h1, h2]))
    torch.testing.assert_close(output[0, 1], h2 @ srn.V + srn.out_bias)
    lstm = LSTM_model(3, 2, 3).double()
    hidden, context, _ = lstm(x[:, :1])
    z = x[0, 0] @ lstm.W + lstm.hid_bias
    i, g, o = torch.sigmoid(z[:2]), torch.tanh(z[4:6]), torch.sigmoid(z[6:])    # f multiplies c_0 = 0
    torch.testing.assert_close(context[0, 0], i * g)
    torch.testing.assert_close(hidden[0, 0], o * torch.tanh(i * g))
    assert (lstm.hid_bias[2:4] == 1).all()       # forget bias starts at 1


@pytest.mark.parametrize('model', ['srn', 'lstm'])
def test_a_few_hundred_strings_lower_the_loss(model, tmp_path):
    args = seq_train.parse_args(['--lang', 'anb2n', '--length', '3', '--model', model, '--seed', '3',
                                 '--lr', '0.01', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    torch.manual_seed(3)
    net = seq_setup.build_model(args, lang)
    held_out = lang.batch(200, np.random.default_rng(99))

    def loss():
        with torch.no_grad():
            output = net(lang.one_hot(held_out.seq[:, :-1]))[-1]
            nll = -torch.log_softmax(output, 2).gather(2, torch.from_numpy(held_out.seq[:, 1:, None]))
            inside = torch.from_numpy(held_out.scored)
            return nll[..., 0][inside].mean().item()

    before = loss()
    optimizer = seq_train.make_optimizer(args, net)
    batch = lang.batch(200, np.random.default_rng(1))
    errors = [seq_train.train_string(net, optimizer, lang, batch.pick(i), args.lr, args.clip) for i in range(200)]
    assert np.isfinite(errors).all()
    assert loss() < 0.85 * before


# ---------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip_and_mismatch(tmp_path):
    net = LSTM_model(3, 3, 3)
    path = checkpoint_path(tmp_path, 'anb2nc3n', 'lstm', 3, 20)
    assert os.path.basename(path) == 'anb2nc3n_lstm3_20.pth'
    meta = dict(lang='anb2nc3n', model='lstm', hid=3, embed=False, length=4, epoch=20)
    save_checkpoint(path, net, meta)
    saved = load_checkpoint(path, dict(lang='anb2nc3n', model='lstm', hid=3, embed=False))
    assert saved['length'] == 4 and saved['epoch'] == 20
    copy = LSTM_model(3, 3, 3)
    load_weights(copy, saved, path)
    x = torch.eye(3)[None]
    torch.testing.assert_close(copy(x)[2], net(x)[2])
    with pytest.raises(UserError, match=r'hid=3 \(asked for 4\)'):
        load_checkpoint(path, dict(lang='anb2nc3n', model='lstm', hid=4))
    with pytest.raises(UserError, match='does not fit'):
        load_weights(SRN_model(3, 3, 3), saved, path)
    with pytest.raises(UserError, match='found: anb2nc3n_lstm3_20.pth'):
        load_checkpoint(checkpoint_path(tmp_path, 'anb2nc3n', 'lstm', 3, 30), dict(lang='anb2nc3n'))
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'not a checkpoint')
    with pytest.raises(UserError, match='cannot read'):
        load_checkpoint(str(broken), {})


@pytest.mark.parametrize('engine', ['fast', pytest.param('autograd', marks=pytest.mark.slow)])
def test_ctrl_c_stops_cleanly_with_whole_checkpoints(tmp_path, capsys, monkeypatch, engine):
    monkeypatch.setattr(seq_setup, 'SAVE_EVERY', 1000)
    save_checkpoints = seq_setup.save_checkpoints

    def interrupted_after_two_chunks(args, nets, runs, done):
        save_checkpoints(args, nets, runs, done)
        if done == 2000:
            raise KeyboardInterrupt

    monkeypatch.setattr(seq_setup, 'save_checkpoints', interrupted_after_two_chunks)
    with pytest.raises(SystemExit) as stop:
        seq_train.main(['--lang', 'anbn', '--length', '3', '--epoch', '5', '--engine', engine,
                        '--out_path', str(tmp_path)])
    assert stop.value.code == 130
    assert 'stopped' in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ['anbn_srn2_1.pth', 'anbn_srn2_2.pth']
    assert load_checkpoint(str(tmp_path / 'anbn_srn2_2.pth'), dict(lang='anbn'))['epoch'] == 2


# ---------------------------------------------------------------- scripts

@pytest.mark.slow
def test_seq_train_end_to_end_then_plot(tmp_path):
    out = tmp_path / 'net'
    done = run_script('seq_train.py', '--lang', 'anbn', '--length', '3', '--epoch', '0.02',
                      '--out_path', str(out))
    assert done.returncode == 0, done.stderr
    assert 'epoch: 0.02  error:' in done.stdout and 'on 1000 fresh strings: error' in done.stdout
    assert os.path.exists(out / 'anbn_srn2_0.02.pth')
    seq_plot.main(['--lang', 'anbn', '--epoch', '0.02', '--out_path', str(out),
                   '--plot_dir', str(tmp_path / 'plot'), '--num_plot', '2'])
    assert sorted(os.listdir(tmp_path / 'plot')) == ['anbn_srn2_0.02_01.png', 'anbn_srn2_0.02_time.png']


def test_seq_plot_lstm_draws_hidden_and_context_units_in_2d_and_3d(tmp_path):
    args = seq_train.parse_args(['--lang', 'anb2nc3n', '--model', 'lstm', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    save_checkpoint(checkpoint_path(tmp_path, 'anb2nc3n', 'lstm', 3, 1), seq_setup.build_model(args, lang),
                    seq_setup.checkpoint_meta(args, 1))
    plots = tmp_path / 'plot'
    seq_plot.main(['--lang', 'anb2nc3n', '--model', 'lstm', '--epoch', '1', '--out_path', str(tmp_path),
                   '--plot_dir', str(plots), '--num_plot', '1'])
    names = sorted(os.listdir(plots))
    assert names == sorted([f'anb2nc3n_lstm3_1_{tag}.png' for tag in  # the 3-D ones only with --all_pairs
                            ['01', '02', '12', 'c01', 'c02', 'c12', 'time']])
    assert all(os.path.getsize(plots / n) > 1000 for n in names)


def test_seq_plot_srn_marks_initial_state_and_checks_flags(tmp_path, capsys):
    args = seq_train.parse_args(['--lang', 'reber', '--embed', '--hid', '2', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    net = seq_setup.build_model(args, lang)
    path = checkpoint_path(tmp_path, 'reber', 'srn', 2, 5, embed=True)
    save_checkpoint(path, net, seq_setup.checkpoint_meta(args, 5))
    flags = ['--lang', 'reber', '--embed', '--hid', '2', '--epoch', '5', '--out_path', str(tmp_path),
             '--plot_dir', str(tmp_path / 'plot'), '--num_plot', '1']
    seq_plot.main(flags)
    printed = capsys.readouterr().out
    assert 'initial state tanh(H0)' in printed and 'final:' in printed
    assert sorted(os.listdir(tmp_path / 'plot')) == ['reber_embed_srn2_5_01.png', 'reber_embed_srn2_5_time.png']
    with pytest.raises(UserError, match='no checkpoint'):
        seq_plot.main(flags[:3] + ['--hid', '3'] + flags[5:])
    with pytest.raises(UserError, match='no checkpoint'):
        seq_plot.main(flags[:3] + ['--model', 'lstm'] + flags[3:])


@pytest.mark.slow
def test_a_bad_flag_is_one_line_from_the_command_line():
    """The script itself (tests/test_seq_inputs.py has every bad input, in one process)."""
    done = run_script('seq_train.py', '--lang', 'anbn', '--length', '0')
    assert done.returncode == 2 and 'Traceback' not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(
        "error: argument --length: must be a whole number >= 1 and <= 100, not '0'")
