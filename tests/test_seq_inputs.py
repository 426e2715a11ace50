"""Every bad input to seq_train.py and seq_plot.py, in one table: each ends in one line (argparse's
usage and its line for a flag's syntax), exit status 2, no traceback, and nothing written or run."""
import os
import pickle

import numpy as np
import pytest
import torch

import seq_plot
import seq_train
from kit import assert_fails_well
from seq_models import LSTM_model, SRN_model

META = dict(lang='anb2n', model='srn', hid=2, embed=False, length=3, epoch=0.05)


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


def course_file(name, make):
    """What the course's seq_train.py saves, a bare state_dict, under `name` beside the table's file."""
    def save(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(make().state_dict(), target.parent / name)
    return save


def nothing(target):
    pass


# seq_train.py: (flags, the message expected); every case also gets --out_path in tmp_path
TRAIN_CASES = {
    '--lr nan': (['--lr', 'nan'], "argument --lr: must be a number > 0 and <= 10, not 'nan'"),
    '--init inf': (['--init', 'inf'], "argument --init: must be a number >= 0 and <= 10, not 'inf'"),
    '--epoch inf': (['--epoch', 'inf'], "argument --epoch"),
    '--seed -1': (['--seed', '-1'], "argument --seed: must be a whole number >= 0"),
    '--seed 2**32': (['--seed', str(2 ** 32)], "argument --seed"),
    '--runs 0': (['--runs', '0'], "argument --runs"),
    '--hid huge': (['--hid', '100000'], "argument --hid"),
    '--length huge': (['--length', '100000000'], "argument --length: must be a whole number >= 1 and <= 100"),
    '--length 0': (['--lang', 'anbn', '--length', '0'], "argument --length: must be a whole number >= 1 and <= 100, not '0'"),
    '--warmup 1': (['--warmup', '1'], "argument --warmup"),
    '--epoch below a string': (['--epoch', '0.0001'], 'whole number of strings'),
    '--epoch between strings': (['--epoch', '0.0015'], 'whole number of strings'),
    'past the largest seed': (['--seed', str(2 ** 32 - 1), '--runs', '2'], 'largest seed'),
    'too many weights': (['--model', 'lstm', '--hid', '2000', '--runs', '16'], 'weights in all'),
    'strings beyond memory': (['--lang', 'anb2nc3n', '--length', '100', '--runs', '1024'], 'GiB'),
    '--embed without reber': (['--lang', 'anbn', '--embed'], '--embed is for --lang reber only'),
    '--out_path a file': (['--out_path', '{afile}'], 'is a file, not a folder'),
    '--gate_bias two values': (['--model', 'lstm', '--gate_bias', '1,2'], "argument --gate_bias: must be three values"),
    '--gate_bias not a number': (['--model', 'lstm', '--gate_bias', '1,x,0'], "argument --gate_bias: must be a number"),
    '--gate_bias huge': (['--model', 'lstm', '--gate_bias', '0,99,0'], "<= 10, not '99'"),
    '--loss unknown': (['--loss', 'mse'], "argument --loss: invalid choice"),
    '--select unknown': (['--select', 'best'], "argument --select: invalid choice"),
    '--keep_best -1': (['--keep_best', '-1'], "argument --keep_best: must be a whole number >= 0"),
    '--peephole for the srn': (['--peephole'], '--peephole and --gate_bias are for --model lstm'),
    '--recipe count for the srn': (['--recipe', 'count', '--lang', 'anbn'], '(set by --recipe count) are for --model lstm'),
    '--recipe count for reber': (['--recipe', 'count', '--lang', 'reber', '--model', 'lstm'], 'for the anbn family'),
    '--select count for reber': (['--select', 'count', '--lang', 'reber'], 'for the anbn family'),
}

# seq_plot.py: (what goes at net/anb2n_srn2_1.pth, flags, the message expected)
CKPT = ['--lang', 'anb2n', '--epoch', '1', '--out_path', '{net}']
PLOT_CASES = {
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
    '--counter for reber': (course_reber, ['--checkpoint', '{path}', '--lang', 'reber', '--counter'],
                            'Reber strings have none'),
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
    '--test_length 0': (checkpoint_with(), CKPT + ['--test_length', '0'],
                        'argument --test_length: must be a whole number >= 1'),
    '--clusters 0': (checkpoint_with(), CKPT + ['--clusters', '0'], 'argument --clusters: must be a whole number'),
    '--trajectory x': (checkpoint_with(), CKPT + ['--trajectory', 'x'], 'argument --trajectory: must be a whole number'),
    '--trajectory beyond --num_plot': (checkpoint_with(), CKPT + ['--trajectory', '5', '--num_plot', '3'],
                                       'needs as many plotted strings: raise --num_plot (3)'),
}



# seq_plot.py --checkpoint on a course file (a bare state_dict) whose name says nothing or contradicts its
# weights: (file name, network, extra flags, the message expected)
COURSE_FILE_CASES = {
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



CASES = {**{f'seq_train {case}': (seq_train, nothing, flags, message) for case, (flags, message) in TRAIN_CASES.items()},
         **{f'seq_plot {case}': (seq_plot, make, flags, message) for case, (make, flags, message) in PLOT_CASES.items()},
         **{f'seq_plot course file {case}': (seq_plot, course_file(name, make), ['--checkpoint', f'{{net}}/{name}', *flags],
                                             message)
            for case, (name, make, flags, message) in COURSE_FILE_CASES.items()}}


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_ends_in_one_line_and_writes_nothing(case, tmp_path, capsys):
    script, make, flags, message = CASES[case]
    target = tmp_path / 'net' / 'anb2n_srn2_1.pth'
    make(target)
    (tmp_path / 'afile').write_text('keep me')
    flags = [f.format(path=target, net=target.parent, afile=tmp_path / 'afile') for f in flags]
    outputs = ['--out_path', str(tmp_path / 'net')] if script is seq_train and '--out_path' not in flags else []
    argv = ['--plot_dir', str(tmp_path / 'plot')] * (script is seq_plot) + outputs + flags
    printed = assert_fails_well(script.main, argv, message, capsys, tmp_path, program=f'{script.__name__}.py')
    assert 'weights_only' not in printed                # torch's own hint is not passed on


def test_the_tables_good_file_plots(tmp_path):
    """The file the table damages, undamaged, is a checkpoint that plots."""
    checkpoint_with()(tmp_path / 'net' / 'anb2n_srn2_1.pth')
    seq_plot.main([*CKPT[:-1], str(tmp_path / 'net'), '--plot_dir', str(tmp_path / 'plot'), '--num_plot', '2'])
    assert sorted(os.listdir(tmp_path / 'plot')) == ['anb2n_srn2_1_01.png', 'anb2n_srn2_1_time.png']
