"""The checkpoints of Part 3: their names, saving, and reading them back with every check a
damaged, hand-made or foreign file needs, so that it gets one line instead of a traceback.

seq_train.py writes `{out_path}/{lang}_{model}{hid}_{k}.pth` (k in thousands of training strings)
holding the weights and the settings they were trained with; seq_plot.py reads those, and the
bare state_dicts the course's own seq_train.py saves.
"""
import math
import os
import re
import warnings

import torch

from common import UserError, save_atomic
from seq_models import LOSSES, MODELS

MAX_LENGTH = 100        # largest --length: the course trains with 4 to 8, and seq_plot prints whole strings


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


# What a checkpoint of seq_train.py must record besides its weights: key -> (test, what it must be).
# Checked on loading, so a damaged or hand-made file gets one line, not a traceback or a runaway.
META = {
    'lang': (lambda v: isinstance(v, str) and v.isidentifier() and len(v) <= 40, 'a language name'),
    'model': (lambda v: v in MODELS, 'srn or lstm'),
    'hid': (lambda v: is_int(v) and v >= 1, 'a whole number >= 1'),
    'embed': (lambda v: isinstance(v, bool), 'True or False'),
    'length': (lambda v: is_int(v) and 1 <= v <= MAX_LENGTH, f'a whole number from 1 to {MAX_LENGTH}'),
    'epoch': (lambda v: is_number(v) and v > 0, 'a number > 0'),
}
# Settings a checkpoint may also record (seed, run, the training recipe): plain values, printed by seq_plot
OPTIONAL_META = {
    'seed': (lambda v: is_int(v) and v >= 0, 'a whole number >= 0'),
    'run': (lambda v: v is None or is_int(v) and v >= 0, 'None or a whole number >= 0'),
    'loss': (lambda v: v in LOSSES, ' or '.join(LOSSES)),
    'peephole': (lambda v: isinstance(v, bool), 'True or False'),
}
PLAIN = (type(None), bool, int, float, str)
# The weights of each model, as its state_dict names them (the course's seq_train.py saves these alone)
WEIGHT_NAMES = {'srn': ['W', 'U', 'hid_bias', 'V', 'out_bias', 'H0'], 'lstm': ['W', 'U', 'hid_bias', 'V', 'out_bias']}
PEEPHOLE = 'peep'       # the LSTM's peephole weights, when it has them
ZIP_START = b'PK\x03\x04'    # torch.save writes a zip archive; its older format is a pickle, starting 0x80
CHECKPOINT_NAME = re.compile(r'(?P<run_name>.+)_(?P<epoch>\d+(?:\.\d+)?)(?:_run(?P<run>\d+))?\.pth')


def run_name(lang, model, hid, embed=False):
    """`{lang}_{model}{hid}`, e.g. anb2n_srn2; the embedded Reber grammar is lang reber_embed."""
    return f'{lang}{"_embed" if embed else ""}_{model}{hid}'


def epoch_tag(thousands):
    """Thousands of training strings as written in a checkpoint's name, exact to one string:
    100, 0.02, 1234.567. Naming (after round(1000 x thousands) strings) and lookup (from --epoch)
    both round to whole strings here, so the same --epoch always finds what it saved."""
    whole, part = divmod(round(thousands * 1000), 1000)
    return f'{whole}' + (f'.{part:03d}'.rstrip('0') if part else '')


def checkpoint_path(out_path, lang, model, hid, thousands, embed=False):
    """`{out_path}/{lang}_{model}{hid}_{k}.pth`, k in thousands of training strings (epoch_tag)."""
    return os.path.join(out_path, f'{run_name(lang, model, hid, embed)}_{epoch_tag(thousands)}.pth')


def save_checkpoint(path, net, meta):
    """Save the weights with `meta` (lang, model, hid, embed, length, epoch and optional plain
    settings such as seed, run, lr), atomically."""
    save_atomic({'state_dict': net.state_dict(), **meta}, path)


