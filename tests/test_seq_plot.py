"""seq_plot.py and the checkpoints it reads: damaged files, the course's bare state_dicts,
--checkpoint, names that carry the epoch, and a table of bad inputs that must each end in one line."""
import contextlib
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

import seq_plot
from common import UserError, run_main
from seq_models import (LSTM_model, SRN_model, checkpoint_path, epoch_tag, load_checkpoint,
                        save_checkpoint)

torch.set_num_threads(1)
META = dict(lang='anb2n', model='srn', hid=2, embed=False, length=3, epoch=0.05)
EXTRAS = dict(seed=7, run=None, recipe='default', optim='adam', lr=0.01, schedule='cosine')


def save(folder, net=None, thousands=0.05, **changes):
    """A tiny SRN checkpoint of anb2n at checkpoint_path(folder, ...) with META (and changes)."""
    meta = {**META, 'epoch': thousands, **changes}
    net = net or SRN_model(2, meta['hid'], 2, init=0.3)
    path = checkpoint_path(str(folder), meta['lang'], meta['model'], meta['hid'], thousands)
    save_checkpoint(path, net, meta)
    return path


def plot(tmp_path, *flags):
    return seq_plot.main(['--out_path', str(tmp_path / 'net'), '--plot_dir', str(tmp_path / 'plot'),
                          '--num_plot', '2', *flags])


def pictures(tmp_path):
    return sorted(os.listdir(tmp_path / 'plot'))


# ---------------------------------------------------------------- naming

@pytest.mark.parametrize('strings', [1, 2, 15, 20, 999, 1000, 1001, 10_000, 123_456, 1_234_567])
def test_saving_and_looking_up_name_the_same_file(strings):
    """seq_train names a checkpoint from strings done / 1000; seq_plot from --epoch as typed."""
    typed = float(repr(strings / 1000))
    assert checkpoint_path('net', 'anbn', 'srn', 2, strings / 1000) == checkpoint_path('net', 'anbn', 'srn', 2, typed)
    whole, part = divmod(strings, 1000)
    assert float(epoch_tag(typed)) * 1000 == pytest.approx(strings)
    assert epoch_tag(typed) == (str(whole) if not part else f'{whole}.{part:03d}'.rstrip('0'))


@pytest.mark.parametrize('typed', [0.0015, 0.0025, 2.0005, 0.02, 7.0])
def test_an_epoch_between_strings_finds_what_it_saved(typed):
    """seq_train trains round(1000 x --epoch) strings and saves at strings / 1000."""
    assert checkpoint_path('net', 'anbn', 'lstm', 3, typed) == checkpoint_path('net', 'anbn', 'lstm', 3,
                                                                               round(typed * 1000) / 1000)


def test_pictures_of_two_epochs_do_not_overwrite_each_other(tmp_path, capsys):
    save(tmp_path / 'net', thousands=50)
    save(tmp_path / 'net', thousands=100)
    plot(tmp_path, '--lang', 'anb2n', '--epoch', '50')
    first = capsys.readouterr().out
    plot(tmp_path, '--lang', 'anb2n', '--epoch', '100')
    second = capsys.readouterr().out
    assert pictures(tmp_path) == ['anb2n_srn2_100_01.jpg', 'anb2n_srn2_100_time.jpg',
                                  'anb2n_srn2_50_01.jpg', 'anb2n_srn2_50_time.jpg']
    # the end lists every file written, and the settings recorded are printed
    for out, epoch in ((first, '50'), (second, '100')):
        listed = out.split('\nwrote 2 pictures:\n')[1].split()
        assert listed == [str(tmp_path / 'plot' / f'anb2n_srn2_{epoch}_{tag}.jpg') for tag in ('01', 'time')]
    assert 'trained on 50,000 strings' in first


