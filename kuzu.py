"""Part 1: three classifiers of Kuzushiji-MNIST, of increasing power.

Each network takes a batch of images (N, 1, 28, 28) and returns log-probabilities
(N, 10): its forward pass ends with log_softmax, so that the training loss of
kuzu_main.py, the negative log likelihood, is the cross-entropy of the true class.
kuzu_main.py builds each with no arguments and does everything else (the data,
training, the printed log and the pictures).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class NetLin(nn.Module):
    # BEGIN SOLUTION: Part 1: write NetLin: one linear layer from the 784 pixels to 10 outputs, then log_softmax
    """Linear function of the 784 pixels, then log_softmax (multinomial logistic regression)."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return F.log_softmax(self.out(x.flatten(1)), dim=1)
    # END SOLUTION


class NetFull(nn.Module):
    # BEGIN SOLUTION: Part 1: write NetFull: one fully connected hidden layer of tanh units, then log_softmax
    """One fully connected hidden layer of tanh units, then log_softmax.

    Weights start with Glorot (Xavier) initialisation, which was derived for tanh
    layers: torch's default range is about half as wide here, and at the course's
    learning rate the network then spends most of its 10 epochs growing them.
    """

    def __init__(self, hid=400):
        super().__init__()
        self.hid = nn.Linear(28 * 28, hid)
        self.out = nn.Linear(hid, 10)
        for layer in (self.hid, self.out):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        return F.log_softmax(self.out(torch.tanh(self.hid(x.flatten(1)))), dim=1)
    # END SOLUTION


class NetConv(nn.Module):
    # BEGIN SOLUTION: Part 1: write NetConv: two conv layers and one fully connected hidden layer, all relu, then log_softmax
    """Two convolutional layers and one fully connected hidden layer, all relu, then log_softmax.

    conv 5x5 (16) -> pool -> conv 3x3 (32) -> pool -> fc (128) -> 10. The first
    layer sees a wider patch for little cost (it has one input channel). Batch
    norm after each convolution lets it train fast at a high learning rate;
    dropout before the output layer, and the random shifts, label smoothing and
    weight decay of its recipe in kuzu_main.py, keep it from memorising a small
    training set.
    """

    def __init__(self, channels=(16, 32), hid=128, dropout=0.25):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.hid = nn.Linear(c2 * 7 * 7, hid)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hid, 10)
        # Channels-last layout (pixels outermost, channels innermost) makes the CPU
        # convolutions about 40% faster; the arithmetic is the same.
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # 28x28 -> 14x14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # 14x14 -> 7x7
        x = self.drop(F.relu(self.hid(x.flatten(1))))
        return F.log_softmax(self.out(x), dim=1)
    # END SOLUTION
