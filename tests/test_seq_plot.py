"""seq_plot.py and the checkpoints it reads: damaged files, the course's bare state_dicts,
--checkpoint, names that carry the epoch, and a table of bad inputs that must each end in one line."""
import os

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

import seq_plot
from common import UserError, run_main
from kit import picture_problems, run_script
from seq_checkpoints import checkpoint_path, epoch_tag, load_checkpoint, save_checkpoint
from seq_models import LSTM_model, SRN_model

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
    assert pictures(tmp_path) == ['anb2n_srn2_100_01.png', 'anb2n_srn2_100_time.png',
                                  'anb2n_srn2_50_01.png', 'anb2n_srn2_50_time.png']
    # the end lists every file written, and the settings recorded are printed
    for out, epoch in ((first, '50'), (second, '100')):
        listed = out.split('\nwrote 2 pictures:\n')[1].split()
        assert listed == [str(tmp_path / 'plot' / f'anb2n_srn2_{epoch}_{tag}.png') for tag in ('01', 'time')]
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


def test_time_plot_legend_lies_outside_the_data(tmp_path, monkeypatch):
    figures = {}
    monkeypatch.setattr(seq_plot, 'save_png', lambda fig, path: figures.update({path: fig}))
    save(tmp_path / 'net', thousands=1)
    plot(tmp_path, '--lang', 'anb2n', '--epoch', '1')
    fig = figures[str(tmp_path / 'plot' / 'anb2n_srn2_1_time.png')]
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes:
        legend, data = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert legend.y0 >= data.y1 - 1 and not legend.overlaps(data.shrunk(0.99, 0.99))


# ---------------------------------------------------------------- every picture: size, text, key, title

def draw_all(tmp_path, monkeypatch, *flags):
    """Plot an LSTM of anb2nc3n with `flags`, saving for real -> {file name: figure}."""
    figures = {}
    real = seq_plot.save_png
    monkeypatch.setattr(seq_plot, 'save_png', lambda fig, path: figures.update({os.path.basename(path): fig})
                        or real(fig, path))
    torch.manual_seed(3)
    save(tmp_path / 'net', LSTM_model(3, 3, 3), thousands=1, lang='anb2nc3n', model='lstm', hid=3, **EXTRAS)
    plot(tmp_path, '--lang', 'anb2nc3n', '--model', 'lstm', '--hid', '3', '--epoch', '1', *flags)
    assert sorted(figures) == pictures(tmp_path)
    return figures


def test_every_picture_fits_half_a_page_readably_and_says_what_it_shows(tmp_path, monkeypatch):
    figures = draw_all(tmp_path, monkeypatch, '--analyse', '--clusters', '6', '--test_length', '5')
    assert len(figures) <= seq_plot.MAX_PICTURES
    assert {'anb2nc3n_lstm3_1_time.png', 'anb2nc3n_lstm3_1_fsm.png', 'anb2nc3n_lstm3_1_trajectory.png',
            'anb2nc3n_lstm3_1_c_trajectory.png', 'anb2nc3n_lstm3_1_fixed_points.png'} <= set(figures)
    titles = set()
    for name, fig in figures.items():
        assert not picture_problems(fig, tmp_path / 'plot' / name), name
        keys = [ax for ax in fig.axes if ax.get_legend() or hasattr(ax, '_colorbar')] + fig.legends
        assert keys, f'{name} has no legend or colour bar'
        title = fig.get_suptitle()
        assert 'LSTM, 3 hidden units, anb2nc3n' in title and 'seed 7' in title and '1,000 strings' in title, name
        titles.add(title.split('\n')[0])
    assert len(titles) == len(figures)                # no two pictures say the same


def test_all_pairs_draws_every_pair_and_three_the_default_the_widest(tmp_path, monkeypatch, capsys):
    default = set(draw_all(tmp_path, monkeypatch))
    assert '--all_pairs draws' not in capsys.readouterr().out         # the six pairs fit: nothing left out
    everything = draw_all(tmp_path / 'all', monkeypatch, '--all_pairs')
    tags = {name.split('_1_')[1][:-len('.png')] for name in everything}
    assert tags == {'01', '02', '12', '012', 'c01', 'c02', 'c12', 'c012', 'time'}
    assert len(default) == 7 and set(default) < set(everything)      # the six pairs and the time plot
    assert '--all_pairs' in seq_plot.make_parser().format_help()