def load_checkpoint(path, expect):
    """Load a checkpoint and check that it was trained with the settings in `expect` (a dict of
    lang, model, hid, ...); UserError with one line if it cannot be read, is damaged, or differs.

    Reads weights only (torch.load(weights_only=True)): a file holding anything else is refused,
    never run. Two kinds of file are accepted: a checkpoint of seq_train.py (a dict of the weights,
    'state_dict', and its settings, META and any plain extras) and a bare state_dict of an SRN or
    LSTM, as the course's seq_train.py saves it, which carries no settings. Either way the result
    holds 'state_dict', the settings saved, and model, hid and symbols (the number of symbols) as
    the weights' shapes give them; a bare state_dict has no 'lang'."""
    check_file(path, expect.get('lang', ''))
    saved = read_weights_only(path)
    if isinstance(saved, dict) and 'state_dict' in saved:
        weights, meta = saved['state_dict'], {k: v for k, v in saved.items() if k != 'state_dict'}
        check_meta(meta, path)
    elif isinstance(saved, dict) and saved and all(isinstance(v, torch.Tensor) for v in saved.values()):
        weights, meta = saved, {}
    else:
        raise UserError(f'{path} is neither a checkpoint of seq_train.py nor the state_dict of an '
                        f'SRN or LSTM (it holds a {type(saved).__name__})')
    shape = weights_shape(weights, path)
    wrong = [f'{key}={meta[key]!r} but its weights are of {key}={value!r}'
             for key, value in shape.items() if key in meta and meta[key] != value]
    if wrong:
        raise UserError(f'{path} is inconsistent: it records ' + ', '.join(wrong))
    saved = {'state_dict': weights, **meta, **shape}
    wrong = [f'{key}={saved[key]!r} (asked for {value!r})'
             for key, value in expect.items() if key in saved and saved[key] != value]
    if wrong:
        raise UserError(f'{path} was saved with ' + ', '.join(wrong))
    return saved


def check_file(path, lang):
    """UserError unless `path` is a file; a missing one gets a hint naming the checkpoints of the
    same network (else of the same language) in its folder, oldest to newest."""
    if os.path.islink(path) and not os.path.exists(path):
        raise UserError(f'{path} is a symbolic link to {os.readlink(path)}, which does not exist')
    if os.path.isdir(path):
        raise UserError(f'{path} is a folder, not a checkpoint file')
    if not os.path.exists(path):
        raise UserError(f'no checkpoint {path}: train it with seq_train.py and the same '
                        f'--lang/--model/--hid/--epoch/--out_path{found_hint(path, lang)}')


def found_hint(path, lang, shown=6):
    """'; found: (N older), ..., newest' for the checkpoints beside `path` of the same network, or failing
    that of language `lang` (any language when empty), sorted by thousands of strings."""
    folder, wanted = os.path.split(path)
    named = [(m, m.string) for m in map(CHECKPOINT_NAME.fullmatch, os.listdir(folder or '.')
                                        if os.path.isdir(folder or '.') else []) if m]
    same_net = CHECKPOINT_NAME.fullmatch(wanted)
    for keep in (lambda m: same_net and m['run_name'] == same_net['run_name'],
                 lambda m: not lang or m['run_name'].startswith(f'{lang}_')):
        found = sorted((float(m['epoch']), m['run_name'], int(m['run'] or -1), name)
                       for m, name in named if keep(m))
        if found:
            names = [name for *_, name in found]
            older = [f'({len(names) - shown} older)'] if len(names) > shown else []
            return '; found: ' + ', '.join(older + names[-shown:])
    return ''


def read_weights_only(path):
    """torch.load(path) allowing tensors and plain values only, so no code in the file can run;
    every way it can fail becomes one line that says what is wrong with the file."""
    try:
        with open(path, 'rb') as f:
            start = f.read(4)
        if not start:
            raise UserError(f'cannot read {path}: it is empty (0 bytes)')
        with warnings.catch_warnings():      # torch warns about pickle protocols it reads anyway
            warnings.simplefilter('ignore')
            return torch.load(path, map_location='cpu', weights_only=True)
    except OSError as err:
        raise UserError(f'cannot read {path}: {err.strerror or err}') from None
    except (UserError, MemoryError):
        raise
    except Exception as err:          # torch raises many kinds, with advice we must not pass on
        unsafe = re.search(r'GLOBAL ([\w.]+)', str(err))
        if unsafe:
            raise UserError(f'cannot read {path}: it holds Python objects ({unsafe[1]}), not only '
                            'weights and plain values, and loading them could run code') from None
        if start != ZIP_START and start[0] != 0x80:
            raise UserError(f'cannot read {path}: it is not a PyTorch checkpoint (it starts with {start!r})') from None
        raise UserError(f'cannot read {path}: it is damaged, or not written by torch.save') from None


