"""Part 2: the network for the 3x3 check task, the file you edit (check_main.py runs it).

MLP(hid, act): inputs x and y, `hid` hidden nodes and one output, with the same activation at both
layers: `sig` (sigmoid) or `step` (1 where the net input is >= 0, else 0). Enter your weights in
set_weights; `python3 check_main.py --act step --hid 4 --set_weights` checks them.
"""
import torch
import torch.nn as nn


class MLP(nn.Module):
    """2 inputs -> `hid` hidden nodes -> 1 output, activation `act` at both layers."""

    def __init__(self, hid=4, act="sig"):
        super().__init__()
        self.act = act
        self.in_hid = nn.Linear(2, hid)
        self.hid_out = nn.Linear(hid, 1)

    def forward(self, input):
        """The output for each row of `input` (x, y); the hidden activations stay in self.hid."""
        hid_sum = self.in_hid(input)
        if self.act == "step":
            self.hid = (hid_sum >= 0).float()
            return (self.hid_out(self.hid) >= 0).float()
        self.hid = torch.sigmoid(hid_sum)
        return torch.sigmoid(self.hid_out(self.hid))

    def set_weights(self):
        """Enter the hand-designed weights: as written for step, times sig_scale for sigmoid."""
        ##### Enter Weights Here #####
        # BEGIN SOLUTION: Part 2: enter weights that make the step network (4 hidden nodes) right on all nine points
        # On the nine points x + y takes the values 0, 1, 2, 3, 4 and the target
        # is 1 exactly when x + y is odd.
        #
        # Hidden node k (k = 1..4) asks "is x + y >= k - 0.5?". Its dividing line is
        # x + y = k - 0.5, a diagonal halfway between two diagonals of the grid, so on
        # the grid the number of nodes that fire is x + y itself.
        # The output adds the hidden nodes with alternating signs: h1 - h2 + h3 - h4 is
        # 1 when x + y is odd and 0 when it is even, and the output fires when that sum
        # minus 0.5 is >= 0. Row k of in_hid_weight: the weights from x and y to node k.
        in_hid_weight = [[1, 1], [1, 1], [1, 1], [1, 1]]
        hid_bias = [-0.5, -1.5, -2.5, -3.5]
        hid_out_weight = [[1, -1, 1, -1]]
        out_bias = [-0.5]
        # END SOLUTION
        ##############################
        # BEGIN SOLUTION: Part 2: choose the factor that makes the sigmoid network mimic the step network
        # With the weights above every net input, hidden or output, is at least 0.5 away
        # from 0 on the nine points, so times 10 it is at least 5 away: each hidden
        # sigmoid is within sigmoid(-5) = 0.0067 of its step value, the output's net
        # input stays at least 10 * (0.5 - 4 * 0.0067) = 4.7 away from 0, and the output
        # is within 0.01 of the target.
        sig_scale = 10
        # END SOLUTION
        scale = sig_scale if self.act == "sig" else 1  # the step network is unchanged by any scale
        self.in_hid.weight.data = torch.tensor(in_hid_weight, dtype=torch.float32) * scale
        self.in_hid.bias.data = torch.tensor(hid_bias, dtype=torch.float32) * scale
        self.hid_out.weight.data = torch.tensor(hid_out_weight, dtype=torch.float32) * scale
        self.hid_out.bias.data = torch.tensor(out_bias, dtype=torch.float32) * scale