def test_found_hint_sorts_by_thousands_and_shows_the_newest(tmp_path):
    folder = tmp_path / 'net'
    folder.mkdir()
    for k in [2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]:
        (folder / f'anb2n_srn2_{k}.pth').touch()
    (folder / 'anb2n_lstm2_500.pth').touch()           # another network of the language: not listed
    with pytest.raises(UserError) as err:
        plot(tmp_path, '--lang', 'anb2n', '--epoch', '150')
    assert str(err.value).endswith('found: (5 older), anb2n_srn2_50.pth, anb2n_srn2_60.pth, '
                                   'anb2n_srn2_70.pth, anb2n_srn2_80.pth, anb2n_srn2_90.pth, anb2n_srn2_100.pth')
    # no checkpoint of that network: those of the language, the other network's too
    with pytest.raises(UserError, match=r'found: \(6 older\), anb2n_srn2_60.pth, .*, anb2n_srn2_100.pth, anb2n_lstm2_500.pth$'):
        plot(tmp_path, '--lang', 'anb2n', '--hid', '3', '--epoch', '1')


# ---------------------------------------------------------------- what is printed and drawn

def test_settings_and_lstm_gate_blocks_are_printed(tmp_path, capsys):
    torch.manual_seed(0)
    net = LSTM_model(2, 3, 2)
    path = save(tmp_path / 'net', net, thousands=1, model='lstm', hid=3, **EXTRAS)
    plot(tmp_path, '--lang', 'anb2n', '--model', 'lstm', '--hid', '3', '--epoch', '1')
    out = capsys.readouterr().out
    assert out.startswith(f'{path}: LSTM with 3 hidden units on AnBn(\'anb2n\', length=3)\n')
    assert 'trained on 1,000 strings, seed 7, recipe default, optim adam, lr 0.01, schedule cosine\n' in out
    W = net.W.detach().numpy()
    with np.printoptions(precision=3, suppress=True):
        blocks = ''.join(f' {gate}:\n{W[:, 3 * g:3 * g + 3]}\n' for g, gate in enumerate(seq_plot.GATES))
    assert f'W (2, 12), in four gate blocks of 3 columns:\n{blocks}U (3, 12)' in out


def test_time_plot_legend_lies_beside_the_data(tmp_path, monkeypatch):
    figures = {}
    monkeypatch.setattr(seq_plot, 'save_figure', lambda fig, path: figures.update({path: fig}))
    save(tmp_path / 'net', thousands=1)
    plot(tmp_path, '--lang', 'anb2n', '--epoch', '1')
    fig = figures[str(tmp_path / 'plot' / 'anb2n_srn2_1_time.jpg')]
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes:
        assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_help_shows_every_default_of_the_plot_flags():
    parser_help = capture_help()
    for flag in ['--checkpoint', '--num_plot', '--plot_dir', '--seed', '--run', '--show']:
        entry = parser_help.split(f'\n  {flag}', 1)[1].split('\n  --', 1)[0]
        assert '(default:' in ' '.join(entry.split()), flag


def capture_help():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        seq_plot.parse_args(['--help'])
    return out.getvalue()


# ---------------------------------------------------------------- the course's checkpoints

def course_file(folder, name, net):
    """What the course's seq_train.py saves: the bare state_dict."""
    path = os.path.join(folder, name)
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize('model', ['srn', 'lstm'])
def test_course_state_dicts_plot_by_flags_or_by_checkpoint(tmp_path, capsys, model):
    torch.manual_seed(1)
    net = SRN_model(3, 3, 3, init=0.5) if model == 'srn' else LSTM_model(3, 2, 3)
    (tmp_path / 'net').mkdir()
    hid = net.num_hid
    # the file where seq_plot's flags look ...
    course_file(tmp_path / 'net', f'anbncn_{model}{hid}_20.pth', net)
    plot(tmp_path, '--lang', 'anbncn', '--model', model, '--hid', str(hid), '--epoch', '20')
    # ... and any file by --checkpoint: model and hidden units from the weights' shapes
    path = course_file(tmp_path, 'mine.pth', net)
    seq_plot.main(['--checkpoint', path, '--lang', 'anbncn', '--plot_dir', str(tmp_path / 'plot'),
                   '--num_plot', '1'])
    out = capsys.readouterr().out
    assert f'{path}: {model.upper()} with {hid} hidden units on AnBn(\'anbncn\', length=8)' in out
    assert 'a bare state_dict' in out
    flagged = f'anbncn_{model}{hid}_20_'
    tags = lambda prefix: sorted(n[len(prefix):] for n in pictures(tmp_path) if n.startswith(prefix))
    assert tags('mine_') == tags(flagged) and 'time.jpg' in tags(flagged) and len(pictures(tmp_path)) > 2