def check_meta(meta, path):
    """UserError unless a checkpoint's settings have the keys, types and ranges of META and
    OPTIONAL_META, and any others are plain values (numbers, strings, None)."""
    missing = [key for key in META if key not in meta]
    if missing:
        raise UserError(f'{path} is not a complete checkpoint: it records no {", ".join(missing)}')
    for key, value in meta.items():
        test, wanted = META.get(key) or OPTIONAL_META.get(key) or (
            lambda v: isinstance(v, PLAIN) and not (isinstance(v, str) and len(v) > 100), 'a plain value')
        if not test(value):
            shown = repr(value) if isinstance(value, PLAIN) and len(repr(value)) < 40 else f'a {type(value).__name__}'
            raise UserError(f'{path} is damaged: its {key} is {shown}, not {wanted}')


def weights_shape(weights, path):
    """{model, hid, symbols} of an SRN's or LSTM's state_dict, from its tensors' shapes;
    UserError when they are not the weights of either, or not finite."""
    if not isinstance(weights, dict):
        raise UserError(f'{path} is damaged: its state_dict is a {type(weights).__name__}, '
                        'not a dict of weight tensors')
    names = sorted(map(str, weights))
    peephole = PEEPHOLE in names
    model = next((m for m, wanted in WEIGHT_NAMES.items()
                  if names == sorted(wanted + [PEEPHOLE] * (peephole and m == 'lstm'))), None)
    if model is None:
        raise UserError(f'{path} holds weights {" ".join(names) or "(none)"}, not those of an SRN '
                        f'({" ".join(WEIGHT_NAMES["srn"])}) or an LSTM ({" ".join(WEIGHT_NAMES["lstm"])})')
    if not all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in weights.values()):
        raise UserError(f'{path} is damaged: its weights are not all tensors of real numbers')
    W, U = weights['W'], weights['U']
    hid, symbols = (U.shape[0], W.shape[0]) if U.dim() == W.dim() == 2 else (0, 0)
    gates = 4 if model == 'lstm' else 1
    wanted = dict(W=(symbols, gates * hid), U=(hid, gates * hid), hid_bias=(gates * hid,),
                  V=(hid, symbols), out_bias=(symbols,), H0=(hid,), peep=(3 * hid,))
    wrong = [f'{name} {tuple(t.shape)}' for name, t in weights.items() if tuple(t.shape) != wanted[name]]
    if wrong or hid == 0 or symbols == 0:
        raise UserError(f'{path} is damaged: the shapes of its weights do not fit together '
                        f'({", ".join(wrong or [f"W {tuple(W.shape)}"])})')
    bad = [name for name, t in weights.items() if not torch.isfinite(t).all()]
    if bad:
        raise UserError(f'{path}: weights {" ".join(bad)} are not finite (NaN or infinity): the '
                        'training that saved them diverged, so there is nothing to look at')
    return dict(model=model, hid=hid, symbols=symbols, peephole=peephole)


def load_weights(net, saved, path):
    """Copy the weights that load_checkpoint gave into `net`, which becomes what the checkpoint
    records (peepholes, and the loss its outputs were trained with: a file without says none and
    the course's); UserError when the shapes do not fit."""
    if saved.get('peephole') and hasattr(net, 'add_peephole'):
        net.add_peephole()
    net.loss = saved.get('loss', 'nll')
    try:
        net.load_state_dict(saved['state_dict'])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()
        raise UserError(f'{path} does not fit this network: {first[-1] if first else err}') from None
