"""Your code for Parts 1 and 2 against what the assignment asks (these tests come with the
student edition). They use your files only through the course's contract: kuzu.py's NetLin,
NetFull and NetConv built with no arguments, and check.py's MLP(4, act) with set_weights().
Until you have written a part, its tests fail with a pointer to the task, e.g.
"NotImplementedError: Part 1: write NetLin: ..."; then they pass.

    python3 -m pytest -q tests/test_student.py
"""
import os

import pytest
import torch
import torch.nn.functional as F

import check_data
import kuzu_nets

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "check.csv")


def bars(n, seed):
    """n synthetic 28x28 images, scaled like KMNIST's: dim noise with a bright bar on row 2c + 4
    for class c, so any of the networks can learn them in a few dozen batches."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.rand(n, 1, 28, 28, generator=generator) * 0.4 - 1
    images[torch.arange(n), 0, 2 * labels + 4, 4:24] = 1
    return images, labels


def network(name):
    """Your network, built and checked as kuzu_main.py does it (a broken contract fails here)."""
    model, warnings = kuzu_nets.build(name)
    assert not warnings, warnings[0]
    return model


def test_netlin_has_7850_parameters():
    assert kuzu_nets.num_parameters(network("lin")) == 28 * 28 * 10 + 10  # weights and biases


@pytest.mark.parametrize("name", ["lin", "full", "conv"])
def test_net_outputs_log_probabilities_for_each_image(name):
    model = network(name).eval()
    images, _ = bars(5, seed=0)
    output = model(images)
    assert output.shape == (5, 10), "one row of 10 class scores per image"
    assert torch.allclose(output.exp().sum(dim=1), torch.ones(5), atol=1e-5), "end with log_softmax"


@pytest.mark.parametrize("name", ["lin", "full", "conv"])
def test_net_learns_synthetic_bars(name):
    torch.manual_seed(0)
    model = network(name)
    images, labels = bars(32 * 60, seed=1)
    held_out, held_out_labels = bars(200, seed=2)

    def loss():
        model.eval()
        with torch.no_grad():
            return F.nll_loss(model(held_out), held_out_labels).item()

    before = loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)  # the course's settings
    model.train()
    for batch, batch_labels in zip(images.split(32), labels.split(32)):
        optimizer.zero_grad()
        F.nll_loss(model(batch), batch_labels).backward()
        optimizer.step()
    after = loss()
    assert 0 <= after < 0.8 * before, "60 batches of SGD should lower the loss on these easy images"


@pytest.mark.parametrize("act", ["step", "sig"])
def test_set_weights_get_all_nine_points_right(act):
    inputs, targets = check_data.load_data(DATA)
    net = check_data.build_mlp(4, act)
    check_data.enter_hand_weights(net)  # your set_weights()
    check_data.check_forward(net, inputs)
    with torch.no_grad():
        right = int(((net(inputs) >= 0.5).float() == targets).sum())
    assert right == 9, f"{act}: {right} of 9 points right; Part 2: enter your weights in set_weights in check.py" \
        + (" and scale them for sigmoid" if act == "sig" else "")