def test_checkpoint_flag_takes_the_settings_a_checkpoint_records(tmp_path, capsys):
    path = save(tmp_path / 'elsewhere', thousands=3, lang='anbn', length=5, embed=False)
    seq_plot.main(['--checkpoint', path, '--plot_dir', str(tmp_path / 'plot'), '--num_plot', '1'])
    assert "SRN with 2 hidden units on AnBn('anbn', length=5)" in capsys.readouterr().out
    assert pictures(tmp_path) == ['anbn_srn2_3_01.jpg', 'anbn_srn2_3_time.jpg']
    with pytest.raises(UserError, match=r"lang='anbn' \(asked for 'anb2n'\)"):
        seq_plot.main(['--checkpoint', path, '--lang', 'anb2n'])



# ---------------------------------------------------------------- a course file's settings from its name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_LENGTH = "a course file name does not record it"
# file name, the network in it (built with seed 0), extra flags, the line printed, the network plotted
NAMED = {
    'anbn srn': ('anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2), [],
                 'settings from the file name anbn_srn2_100.pth: --lang anbn --model srn --hid 2 '
                 f"(--length 8, anbn's default: {NO_LENGTH})",
                 "SRN with 2 hidden units on AnBn('anbn', length=8)"),
    'anb2nc3n lstm': ('anb2nc3n_lstm3_50.pth', lambda: LSTM_model(3, 3, 3), [],
                      'settings from the file name anb2nc3n_lstm3_50.pth: --lang anb2nc3n --model lstm --hid 3 '
                      f"(--length 4, anb2nc3n's default: {NO_LENGTH})",
                      "LSTM with 3 hidden units on AnBn('anb2nc3n', length=4)"),
    'reber, --embed typed': ('reber_lstm2_50.pth', lambda: LSTM_model(7, 2, 7), ['--embed'],
                             'settings from the file name reber_lstm2_50.pth: --lang reber --model lstm --hid 2 '
                             f"(--length 5, reber's default: {NO_LENGTH})",
                             'LSTM with 2 hidden units on Reber(embed=True, length=5)'),
    'reber, plain': ('reber_srn2_50.pth', lambda: SRN_model(7, 2, 7), [],
                     'settings from the file name reber_srn2_50.pth: --lang reber --model srn --hid 2 '
                     f"(--length 5, reber's default: {NO_LENGTH}; plain Reber: give --embed for embedded "
                     'Reber, which a course file name does not tell apart)',
                     'SRN with 2 hidden units on Reber(embed=False, length=5)'),
    "the kit's reber_embed name": ('reber_embed_lstm2_50.pth', lambda: LSTM_model(7, 2, 7), [],
                                   'settings from the file name reber_embed_lstm2_50.pth: --lang reber --embed '
                                   f"--model lstm --hid 2 (--length 5, reber's default: {NO_LENGTH})",
                                   'LSTM with 2 hidden units on Reber(embed=True, length=5)'),
    'a flag typed wins': ('anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2), ['--lang', 'anb2n', '--length', '3'],
                          'settings from the file name anbn_srn2_100.pth: --model srn --hid 2',
                          "SRN with 2 hidden units on AnBn('anb2n', length=3)"),
    'a flag typed wins over a wrong hid': ('anbn_srn3_100.pth', lambda: SRN_model(2, 2, 2), ['--hid', '2'],
                                           'settings from the file name anbn_srn3_100.pth: --lang anbn --model srn '
                                           f"(--length 8, anbn's default: {NO_LENGTH})",
                                           "SRN with 2 hidden units on AnBn('anbn', length=8)"),
}


