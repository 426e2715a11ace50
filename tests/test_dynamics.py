"""How does it count? State numbers, machine extraction, fixed points, generalisation, pictures."""
import os
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

import seq_analysis_plots as draw
import seq_dynamics as dyn
import seq_plot
import seq_setup
import seq_train
from anbn import FAMILY, AnBn
from reber import Reber
from common import UserError, pyplot
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from seq_checkpoints import checkpoint_path, save_checkpoint
from seq_models import LSTM_model, SRN_model



def true_states(lang, count, seed, points=None, predicted=None):
    """States of `count` strings with the language's own numbers, the symbols that really may follow
    as the prediction, and a point per state number (a made-up network that has solved the task)."""
    batch = lang.batch(count, np.random.default_rng(seed))
    inside = batch.real_steps
    first = np.zeros_like(inside)
    first[:, 0] = True
    true = batch.state[inside]
    if points is None:
        points = np.random.default_rng(0).normal(size=(true.max() + 1, 3))[true]
    if predicted is None:
        truth, numbers = dyn.language_machine(dyn.States(points, batch.seq[:, :-1][inside], true, true,
                                                         batch.seq[:, 1:][inside], first[inside], None))
        predicted = truth.label[np.searchsorted(numbers, true)]
    return dyn.States(points, batch.seq[:, :-1][inside], true, predicted, batch.seq[:, 1:][inside],
                      first[inside], np.full(points.shape[1], 9.0))


# ---------------------------------------------------------------- state numbers

@pytest.mark.parametrize('name', list(FAMILY))
@pytest.mark.parametrize('length', [1, 2, 4])
def test_anbn_state_numbers_are_the_minimal_next_symbol_machine(name, length):
    lang = AnBn(name, length)
    batch = lang.batch(400, np.random.default_rng(length))
    rest_of_block = {}
    for i in range(400):
        T = batch.length[i]
        text = lang.spell(batch.seq[i, :T + 1])
        blocks = [m.end() for m in re.finditer(r'A+B+C*(?=A)', text)]       # where each block ends
        for t in range(T):
            end = next(e for e in blocks if e > t)
            # an A step is known by the A's read so far; any other step by the rest of its block
            future = ('A', t - text.rfind('B' if 'C' not in lang.symbols else 'C', 0, t + 1)) \
                if text[t] == 'A' else text[t + 1:end]
            rest_of_block.setdefault(future, set()).add(batch.state[i, t])
    numbers = [next(iter(s)) for s in rest_of_block.values()]
    assert all(len(s) == 1 for s in rest_of_block.values())      # one future, one number
    assert sorted(numbers) == list(range(1, lang.num_states + 1))   # one number, one future
    # and no two numbers are equivalent: minimising the language's machine merges nothing
    machine, _ = dyn.language_machine(true_states(lang, 400, length))
    assert dyn.minimise(machine)[0].num_states == machine.num_states == lang.num_states
    assert (machine.count == machine.seen).all()                    # deterministic


def test_three_letter_numbers_tell_b_from_c():
    lang = AnBn('anb2nc3n', 3)
    batch = lang.blocks(np.array([[2, 3, 1, 1, 1]]))
    state, seq = batch.state[0], batch.seq[0, :-1]
    text = lang.spell(seq)
    assert text.startswith('AABBBBCCCCCCAAABBBBBB')
    # a B with B's still to come never shares a number with a C
    inner_b = {s for t, s in enumerate(state) if text[t] == 'B' and text[t + 1] == 'B'}
    assert not inner_b & {s for t, s in enumerate(state) if text[t] == 'C'}
    words, states, _ = lang.phases()[1]            # the inner B's: the states after the others, 14 on
    assert len(lang.phases()) == 3 and words.startswith("B's read but the last") and states[0] == 14


# ---------------------------------------------------------------- machines