def test_pairs_are_ranked_by_how_widely_their_steps_spread():
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 500))
    values = np.column_stack([a, b, a + 0.01 * b, 0.1 * c])   # unit 2 copies unit 0; unit 3 is small
    ranked = seq_plot.ranked_units(values, 2)
    assert set(ranked[:2]) == {(0, 1), (1, 2)} and ranked[-1] == (0, 2)
    kinds = [('hidden', values), ('context', values)]
    chosen = seq_plot.scatter_choice(kinds, 3, False, {('hidden', ranked[0])})
    assert chosen == [('hidden', ranked[1]), ('context', ranked[0]), ('hidden', ranked[2])]
    assert len(seq_plot.scatter_choice(kinds, 0, False, set())) == 2        # one of each kind at least


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
    assert tags('mine_') == tags(flagged) and 'time.png' in tags(flagged) and len(pictures(tmp_path)) > 2


def test_checkpoint_flag_takes_the_settings_a_checkpoint_records(tmp_path, capsys):
    path = save(tmp_path / 'elsewhere', thousands=3, lang='anbn', length=5, embed=False)
    seq_plot.main(['--checkpoint', path, '--plot_dir', str(tmp_path / 'plot'), '--num_plot', '1'])
    assert "SRN with 2 hidden units on AnBn('anbn', length=5)" in capsys.readouterr().out
    assert pictures(tmp_path) == ['anbn_srn2_3_01.png', 'anbn_srn2_3_time.png']
    with pytest.raises(UserError, match=r"lang='anbn' \(asked for 'anb2n'\)"):
        seq_plot.main(['--checkpoint', path, '--lang', 'anb2n'])



# ---------------------------------------------------------------- a course file's settings from its name

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
    assert f'{stem}_time.png' in pictures(tmp_path) and f'{stem}_01.png' in pictures(tmp_path)
    assert all(n.startswith(f'{stem}_') for n in pictures(tmp_path))
    assert out.split('\nwrote ')[1].startswith(f'{len(pictures(tmp_path))} pictures:')


def test_course_file_is_not_taken_as_the_default_language(tmp_path, capsys):
    """anbn_srn2_100.pth by --checkpoint alone is plotted as anbn, never as the default anb2n."""
    plot_course_file(tmp_path, 'anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2))
    out = capsys.readouterr().out
    assert "on AnBn('anbn', length=8)" in out and 'anb2n' not in out


def test_all_settings_typed_print_no_line_from_the_name(tmp_path, capsys):
    code, _ = plot_course_file(tmp_path, 'anbn_srn2_100.pth', lambda: SRN_model(2, 2, 2),
                               '--lang', 'anbn', '--model', 'srn', '--hid', '2')
    out = capsys.readouterr().out
    assert code == 0 and 'settings from the file name' not in out
    assert 'language and length from the flags' in out


@pytest.mark.slow
def test_course_file_name_from_the_command_line(tmp_path):
    """The script itself: exit status 0 and the line, or 2 and one line, never a traceback."""
    course_file(tmp_path, 'anbn_srn2_100.pth', SRN_model(2, 2, 2))
    course_file(tmp_path, 'weights.pth', SRN_model(2, 2, 2))
    run = lambda name: run_script('seq_plot.py', '--checkpoint', tmp_path / name, '--plot_dir', tmp_path / 'plot',
                                  '--num_plot', '1')
    done = run('anbn_srn2_100.pth')
    assert done.returncode == 0 and 'Traceback' not in done.stderr, done.stderr
    assert ('\nsettings from the file name anbn_srn2_100.pth: --lang anbn --model srn --hid 2 (--length 8'
            in done.stdout)
    assert pictures(tmp_path) == ['anbn_srn2_100_01.png', 'anbn_srn2_100_time.png']
    refused = run('weights.pth')
    assert refused.returncode == 2 and refused.stdout == ''
    assert refused.stderr.startswith(f'error: {tmp_path / "weights.pth"} is a bare state_dict') and \
        len(refused.stderr.splitlines()) == 1 and 'give the --lang' in refused.stderr


def test_checkpoints_with_or_without_the_extra_settings_load(tmp_path):
    plain = save(tmp_path, thousands=2)
    extra = save(tmp_path / 'more', thousands=2, **EXTRAS)
    assert 'seed' not in load_checkpoint(plain, {'lang': 'anb2n'})
    loaded = load_checkpoint(extra, {'lang': 'anb2n', 'hid': 2})
    assert {key: loaded[key] for key in EXTRAS} == EXTRAS
    assert (loaded['model'], loaded['hid'], loaded['symbols']) == ('srn', 2, 2)