def plot_course_file(tmp_path, name, make, *flags):
    """Save a bare state_dict under `name` in tmp_path and plot it by --checkpoint alone (and `flags`)
    as the command line would (errors -> SystemExit) -> (exit status, stdout, stderr)."""
    torch.manual_seed(0)
    path = course_file(tmp_path, name, make())
    code = 0
    try:
        run_main(lambda: seq_plot.main(['--checkpoint', path, '--plot_dir', str(tmp_path / 'plot'),
                                        '--num_plot', '1', *flags]))
    except SystemExit as stop:
        code = stop.code
    return code, path


@pytest.mark.parametrize('case', list(NAMED))
def test_course_file_name_gives_the_settings(case, tmp_path, capsys):
    name, make, flags, line, network = NAMED[case]
    code, path = plot_course_file(tmp_path, name, make, *flags)
    out, err = capsys.readouterr()
    assert code == 0 and 'Traceback' not in err, err
    lines = out.splitlines()
    assert lines[0] == f'{path}: {network}'
    assert lines[1] == line
    stem = name[:-len('.pth')]
    assert f'{stem}_time.jpg' in pictures(tmp_path) and f'{stem}_01.jpg' in pictures(tmp_path)
    assert all(n.startswith(f'{stem}_') for n in pictures(tmp_path))
    assert out.split('\nwrote ')[1].startswith(f'{len(pictures(tmp_path))} pictures:')