def test_machine_extracted_from_hand_built_states_is_the_language_machine():
    lang = AnBn('anb2n', 3)
    states = true_states(lang, 150, 1)
    machine, clusters = dyn.extract_fsm(states, clusters=lang.num_states)
    assert machine.num_states == lang.num_states == 9 and clusters == 9
    fresh = true_states(lang, 300, 2)
    comparison = dyn.compare(machine, fresh)
    assert comparison.equivalent and comparison.covered == comparison.total == 9
    assert (comparison.purity == 1).all() and dyn.fidelity(machine, fresh) == 1.0
    # its transitions: from the state of the first A, A leads to that of the second, B to 5 + 3
    state_of = {number: q for q, number in comparison.paired.items()}
    assert machine.next_state[state_of[1], 0] == state_of[2]
    assert machine.next_state[state_of[1], 1] == state_of[3 + 1 + 1]      # n = 1: one B still to come
    assert machine.next_state[state_of[4], 1] < 0                                  # the last B reads no B
    assert machine.label[state_of[3]] == 0b10 and machine.label[state_of[1]] == 0b11
    assert 'start' in dyn.transition_table(machine, lang.symbols, comparison)


def test_a_network_that_hedges_where_the_language_is_sure_is_reported():
    lang = AnBn('anb2n', 3)
    states = true_states(lang, 150, 1)
    states.predicted = np.where(states.true == 3, 0b11, states.predicted)   # A/B after the last A
    fresh = true_states(lang, 200, 2)
    fresh.predicted = np.where(fresh.true == 3, 0b11, fresh.predicted)
    machine = dyn.extract_fsm(states, clusters=lang.num_states)[0]
    comparison = dyn.compare(machine, fresh)
    assert comparison.paired is not None and not comparison.equivalent
    [(q, says, allowed)] = comparison.relabelled
    assert comparison.paired[q] == 3 and (says, allowed) == (0b11, 0b10)


def test_automatic_clusters_find_the_fewest_that_reach_the_goal():
    lang = AnBn('anbn', 3)
    states = true_states(lang, 150, 3)
    machine, clusters = dyn.extract_fsm(states, check=true_states(lang, 100, 4))
    assert machine.num_states == lang.num_states and clusters == lang.num_states
    assert dyn.extract_fsm(states, clusters=2)[0].num_states < lang.num_states


def test_minimise_merges_equivalent_states_only():
    # states 0 and 1 both predict A and go to 2 on x; 2 predicts B and goes to 0; 3 predicts A but
    # goes nowhere, so it differs from 0 and 1; 4 is the start
    next_state = np.array([[2, -1], [2, -1], [1, 0], [-1, -1], [0, 3]])
    machine = dyn.Machine(next_state, np.ones((5, 2), int), np.ones((5, 2), int),
                          np.array([1, 1, 2, 1, 0]), 4)
    merged, block = dyn.minimise(machine)
    assert merged.num_states == 3 and block[0] == block[1] != block[3]
    assert merged.start == 3 == block[4]
    assert merged.next_state[block[0], 0] == block[2] and merged.next_state[block[2], 0] == block[0]
    assert merged.count[block[0], 0] == 2                      # the merged transitions' counts add up


def test_fidelity_counts_disagreements_and_a_lost_machine():
    # one state that predicts A and loops on A; the network predicts A, then B, then A
    machine = dyn.Machine(np.array([[0, -1], [0, -1]]), np.ones((2, 2), int), np.ones((2, 2), int),
                          np.array([1, 0]), 1)
    states = dyn.States(np.zeros((6, 1)), np.array([0, 0, 0, 0, 1, 0]), np.zeros(6, int),
                        np.array([1, 2, 1, 1, 1, 1]), np.zeros(6, int),
                        np.array([True, False, False, True, False, False]), np.zeros(1))
    # string 1: right, wrong, right; string 2: right, then B has no transition: lost for the rest
    assert dyn.fidelity(machine, states) == pytest.approx(3 / 6)
    path, label = dyn.run_machine(machine, states)
    assert list(path) == [0, 0, 0, 0, -1, -1] and list(label[4:]) == [-1, -1]


def test_compare_reports_impure_states_and_missing_coverage():
    lang = AnBn('anbn', 2)
    states = true_states(lang, 100, 5)
    machine = dyn.extract_fsm(states, clusters=2)[0]
    comparison = dyn.compare(machine, true_states(lang, 100, 6))
    assert not comparison.equivalent and comparison.covered < comparison.total == 4
    assert comparison.overall_purity < 1


def test_kmeans_separates_clear_groups():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [5, 5], [0, 5]])
    points = np.repeat(centres, 30, axis=0) + rng.normal(0, 0.1, (90, 2))
    found, assign = dyn.kmeans(points, 3, rng)
    assert len(set(assign[:30])) == len(set(assign[30:60])) == len(set(assign[60:])) == 1
    assert len(set(assign)) == 3
    np.testing.assert_allclose(np.sort(found, axis=0), np.sort(centres, axis=0), atol=0.1)


# ---------------------------------------------------------------- fixed points

def hand_set_srn(U, W=None, bias=None):
    hid = len(U)
    net = SRN_model(2, hid, 2)
    with torch.no_grad():
        net.U.copy_(torch.tensor(U, dtype=torch.float32))
        net.W.copy_(torch.zeros(2, hid) if W is None else torch.tensor(W, dtype=torch.float32))
        net.hid_bias.copy_(torch.zeros(hid) if bias is None else torch.tensor(bias, dtype=torch.float32))
    return net


def test_fixed_points_of_a_hand_set_srn_with_their_classes():
    # h -> tanh(h U): unit 0 with weight 2 has fixed points 0 (eigenvalue 2) and +-h* = tanh(2 h*);
    # unit 1 with weight -0.5 only 0 (eigenvalue -0.5, the state flips sign at every step)
    net = hand_set_srn([[2.0, 0.0], [0.0, -0.5]])
    grid = np.stack(np.meshgrid(np.linspace(-0.99, 0.99, 7), np.linspace(-0.99, 0.99, 7)), -1).reshape(-1, 2)
    found = [fp for fp in dyn.fixed_points(net, 2, grid) if fp.symbol == 0]
    h_star = 0.9575040240772687                                 # tanh(2 h) = h, h > 0
    assert len(found) == 3
    by_place = {round(float(fp.point[0]), 6): fp for fp in found}
    assert set(by_place) == {round(-h_star, 6), 0.0, round(h_star, 6)}
    np.testing.assert_allclose(sorted(by_place[0.0].eigenvalues.real), [-0.5, 2.0], atol=1e-6)
    assert by_place[0.0].kind == 'saddle, oscillating'
    outer = by_place[round(h_star, 6)]
    np.testing.assert_allclose(sorted(outer.eigenvalues.real), [-0.5, 2 * (1 - h_star ** 2)], atol=1e-6)
    assert outer.kind == 'attracting, oscillating'
    repelling = dyn.fixed_points(hand_set_srn([[3.0, 0.0], [0.0, 1.5]]), 1, np.zeros((1, 2)))
    assert [fp.kind for fp in repelling] == ['repelling']
    assert 'eigenvalues' in dyn.describe_fixed_point(found[0], 'AB')


@pytest.mark.parametrize('peephole', [False, True])
def test_lstm_symbol_map_is_one_step_of_the_network(peephole):
    torch.manual_seed(0)
    net = LSTM_model(3, 2, 3, peephole=peephole).double()
    if peephole:
        torch.nn.init.uniform_(net.peep, -2, 2)  # large enough to matter
    x = torch.eye(3, dtype=torch.float64)[[1, 2]][None]
    hidden, context, _ = net(x)
    before = torch.cat([hidden[0, 0], context[0, 0]])
    after = dyn.symbol_map(net, 2)(before)
    torch.testing.assert_close(after, torch.cat([hidden[0, 1], context[0, 1]]))


# ---------------------------------------------------------------- generalisation

class Counter(nn.Module):
    """A hand-set a^n b^n network that counts exactly, up to `limit` A's: its hidden unit is the A's
    read minus the B's read in the block; reading a B it predicts B while that is positive, A at
    zero; reading an A it splits its prediction between A and B."""

    H0 = None                  # an SRN to seq_dynamics, whose state starts at initial_state()

    def __init__(self, limit=10 ** 6):
        super().__init__()
        self.limit = limit

    def initial_state(self):
        return torch.zeros(1)

    def forward(self, x):
        reading_a = x[..., 0] > 0
        count, after_b, counts = torch.zeros(x.shape[0]), torch.ones(x.shape[0], dtype=torch.bool), []
        for t in range(x.shape[1]):
            a = reading_a[:, t]
            count = torch.where(a, torch.where(after_b, 1.0, (count + 1).clamp(max=self.limit)), count - 1)
            after_b = ~a
            counts.append(count)
        count = torch.stack(counts, dim=1)
        b_logit = torch.where(reading_a, 0.0, torch.where(count > 0, 20.0, -20.0))
        return count[..., None], torch.stack([torch.zeros_like(b_logit), b_logit], dim=-1)