def test_course_file_is_not_taken_as_the_default_language(tmp_path, capsys):
    """The issue: anbn_srn2_100.pth by --checkpoint alone was plotted as anb2n."""
    plot_course_file(tmp_path, 'anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2))
    out = capsys.readouterr().out
    assert "on AnBn('anbn', length=8)" in out and 'anb2n' not in out


def test_all_settings_typed_print_no_line_from_the_name(tmp_path, capsys):
    code, _ = plot_course_file(tmp_path, 'anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2),
                               '--lang', 'anbn', '--model', 'srn', '--hid', '2')
    out = capsys.readouterr().out
    assert code == 0 and 'settings from the file name' not in out
    assert 'language and length from the flags' in out


# (file name, network, extra flags, the end of the one line)
NAMED_WRONG = {
    'says nothing': ('weights.pth', lambda: SRN_model(2, 2, 2), [],
                     "is a bare state_dict, which records no settings, and its name is not "
                     "{lang}_{model}{hid}_{k}.pth as the course's seq_train.py writes it: give the --lang it "
                     "was trained on (its weights read 2 symbols: anbn or anb2n)"),
    'says nothing, Reber weights': ('net.pth', lambda: LSTM_model(7, 2, 7), [],
                                    'give the --lang it was trained on (its weights read 7 symbols: reber '
                                    '(with --embed for embedded Reber))'),
    'an unknown language': ('anbndn_srn2_100.pth', lambda: SRN_model(2, 2, 2), [], 'give the --lang'),
    'not srn or lstm': ('anbn_gru2_100.pth', lambda: SRN_model(2, 2, 2), [], 'give the --lang'),
    '_embed but not reber': ('anbn_embed_srn2_100.pth', lambda: SRN_model(2, 2, 2), [], 'give the --lang'),
    'its lang': ('anbncn_srn2_100.pth', lambda: SRN_model(2, 2, 2), [],
                 'does not hold what its name says: --lang anbncn, which has 3 symbols (A B C), but its weights '
                 'read 2 (give the flags it was trained with: a flag typed wins over the name)'),
    'its hid': ('anbn_srn3_100.pth', lambda: SRN_model(2, 2, 2), [],
                'does not hold what its name says: --hid 3, but its weights have 2 hidden units (give'),
    'its model': ('anb2nc3n_lstm3_50.pth', lambda: SRN_model(3, 3, 3), [],
                  'does not hold what its name says: --model lstm, but its weights are those of an SRN (give'),
    'lang and hid': ('reber_lstm4_50.pth', lambda: LSTM_model(3, 3, 3), [],
                     'says: --lang reber, which has 7 symbols (B T S X P V E), but its weights read 3; '
                     '--hid 4, but its weights have 3 hidden units (give'),
    'a --hid typed': ('anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2), ['--hid', '3'],
                      'was saved with hid=2 (asked for 3)'),
    'a --model typed': ('anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2), ['--model', 'lstm'],
                        "was saved with model='srn' (asked for 'lstm')"),
    'a --lang typed': ('anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2), ['--lang', 'anbncn'],
                       'reads 2 symbols, but anbncn has 3 (A B C): give the --lang it was trained on'),
}


@pytest.mark.parametrize('case', list(NAMED_WRONG))
def test_course_file_name_that_says_nothing_or_contradicts_the_weights(case, tmp_path, capsys):
    name, make, flags, message = NAMED_WRONG[case]
    code, path = plot_course_file(tmp_path, name, make, *flags)
    out, err = capsys.readouterr()
    assert code == 2
    assert 'Traceback' not in out + err
    assert err.splitlines() == [err.strip()] and err.startswith(f'error: {path} ')
    assert err.strip().endswith(message) if message.endswith(')') else message in err
    assert not (tmp_path / 'plot').exists() and out == ''


def test_course_file_name_from_the_command_line(tmp_path):
    """The script itself: exit status 0 and the line, or 2 and one line, never a traceback."""
    course_file(tmp_path, 'anbn_srn2_100.pth', SRN_model(2, 2, 2))
    course_file(tmp_path, 'weights.pth', SRN_model(2, 2, 2))
    run = lambda name: subprocess.run(
        [sys.executable, 'seq_plot.py', '--checkpoint', str(tmp_path / name), '--plot_dir', str(tmp_path / 'plot'),
         '--num_plot', '1'], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    done = run('anbn_srn2_100.pth')
    assert done.returncode == 0 and 'Traceback' not in done.stderr, done.stderr
    assert ('\nsettings from the file name anbn_srn2_100.pth: --lang anbn --model srn --hid 2 (--length 8'
            in done.stdout)
    assert pictures(tmp_path) == ['anbn_srn2_100_01.jpg', 'anbn_srn2_100_time.jpg']
    refused = run('weights.pth')
    assert refused.returncode == 2 and refused.stdout == ''
    assert refused.stderr.startswith(f'error: {tmp_path / "weights.pth"} is a bare state_dict') and \
        len(refused.stderr.splitlines()) == 1 and 'give the --lang' in refused.stderr


# ---------------------------------------------------------------- every bad input: one line, nothing written

class Runs:
    """Unpickling this would run code: it makes the folder `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def checkpoint_with(**changes):
    def make(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        saved = {'state_dict': SRN_model(2, 2, 2, init=0.3).state_dict(), **META, 'epoch': 1}
        for key, value in changes.items():
            value = value(saved) if callable(value) else value
            if value is None:
                del saved[key]
            else:
                saved[key] = value
        torch.save(saved, target)
    return make


def weights_with(name, value):
    return checkpoint_with(state_dict=lambda saved: {**saved['state_dict'], name: value})


def course_lstm(target):
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(LSTM_model(2, 3, 2).state_dict(), target)


def course_reber(target):
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(SRN_model(7, 2, 7).state_dict(), target)


def evil(target):
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': Runs(str(target.parent / 'RAN')), **META}, target)


def evil_plain_pickle(target):
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, 'wb') as f:
        pickle.dump({'state_dict': Runs(str(target.parent / 'RAN'))}, f)


def truncated(target):
    checkpoint_with()(target)
    target.write_bytes(target.read_bytes()[:300])


def dangling(target):
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink('gone.pth', target)


CKPT = ['--lang', 'anb2n', '--epoch', '1', '--out_path', '{net}']
# (what goes at net/anb2n_srn2_1.pth, extra flags, the message expected)
BAD = {
    'zero-byte file': (lambda t: write(t, b''), CKPT, 'it is empty (0 bytes)'),
    'text file': (lambda t: write(t, b'epoch 100\nnot weights\n'), CKPT, "not a PyTorch checkpoint (it starts with b'epoc')"),
    'random bytes': (lambda t: write(t, bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8))),
                     CKPT, 'not a PyTorch checkpoint'),
    'truncated archive': (truncated, CKPT, 'it is damaged, or not written by torch.save'),
    'code in a torch.save file': (evil, CKPT, 'holds Python objects (posix.mkdir), not only weights'),
    'code in a plain pickle': (evil_plain_pickle, CKPT, 'it is damaged, or not written by torch.save'),
    'a tensor alone': (lambda t: (t.parent.mkdir(), torch.save(torch.zeros(3), t)), CKPT,
                       'neither a checkpoint of seq_train.py nor the state_dict of an SRN or LSTM (it holds a Tensor)'),
    'state_dict a string': (checkpoint_with(state_dict='weights'), CKPT, 'its state_dict is a str, not a dict'),
    "length 'seven'": (checkpoint_with(length='seven'), CKPT, "its length is 'seven', not a whole number from 1 to 100"),
    'length 10**6': (checkpoint_with(length=10 ** 6), CKPT, 'its length is 1000000, not a whole number from 1 to 100'),
    'hid True': (checkpoint_with(hid=True), CKPT, 'its hid is True, not a whole number >= 1'),
    'epoch NaN': (checkpoint_with(epoch=float('nan')), CKPT, 'its epoch is nan, not a number > 0'),
    'no length': (checkpoint_with(length=None), CKPT, 'it records no length'),
    'a list among the settings': (checkpoint_with(lr=[0.1] * 100), CKPT, 'its lr is a list, not a plain value'),
    'seed -1': (checkpoint_with(seed=-1), CKPT, 'its seed is -1'),
    'a weight missing': (checkpoint_with(state_dict=lambda s: {k: v for k, v in s['state_dict'].items() if k != 'V'}),
                         CKPT, 'holds weights H0 U W hid_bias out_bias, not those of an SRN'),
    'shapes that do not fit': (weights_with('U', torch.zeros(2, 3)), CKPT, 'do not fit together (U (2, 3))'),
    'integer weights': (weights_with('V', torch.zeros(2, 2, dtype=torch.long)), CKPT, 'not all tensors of real numbers'),
    'NaN weights': (weights_with('V', torch.full((2, 2), float('nan'))), CKPT, 'weights V are not finite'),
    'says srn, holds an LSTM': (checkpoint_with(state_dict=lambda s: LSTM_model(2, 2, 2).state_dict()), CKPT,
                                "it records model='srn' but its weights are of model='lstm'"),
    'course LSTM asked as SRN': (course_lstm, CKPT, "was saved with model='lstm' (asked for 'srn'), hid=3 (asked for 2)"),
    'course file of another language': (course_reber, ['--checkpoint', '{path}', '--lang', 'anb2n'],
                                        'reads 7 symbols, but anb2n has 2 (A B): give the --lang'),
    'unknown language': (checkpoint_with(lang='anbndn'), ['--checkpoint', '{path}'],
                         "trained on language 'anbndn', which this kit does not have"),
    'dangling symlink': (dangling, CKPT, 'is a symbolic link to gone.pth, which does not exist'),
    'a folder': (lambda t: t.mkdir(parents=True), CKPT, 'is a folder, not a checkpoint file'),
    'missing': (lambda t: None, CKPT, 'no checkpoint'),
    '--checkpoint missing': (checkpoint_with(), ['--checkpoint', '{net}/anb2n_srn2_2.pth'],
                             'anb2n_srn2_2.pth: no such file; found: anb2n_srn2_1.pth'),
    '--checkpoint empty': (checkpoint_with(), ['--checkpoint', ''], '--checkpoint needs a file name'),
    '--checkpoint with --epoch': (checkpoint_with(), ['--checkpoint', '{path}', '--epoch', '1'],
                                  'leave out --epoch'),
    '--plot_dir a file': (checkpoint_with(), CKPT + ['--plot_dir', '{afile}'], 'is a file, not a folder'),
    '--length too long': (checkpoint_with(), CKPT + ['--length', '1000'], 'must be a whole number >= 1 and <= 100'),
    '--num_plot 0': (checkpoint_with(), CKPT + ['--num_plot', '0'], 'argument --num_plot: must be a whole number >= 1'),
    '--num_plot huge': (checkpoint_with(), CKPT + ['--num_plot', '100000'], '<= 100'),
    '--seed -1': (checkpoint_with(), CKPT + ['--seed', '-1'], 'argument --seed: must be a whole number >= 0'),
    '--seed 2**32': (checkpoint_with(), CKPT + ['--seed', str(2 ** 32)], 'argument --seed'),
    '--run -1': (checkpoint_with(), CKPT + ['--run', '-1'], 'argument --run: must be a whole number >= 0'),
    '--run nan': (checkpoint_with(), CKPT + ['--run', 'nan'], 'argument --run'),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_input_ends_in_one_line_and_writes_nothing(case, tmp_path, capsys):
    make, flags, message = BAD[case]
    target = tmp_path / 'net' / 'anb2n_srn2_1.pth'
    make(target)
    (tmp_path / 'afile').write_text('keep me')
    before = files_under(tmp_path)
    flags = [f.format(path=target, net=target.parent, afile=tmp_path / 'afile') for f in flags]
    with pytest.raises(SystemExit) as stop:
        run_main(lambda: seq_plot.main(['--plot_dir', str(tmp_path / 'plot'), *flags]))
    out, err = capsys.readouterr()
    assert stop.value.code == 2
    assert 'Traceback' not in out + err and 'weights_only' not in out + err
    lines = err.strip().splitlines()
    assert message in lines[-1]
    # one line of ours, or argparse's usage and its one line for a flag's syntax
    assert lines[-1].startswith('error: ') and len(lines) == 1 or lines[0].startswith('usage: ')
    assert files_under(tmp_path) == before            # nothing written, nothing run
    assert (tmp_path / 'afile').read_text() == 'keep me'


def test_the_tables_good_file_plots(tmp_path):
    """The file the table damages, undamaged, is a checkpoint that plots."""
    checkpoint_with()(tmp_path / 'net' / 'anb2n_srn2_1.pth')
    plot(tmp_path, *CKPT[:-2])
    assert pictures(tmp_path) == ['anb2n_srn2_1_01.jpg', 'anb2n_srn2_1_time.jpg']


def files_under(folder):
    return sorted((os.path.relpath(os.path.join(d, name), folder))
                  for d, dirs, names in os.walk(folder) for name in names + dirs)


def test_checkpoints_with_or_without_the_extra_settings_load(tmp_path):
    plain = save(tmp_path, thousands=2)
    extra = save(tmp_path / 'more', thousands=2, **EXTRAS)
    assert 'seed' not in load_checkpoint(plain, {'lang': 'anb2n'})
    loaded = load_checkpoint(extra, {'lang': 'anb2n', 'hid': 2})
    assert {key: loaded[key] for key in EXTRAS} == EXTRAS
    assert (loaded['model'], loaded['hid'], loaded['symbols']) == ('srn', 2, 2)