def test_generalisation_table_of_a_hand_set_perfect_counter():
    lang = AnBn('anbn', 4)
    rows = dyn.generalisation(Counter(), lang, 30)
    assert [row.n for row in rows] == list(range(1, 31))
    assert all(row.right == 1 for row in rows) and dyn.perfect_up_to(rows) == 30
    assert rows[2].steps == 5 * 3                 # the B's of five blocks of n = 3
    limited = dyn.generalisation(Counter(limit=6), lang, 10)
    assert dyn.perfect_up_to(limited) == 6 and limited[6].right < 1


# ---------------------------------------------------------------- counter machines

def test_counters_of_each_language_count_within_the_block():
    lang = AnBn('anb2nc3n', 4)
    assert dyn.counter_names(lang) == ['2#a-#b', '3#b-2#c']
    batch = seq_setup.same_n_strings(lang, [1])
    states = true_states_of(lang, batch)
    counts = dyn.count_values(lang, states)
    # one block: A BB CCC, five times; after the block both counts are back at 0
    assert counts[:6].tolist() == [[2, 0], [1, 3], [0, 6], [0, 4], [0, 2], [0, 0]]
    assert (counts[6:12] == counts[:6]).all()
    assert dyn.counter_names(AnBn('anbncn', 4)) == ['#a-#b', '#b-#c']


def true_states_of(lang, batch, points=None):
    """States of `batch` as a network that predicts the language exactly would give them."""
    inside = batch.real_steps
    first = np.zeros_like(inside)
    first[:, 0] = True
    following = batch.seq[:, 1:][inside]
    predicted = np.where(batch.seq[:, :-1][inside] == 0, 0b11, 1 << following)
    points = np.zeros((inside.sum(), 1)) if points is None else points
    return dyn.States(points, batch.seq[:, :-1][inside], batch.state[inside], predicted, following,
                      first[inside], np.zeros(points.shape[1]), following)


def test_counter_machine_read_off_a_hand_made_counting_state_counts_far_beyond():
    lang = AnBn('anbncn', 4)
    batch = seq_setup.same_n_strings(lang, range(1, 6))
    plain = true_states_of(lang, batch)
    counts = dyn.count_values(lang, plain)
    phase = dyn.phase_keys(plain)[0]
    noise = np.random.default_rng(0).normal(size=len(counts))
    # unit 0: 2 (#a-#b) plus a jump per phase; unit 1 carries #b-#c and a little of #a-#b; unit 2 noise
    points = np.column_stack([2 * counts[:, 0] + phase % 7, -counts[:, 1] + 0.3 * counts[:, 0], noise])
    machine = dyn.extract_counter_machine(true_states_of(lang, batch, points), lang)
    assert machine.names == ['#a-#b', '#b-#c'] and machine.units.tolist() == [0, 1]
    assert machine.r2[2] < 0.5 and np.isclose(machine.slopes[0, 0], 2)
    assert [lang.symbols[s] + '>' + dyn.spell_mask(m, lang.symbols) for s, m in machine.phases] == \
        ['A>A/B', 'B>B', 'B>C', 'C>A', 'C>C']
    np.testing.assert_allclose(machine.change[machine.start, 0], [1, 0], atol=1e-9)   # an A: #a-#b + 1
    far = seq_setup.same_n_strings(lang, [3, 40])
    predicted = dyn.run_counter_machine(machine, far.seq, far.length)
    checked = far.real_steps & far.determined
    assert (predicted[checked] == 1 << far.seq[:, 1:][checked]).all()
    table = dyn.counter_table(machine, lang.symbols)
    assert 'c0 = #a-#b, in unit 0 (slope 2.000 a count' in table
    assert re.search(r'^ +1 +B +c0 -1\.000 \(-1\) c1 \+1\.000 \(\+1\) +c0=0 c1>0: 2  c0>0 c1>0: 1$', table, re.M)


def test_counter_fidelity_of_a_hand_set_counter_and_of_one_that_stops():
    lang = AnBn('anbn', 4)
    batch = seq_setup.same_n_strings(lang, range(1, 11))
    machine = dyn.extract_counter_machine(dyn.collect_states(Counter(), lang, batch), lang)
    assert machine.units.tolist() == [0]
    ns, agree, steps = dyn.counter_fidelity(Counter(), lang, machine, 60, chunk=25)
    assert ns.tolist() == list(range(1, 61)) and (agree == steps).all() and steps[2] == 5 * 3
    ns, agree, steps = dyn.counter_fidelity(Counter(limit=20), lang, machine, 30)
    assert (agree[:20] == steps[:20]).all() and (agree[20:] < steps[20:]).all()


def test_counter_flag_prints_the_machine_its_fidelity_and_draws_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(seq_plot, 'perfect_up_to', lambda net, lang: 12)
    args = seq_train.parse_args(['--lang', 'anbn', '--model', 'lstm', '--length', '3', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    torch.manual_seed(0)
    save_checkpoint(checkpoint_path(tmp_path, 'anbn', 'lstm', 2, 1), seq_setup.build_model(args, lang),
                    seq_setup.checkpoint_meta(args, 1))
    seq_plot.main(['--lang', 'anbn', '--model', 'lstm', '--epoch', '1', '--out_path', str(tmp_path),
                   '--plot_dir', str(tmp_path / 'plot'), '--num_plot', '1', '--counter'])
    printed = capsys.readouterr().out
    assert 'counter machine, read off the strings of one n, n = 1..12' in printed
    assert re.search(r'^counter fidelity: \d+\.\d\d% \(n = 1\.\.12\)$', printed.strip().splitlines()[-1])
    drawn = (tmp_path / 'plot' / 'anbn_lstm2_1_counter.png').exists()
    assert drawn == ('counters: none' not in printed)


def test_counter_figure_names_its_axes_and_fits_half_a_page():
    lang = AnBn('anbn', 4)
    states = dyn.collect_states(Counter(), lang, seq_setup.same_n_strings(lang, range(1, 11)))
    machine = dyn.extract_counter_machine(states, lang)
    plt = pyplot(False)
    fig = draw.counter_figure(plt, machine, states, lang, 'the run', ['hidden unit 0'])
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith('#a-#b') and ax.get_ylabel() == 'hidden unit 0 value'
    assert 'the run' in fig._suptitle.get_text() and fig.legends
    assert tuple(fig.get_size_inches()) == (draw.WIDTH, draw.HEIGHT)
    plt.close(fig)


# ---------------------------------------------------------------- seq_plot flags and pictures

def test_analyse_writes_every_picture_and_the_summary(tmp_path, capsys):
    args = seq_train.parse_args(['--lang', 'anb2n', '--length', '3', '--out_path', str(tmp_path)])
    lang = seq_setup.build_language(args)
    torch.manual_seed(0)
    save_checkpoint(checkpoint_path(tmp_path, 'anb2n', 'srn', 2, 1), seq_setup.build_model(args, lang),
                    seq_setup.checkpoint_meta(args, 1))
    plots = tmp_path / 'plot'
    seq_plot.main(['--lang', 'anb2n', '--epoch', '1', '--out_path', str(tmp_path), '--plot_dir', str(plots),
                   '--num_plot', '2', '--analyse', '--trajectory', '2'])
    printed = capsys.readouterr().out
    names = sorted(os.listdir(plots))
    assert {f'anb2n_srn2_1_{tag}.png' for tag in ['trajectory', 'fsm', 'fixed_points', 'generalise']} <= set(names)
    assert all(os.path.getsize(plots / n) > 1000 for n in names)
    tail = printed.strip().splitlines()[-5:]
    assert [line.split(':')[0] for line in tail[:4]] == ['states', 'fidelity', 'purity', 'covered']
    assert re.fullmatch(r'perfect up to n = \d', tail[-1])
    assert 'trained on n <= 3' in printed and re.search(r'^ {14}6 ', printed, re.M)   # up to twice 3


def test_analysis_flags_that_cannot_be_done_are_refused():
    def checked(argv, length):
        args = seq_plot.parse_args(argv)
        args.length = length                  # as find_checkpoint settles it
        seq_plot.check_analysis_flags(args)
        return args

    with pytest.raises(UserError, match='--num_plot'):
        checked(['--lang', 'anb2n', '--trajectory', '5', '--num_plot', '3'], 4)
    with pytest.raises(UserError, match='too rare'):
        checked(['--lang', 'reber', '--test_length', '100'], 5)
    assert checked(['--lang', 'anbn', '--analyse'], 8).test_length == 16
    assert checked(['--lang', 'reber', '--analyse'], 5).test_length == 30


# ---------------------------------------------------------------- pictures

def diagram(lang, seed=1):
    """The state diagram of the language's own machine, extracted from made-up states -> (figure,
    node circles by extracted state, the language state of each, arrows)."""
    from matplotlib.patches import Circle, FancyArrowPatch
    states = true_states(lang, 150, seed)
    machine, _ = dyn.extract_fsm(states, clusters=len(np.unique(states.true)))
    comparison = dyn.compare(machine, true_states(lang, 300, seed + 1))
    fig = draw.fsm_figure(pyplot(), machine, comparison, lang, 'a hand-made network')
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    nodes = {p.get_gid().split()[1]: p for p in ax.patches if isinstance(p, Circle) and p.get_gid()}
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    return fig, nodes, {str(q): int(comparison.match[q]) for q in range(machine.num_states)}, arrows


@pytest.mark.parametrize('lang', [AnBn('anb2n', 3), Reber()], ids=repr)
def test_state_diagram_has_a_row_per_phase_in_count_order_and_no_arrow_through_a_node(lang):
    fig, nodes, language, arrows = diagram(lang)
    for group in draw.state_groups(lang):
        places = [nodes[q].center for number in group.states for q, n in language.items() if n == number]
        assert len(places) == len(group.states)
        assert len({y for _, y in places}) == 1                             # one row
        assert all(x1 < x2 for (x1, _), (x2, _) in zip(places, places[1:]))  # in count order
    assert len({node.center[1] for node in nodes.values()}) == len(draw.state_groups(lang))   # start in a row
    pairs = [(a.patchA, a.patchB) for a in arrows]
    assert len(pairs) == len(set(pairs))                    # one arrow for each pair of states
    for arrow in arrows:
        path = arrow.get_path()                             # in data coordinates
        points = np.vstack([curve(np.linspace(0, 1, 30)) for curve, _ in path.iter_bezier()])
        for node in nodes.values():
            if node not in (arrow.patchA, arrow.patchB):
                gap = np.linalg.norm(points - node.center, axis=1).min()
                assert gap > node.radius, f'an arrow passes through node {node.get_gid()}'
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_visible()]
    assert all(group.words in texts for group in draw.state_groups(lang))


def test_big_machines_are_drawn_as_structure_without_edge_labels():
    lang = AnBn('anb2nc3n', 4)                              # 33 states, more than a picture reads
    fig, nodes, _, arrows = diagram(lang)
    assert len(nodes) == 34 and arrows
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert not labels & {'A', 'B', 'C', 'A/B'}              # no edge labels, no predictions in nodes


def test_fixed_point_labels_say_eigenvalues_not_coordinates():
    net = hand_set_srn([[2.0, 0.0], [0.0, -0.5]])
    grid = np.stack(np.meshgrid(np.linspace(-0.99, 0.99, 7), np.linspace(-0.99, 0.99, 7)), -1).reshape(-1, 2)
    points = dyn.fixed_points(net, 2, grid)
    lang = AnBn('anbn', 2)
    fig = draw.fixed_point_figure(pyplot(), net, points, true_states(lang, 20, 0, np.zeros((8, 2))), lang, 2,
                                  'a hand-set network')
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(labels) == len([p for p in points if p.symbol < 2]) > 0
    assert all(re.fullmatch(r'(attracting|repelling|saddle)\neigenvalues -?\d\.\d\d(, -?\d\.\d\d)*', t) for t in labels)


def test_a_step_that_is_not_near_a_whole_number_is_the_one_whose_running_sums_fit():
    # two strings of four A's from the start state (2): the units read 1.5 after the first A
    # (their line bends there), then 2, 3, 4; the first step's mean, 1.5, rounds either way
    before = np.array([2, 0, 0, 0] * 2)
    first = np.array([True, False, False, False] * 2)
    level = np.array([1.5, 2, 3, 4] * 2, dtype=float)[:, None]
    change = np.zeros((3, 1, 1))
    change[2, 0, 0], change[0, 0, 0] = 1.5, 2.5 / 3
    step = dyn.integer_steps(change, level, before, np.zeros(8, dtype=np.int64), first, np.cumsum(first) - 1)
    assert step[2, 0, 0] == 1 and step[0, 0, 0] == 1
