"""Fast training of the Part 3 networks: the SRN and LSTM of seq_models.py, trained one string at
a time with the same mathematics as seq_train.py's autograd loop (same loss, gradients and
optimizer updates, in float64), but with the forward pass, backpropagation through time and the
optimizer step written out by hand and compiled with numba.

Why: a training string is only 40-100 steps of products of 2x2 or 3x12 matrices. Through torch's
autograd each of those tiny operations costs microseconds of bookkeeping, so one string costs
milliseconds; the same arithmetic compiled into one loop costs microseconds.

Several networks ("runs", each with its own weights and its own strings) train together: every
array below has the runs on its LAST axis, so each line of arithmetic is done for all runs at
once by the CPU's vector instructions (4 runs per instruction with AVX2), which makes 16 runs
cost little more than one. Runs whose string is shorter than the longest string of the step are
padded; padded steps get loss weight 0, so they add exactly zero to that run's gradients.

How the loops are written, so that the compiler turns each innermost loop over runs `r` into
vector instructions (it does this only when it can check that the loop's stores cannot land on
the memory its loads read):
  - the innermost loop is over runs, and writes one row (one unit) of one array;
  - a loop never reads one time step of an array and writes another time step of the same
    array: the new values go to a small scratch array first;
  - exp and tanh are computed from a polynomial (`expm1_small`) instead of calls to the maths
    library, which cannot be vectorised; they agree with numpy's to within 1e-15 (tanh) and
    2e-14 (exp, sigmoid) relative error.

Arrays, for R runs (names as in seq_models.py):
  W (I, G, R), U (H, G, R), hid_bias (G, R), V (H, O, R), out_bias (O, R), H0 (H, R)   (SRN only)
  with I input symbols, H hidden units, O output symbols, G = H (SRN) or 4H (LSTM: gates i f g o).
  All weights of all runs live in one array `theta` (one row per weight, one column per run); the
  names above are views into it, and the optimizers update `theta` in one loop.
The learning rate can change from string to string (a schedule, given per string), and each
run's gradient can be clipped to a maximum length before the step, as clip_grad_norm_ does.
Per string, time t runs over the input steps 0..T-1; h[:, t] is the hidden state BEFORE step t
(h[:, 0] the initial state), h[:, t+1] the state after reading symbol x_t.

train_together() at the end is what `seq_train.py --engine fast` runs: one network or many
(`--runs N`, each with its own seed, weights and strings) with the recipe of the flags, and each
run's candidates, as the lanes of one FastTrainer; printing and checkpoints as the autograd loop's.
"""
import copy
import glob
import importlib
import math
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from seq_setup import (CHUNK, Log, best_candidate, best_of, chunk_cuts, comparisons_due, count_score, end_of_chunk,
                       improves, learning_rate, num_strings, pick_step, same_n_of)

# numba: compile on first use (about 15 s, once) and keep the machine code in __pycache__;
# error_model='numpy' lets a float division be a plain division (no zero check), which the
# vectoriser needs; nogil lets threads train groups of runs in parallel.
jit = njit(cache=True, error_model='numpy', nogil=True)

EXP_FLOOR = -40.0    # exp(-40) = 4e-18: below this exp is taken as exp(-40), tanh as +-1 exactly


# ---------------------------------------------------------------- vectorisable exp, tanh, sigmoid

@jit
def expm1_small(z):
    """e^z - 1 for |z| <= 0.625 by its Taylor series to z^17/17!, exact to double precision.
    The terms are summed in pairs, pairs of pairs and so on (Estrin's scheme) rather than one
    after the other, so that the CPU can work on several at once."""
    z2 = z * z
    z4 = z2 * z2
    pairs = (1.0 + z * (1 / 2), 1 / 6 + z * (1 / 24), 1 / 120 + z * (1 / 720),
             1 / 5040 + z * (1 / 40320), 1 / 362880 + z * (1 / 3628800),
             1 / 39916800 + z * (1 / 479001600), 1 / 6227020800 + z * (1 / 87178291200),
             1 / 1307674368000 + z * (1 / 20922789888000))
    quads = (pairs[0] + z2 * pairs[1], pairs[2] + z2 * pairs[3],
             pairs[4] + z2 * pairs[5], pairs[6] + z2 * pairs[7])
    return z * ((quads[0] + z4 * quads[1]) + (z4 * z4) * (quads[2] + z4 * quads[3]))


@jit
def exp_nonpositive(y):
    """e^y for y <= 0, as (e^(y/64))^64: six squarings of the series."""
    y = y if y > EXP_FLOOR else EXP_FLOOR
    e = 1.0 + expm1_small(y * (1 / 64))
    e = e * e
    e = e * e
    e = e * e
    e = e * e
    e = e * e
    return e * e


@jit
def tanh(x):
    """tanh(x) = -m / (2 + m) with m = e^(-2|x|) - 1, sign of x. m is built from e^(y/64) - 1 by
    six doublings e^(2y) - 1 = (e^y - 1)(e^y + 1), which keep full precision near x = 0."""
    y = -2.0 * abs(x)
    m = expm1_small((y if y > EXP_FLOOR else EXP_FLOOR) * (1 / 64))
    m = m * (2.0 + m)
    m = m * (2.0 + m)
    m = m * (2.0 + m)
    m = m * (2.0 + m)
    m = m * (2.0 + m)
    m = m * (2.0 + m)
    return math.copysign(-m / (2.0 + m), x)


@jit
def sigmoid(x):
    """1 / (1 + e^-x), through e = e^-|x| so that it keeps its relative precision for x << 0 too:
    for x < 0 it is e / (1 + e)."""
    e = exp_nonpositive(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0 else e * s


# ---------------------------------------------------------------- forward passes

@jit
def add_input(W, hid_bias, x_t, pre):
    """pre[q] = x_t W[:, q] + hid_bias[q] for every row q of W: x_t is one-hot, so the product
    adds the row of W of the symbol read (written as a sum over symbols so it vectorises)."""
    I, G, R = W.shape
    for q in range(G):
        for r in range(R):
            pre[q, r] = hid_bias[q, r]
        for i in range(I):
            for r in range(R):
                pre[q, r] += W[i, q, r] if x_t[r] == i else 0.0


@jit
def add_recurrent(U, h, t, pre):
    """pre[q] += h_t U[:, q] (h_t the state before step t)."""
    H, G, R = U.shape
    for q in range(G):
        for j in range(H):
            for r in range(R):
                pre[q, r] += h[j, t, r] * U[j, q, r]


@jit
def srn_forward(W, U, hid_bias, H0, x, T, h, pre):
    """h_0 = tanh(H0); h_{t+1} = tanh(x_t W + h_t U + hid_bias) for t < T."""
    H, R = H0.shape
    for k in range(H):
        for r in range(R):
            h[k, 0, r] = tanh(H0[k, r])
    for t in range(T):
        add_input(W, hid_bias, x[t], pre)
        add_recurrent(U, h, t, pre)
        for k in range(H):
            for r in range(R):
                h[k, t + 1, r] = tanh(pre[k, r])


@jit
def lstm_forward(W, U, hid_bias, peep, x, T, h, c, gate, tanh_c, pre):
    """z = x_t W + h_t U + hid_bias; the input and forget gates add their peepholes' peep * c_t;
    i, f = sigmoid, g = tanh of their blocks of z; c_{t+1} = f c_t + i g; the output gate
    o = sigmoid(z_o + peep_o * c_{t+1}); h_{t+1} = o tanh(c_{t+1}); h_0 = c_0 = 0. A network
    without peepholes has peep = 0, which changes no value.
    gate[q, t] keeps the gate values and tanh_c[k, t] = tanh(c_{t+1}) for the backward pass."""
    H, G, R = U.shape
    h[:, 0] = 0.0
    c[:, 0] = 0.0
    for t in range(T):
        add_input(W, hid_bias, x[t], pre)
        add_recurrent(U, h, t, pre)
        for k in range(H):
            for r in range(R):
                pre[k, r] += peep[k, r] * c[k, t, r]
            for r in range(R):
                pre[H + k, r] += peep[H + k, r] * c[k, t, r]
        for q in range(3 * H):       # two loops, or both functions would be computed for every gate
            if 2 * H <= q:
                for r in range(R):
                    gate[q, t, r] = tanh(pre[q, r])
            else:
                for r in range(R):
                    gate[q, t, r] = sigmoid(pre[q, r])
        for k in range(H):           # pre[k] now holds c_{t+1} (a scratch row: see the module notes)
            i, f, g = k, H + k, 2 * H + k
            for r in range(R):
                pre[k, r] = gate[f, t, r] * c[k, t, r] + gate[i, t, r] * gate[g, t, r]
        for k in range(H):
            o = 3 * H + k
            for r in range(R):
                c[k, t + 1, r] = pre[k, r]
            for r in range(R):
                tanh_c[k, t, r] = tanh(pre[k, r])
            for r in range(R):
                gate[o, t, r] = sigmoid(pre[o, r] + peep[2 * H + k, r] * pre[k, r])
            for r in range(R):
                h[k, t + 1, r] = gate[o, t, r] * tanh_c[k, t, r]


@jit
def output_forward(V, out_bias, h, x, length, T, bce, legal, prob, delta, score, row):
    """For every step: prob[:, t] = softmax(h_{t+1} V + out_bias), and the loss gradient at the
    output scores, delta[:, t] = (prob - onehot(x_{t+1})) / T_r (the loss is the mean over the
    run's T_r steps; 0 on padding steps). With bce each symbol's prob is the sigmoid of its score
    instead and delta = (prob - legal) / T_r, legal[:, t] = 1 for the symbols that may follow.
    score (O, R) and row (R,) are scratch."""
    H, O, R = V.shape
    for t in range(T):
        for o in range(O):
            for r in range(R):
                score[o, r] = out_bias[o, r]
            for j in range(H):
                for r in range(R):
                    score[o, r] += h[j, t + 1, r] * V[j, o, r]
        if bce:
            for o in range(O):
                for r in range(R):
                    prob[o, t, r] = sigmoid(score[o, r])
                for r in range(R):
                    weight = 1.0 / length[r] if t < length[r] else 0.0
                    delta[o, t, r] = (prob[o, t, r] - legal[o, t, r]) * weight
            continue
        # softmax, shifted by the largest score so that every exp argument is <= 0
        for r in range(R):
            row[r] = score[0, r]
        for o in range(1, O):
            for r in range(R):
                row[r] = row[r] if row[r] > score[o, r] else score[o, r]
        for o in range(O):
            for r in range(R):
                score[o, r] = exp_nonpositive(score[o, r] - row[r])
        for r in range(R):
            row[r] = 0.0
        for o in range(O):
            for r in range(R):
                row[r] += score[o, r]
        for o in range(O):
            for r in range(R):
                prob[o, t, r] = score[o, r] / row[r]
            for r in range(R):
                target = 1.0 if x[t + 1, r] == o else 0.0
                weight = 1.0 / length[r] if t < length[r] else 0.0
                delta[o, t, r] = (prob[o, t, r] - target) * weight


# ---------------------------------------------------------------- backward passes

@jit
def hidden_error(V, delta, U, dz, t, dh):
    """dh = dLoss/dh_{t+1}: from the output at step t (delta_t V^T) and from the next step's
    pre-activations (dz_{t+1} U^T)."""
    H, O, R = V.shape
    G = U.shape[1]
    for j in range(H):
        for r in range(R):
            dh[j, r] = 0.0
        for o in range(O):
            for r in range(R):
                dh[j, r] += delta[o, t, r] * V[j, o, r]
        for q in range(G):
            for r in range(R):
                dh[j, r] += dz[q, t + 1, r] * U[j, q, r]


@jit
def srn_backward(V, U, H0, h, delta, T, dz, dh, dH0):
    """dz[:, t] = dLoss/d(pre-activation of step t) = dh_{t+1} * tanh'(.) = dh * (1 - h_{t+1}^2),
    from t = T-1 down to 0; then dH0 = (dz_0 U^T) * (1 - tanh(H0)^2)."""
    H, R = H0.shape
    dz[:, T] = 0.0
    for t in range(T - 1, -1, -1):
        hidden_error(V, delta, U, dz, t, dh)
        for j in range(H):
            for r in range(R):
                dz[j, t, r] = dh[j, r] * (1.0 - h[j, t + 1, r] * h[j, t + 1, r])
    for j in range(H):
        for r in range(R):
            dh[j, r] = 0.0
        for k in range(H):
            for r in range(R):
                dh[j, r] += dz[k, 0, r] * U[j, k, r]
        for r in range(R):
            dH0[j, r] = dh[j, r] * (1.0 - h[j, 0, r] * h[j, 0, r])


@jit
def lstm_backward(V, U, peep, c, gate, tanh_c, delta, T, dz, dh, dc, carry, dpeep):
    """Back through the peepholes, c_{t+1} = f c_t + i g and h_{t+1} = o tanh(c_{t+1}), from
    t = T-1 down to 0, with carry = dLoss/dc_{t+1} through the later steps:
      dz_o = dh * tanh(c_{t+1}) * o(1-o)
      dc = dh * o * (1 - tanh(c_{t+1})^2) + dz_o * peep_o + carry
      dz_i = dc * g * i(1-i)   dz_f = dc * c_t * f(1-f)   dz_g = dc * i * (1-g^2)
      carry for step t-1 = dc * f + dz_i * peep_i + dz_f * peep_f
    and the peepholes' gradients dpeep_i = sum_t dz_i c_t, dpeep_f = sum_t dz_f c_t,
    dpeep_o = sum_t dz_o c_{t+1}."""
    H, G, R = U.shape
    dz[:, T] = 0.0
    carry[:] = 0.0
    dpeep[:] = 0.0
    for t in range(T - 1, -1, -1):
        hidden_error(V, delta, U, dz, t, dh)
        for k in range(H):
            i, f, g, o = k, H + k, 2 * H + k, 3 * H + k
            for r in range(R):
                dz[o, t, r] = dh[k, r] * tanh_c[k, t, r] * gate[o, t, r] * (1.0 - gate[o, t, r])
            for r in range(R):
                dc[k, r] = (dh[k, r] * gate[o, t, r] * (1.0 - tanh_c[k, t, r] * tanh_c[k, t, r])
                            + dz[o, t, r] * peep[2 * H + k, r] + carry[k, r])
            for r in range(R):
                dz[i, t, r] = dc[k, r] * gate[g, t, r] * gate[i, t, r] * (1.0 - gate[i, t, r])
            for r in range(R):
                dz[f, t, r] = dc[k, r] * c[k, t, r] * gate[f, t, r] * (1.0 - gate[f, t, r])
            for r in range(R):
                dz[g, t, r] = dc[k, r] * gate[i, t, r] * (1.0 - gate[g, t, r] * gate[g, t, r])
            for r in range(R):
                carry[k, r] = dc[k, r] * gate[f, t, r] + dz[i, t, r] * peep[k, r] + dz[f, t, r] * peep[H + k, r]
            for r in range(R):
                dpeep[k, r] += dz[i, t, r] * c[k, t, r]
            for r in range(R):
                dpeep[H + k, r] += dz[f, t, r] * c[k, t, r]
            for r in range(R):
                dpeep[2 * H + k, r] += dz[o, t, r] * c[k, t + 1, r]


@jit
def weight_gradients(x, h, delta, dz, T, dW, dU, dhid_bias, dV, dout_bias):
    """Each weight's gradient is a sum over time of (the input it multiplies) x (the error at
    its output): dW[i] = sum_t onehot(x_t)_i dz_t, dU = sum_t h_t^T dz_t, dhid_bias = sum_t dz_t,
    dV = sum_t h_{t+1}^T delta_t, dout_bias = sum_t delta_t."""
    I, G, R = dW.shape
    H, O, _ = dV.shape
    dW[:] = 0.0
    dU[:] = 0.0
    dhid_bias[:] = 0.0
    dV[:] = 0.0
    dout_bias[:] = 0.0
    for t in range(T):
        for q in range(G):
            for r in range(R):
                dhid_bias[q, r] += dz[q, t, r]
            for i in range(I):
                for r in range(R):
                    dW[i, q, r] += dz[q, t, r] if x[t, r] == i else 0.0
            for j in range(H):
                for r in range(R):
                    dU[j, q, r] += h[j, t, r] * dz[q, t, r]
        for o in range(O):
            for r in range(R):
                dout_bias[o, r] += delta[o, t, r]
            for j in range(H):
                for r in range(R):
                    dV[j, o, r] += h[j, t + 1, r] * delta[o, t, r]


# ---------------------------------------------------------------- one string, all runs

@jit
def forward(is_lstm, bce, weights, x, length, work):
    """Forward pass of one string per run: leaves the output probabilities in work's prob
    (O, Tmax, R) and the loss gradient at the output scores in its delta."""
    W, U, hid_bias, V, out_bias, H0, peep = weights
    _, h, c, gate, tanh_c, prob, delta, dz, pre, score, dh, dc, carry, row, _, legal = work
    T = length.max()
    if is_lstm:
        lstm_forward(W, U, hid_bias, peep, x, T, h, c, gate, tanh_c, pre)
    else:
        srn_forward(W, U, hid_bias, H0, x, T, h, pre)
    output_forward(V, out_bias, h, x, length, T, bce, legal, prob, delta, score, row)


@jit
def forward_backward(is_lstm, bce, weights, grads, x, length, work):
    """Forward pass and gradients of the loss of one string per run.
    weights, grads: (W, U, hid_bias, V, out_bias, H0, peep) views; x (Tmax+1, R) the symbols;
    length (R,) the input steps of each run's string; work: the arrays from workspace(), whose
    legal holds the symbols that may follow at each step (for bce).
    Fills grads, and leaves the output probabilities in work's prob (O, Tmax, R)."""
    W, U, hid_bias, V, out_bias, H0, peep = weights
    dW, dU, dhid_bias, dV, dout_bias, dH0, dpeep = grads
    _, h, c, gate, tanh_c, prob, delta, dz, pre, score, dh, dc, carry, row, _, legal = work
    T = length.max()
    forward(is_lstm, bce, weights, x, length, work)
    if is_lstm:
        lstm_backward(V, U, peep, c, gate, tanh_c, delta, T, dz, dh, dc, carry, dpeep)
    else:
        srn_backward(V, U, H0, h, delta, T, dz, dh, dH0)
    weight_gradients(x, h, delta, dz, T, dW, dU, dhid_bias, dV, dout_bias)


def workspace(is_lstm, num_hid, num_out, runs, max_steps):
    """The arrays forward_backward works in, for strings of up to max_steps input steps, in the
    order it unpacks them."""
    H, O, R, T = num_hid, num_out, runs, max_steps
    G = 4 * H if is_lstm else H
    x = np.zeros((T + 1, R), dtype=np.int64)    # the symbols of the current string of each run
    h = np.zeros((H, T + 1, R))                 # hidden states, h[:, 0] the initial one
    c = np.zeros((H, T + 1, R))                 # LSTM cell states
    gate = np.zeros((G, T + 1, R))              # LSTM gate values
    tanh_c = np.zeros((H, T, R))                # LSTM tanh(c_{t+1})
    prob = np.zeros((O, T, R))                  # output probabilities
    delta = np.zeros((O, T, R))                 # loss gradient at the output scores
    dz = np.zeros((G, T + 1, R))                # loss gradient at the pre-activations
    pre, score, dh = np.zeros((G, R)), np.zeros((O, R)), np.zeros((H, R))      # scratch rows
    dc, carry, row, norm = np.zeros((H, R)), np.zeros((H, R)), np.zeros(R), np.zeros(R)
    legal = np.zeros((O, T, R))                 # 1 for the symbols that may follow (bce)
    return x, h, c, gate, tanh_c, prob, delta, dz, pre, score, dh, dc, carry, row, norm, legal


# ---------------------------------------------------------------- optimizers (as torch.optim)

@jit
def sgd_step(theta, grad, velocity, first, lr, momentum, weight_decay):
    """torch.optim.SGD: g = grad + wd theta; with momentum, v = g on the first step, else
    v = momentum v + g, and g = v; then theta -= lr g."""
    flat_theta, flat_grad, flat_v = theta.ravel(), grad.ravel(), velocity.ravel()
    for n in range(flat_theta.size):
        g = flat_grad[n] + weight_decay * flat_theta[n]
        if momentum != 0.0:
            g = g if first else momentum * flat_v[n] + g
            flat_v[n] = g
        flat_theta[n] -= lr * g


@jit
def adam_step(theta, grad, mean, square, step, lr, beta1, beta2, eps, weight_decay):
    """torch.optim.Adam (step counted from 1): g = grad + wd theta; mean += (1-beta1)(g - mean);
    square = beta2 square + (1-beta2) g^2;
    theta -= lr/(1-beta1^step) * mean / (sqrt(square)/sqrt(1-beta2^step) + eps)."""
    step_size = lr / (1.0 - beta1 ** float(step))
    root_correction = math.sqrt(1.0 - beta2 ** float(step))
    flat_theta, flat_grad = theta.ravel(), grad.ravel()
    flat_mean, flat_square = mean.ravel(), square.ravel()
    for n in range(flat_theta.size):
        g = flat_grad[n] + weight_decay * flat_theta[n]
        flat_mean[n] += (1.0 - beta1) * (g - flat_mean[n])
        flat_square[n] = beta2 * flat_square[n] + (1.0 - beta2) * g * g
        flat_theta[n] -= step_size * (flat_mean[n] / (math.sqrt(flat_square[n]) / root_correction + eps))


# ---------------------------------------------------------------- a chunk of strings

@jit
def clip_norm(grad, max_norm, norm):
    """torch.nn.utils.clip_grad_norm_ for each run (column) of grad: when the gradient's length
    over all weights exceeds max_norm, scale it by max_norm / (length + 1e-6). norm (R,) is scratch."""
    N, R = grad.shape
    norm[:] = 0.0
    for n in range(N):
        for r in range(R):
            norm[r] += grad[n, r] * grad[n, r]
    for r in range(R):
        norm[r] = min(max_norm / (math.sqrt(norm[r]) + 1e-6), 1.0)
    for n in range(N):
        for r in range(R):
            grad[n, r] *= norm[r]


@jit
def train_strings(is_lstm, bce, theta, weights, grad, grads, state1, state2, steps_done, settings,
                  lrs, strings, errors, work, update):
    """Train every run on its strings s = 0..S-1 in order, one optimizer step per string, and
    record errors[s, r], the error of string s (before its update) as seq_train reports it: the
    mean over the scored steps of the mean squared difference of output and target probabilities.
    With update False the weights stay as they are: only errors and gradients are computed.
    strings = (seq, length, width, target, scored): run r's StringBatch arrays seq (S, width_r+1),
    prob (S, width_r, O) and scored (S, width_r) flattened one run after the other (so they need
    not be padded to a common width), length (S, R), width (R,).
    settings = (use_adam, momentum, weight_decay, beta1, beta2, eps, max_norm); string s is trained
    with learning rate lrs[s], after its gradient is clipped to length max_norm (0: not clipped).
    bce: the loss is seq_train's 'bce' (the symbols that may follow are those of target > 0)."""
    use_adam, momentum, weight_decay, beta1, beta2, eps, max_norm = settings
    seq, length, width, target, scored = strings
    x, prob, norm, legal = work[0], work[5], work[14], work[15]
    O = prob.shape[0]
    S, R = length.shape
    start = np.zeros(R, dtype=np.int64)         # where run r's strings start, in steps
    for r in range(1, R):
        start[r] = start[r - 1] + S * width[r - 1]
    for s in range(S):
        x[:] = 0
        for r in range(R):
            row = start[r] + r * S + s * (width[r] + 1)      # seq rows are one step longer
            for t in range(length[s, r] + 1):
                x[t, r] = seq[row + t]
            for t in range(length[s, r]):
                step = start[r] + s * width[r] + t
                for o in range(O):
                    legal[o, t, r] = 1.0 if target[step * O + o] > 0 else 0.0
        forward_backward(is_lstm, bce, weights, grads, x, length[s], work)
        for r in range(R):
            total, count = 0.0, 0
            for t in range(length[s, r]):
                step = start[r] + s * width[r] + t
                if scored[step]:
                    for o in range(O):
                        total += (prob[o, t, r] - target[step * O + o]) ** 2 / O
                    count += 1
            errors[s, r] = total / count if count > 0 else np.nan
        if not update:
            continue
        if max_norm > 0.0:
            clip_norm(grad, max_norm, norm)
        step = steps_done + s + 1
        if use_adam:
            adam_step(theta, grad, state1, state2, step, lrs[s], beta1, beta2, eps, weight_decay)
        else:
            sgd_step(theta, grad, state1, step == 1, lrs[s], momentum, weight_decay)


@jit
def string_margins(is_lstm, bce, weights, seq, length, determined, margins, right, work):
    """margins[s, r]: the smallest margin, over the determined steps of string s (seq[s], the
    same string for every run), by which run r's output for the symbol that follows beats its
    largest output for another (as seq_models.determined_margins); right[s, r]: at how many of
    them that margin is positive (the symbol that follows is the most likely)."""
    x, prob = work[0], work[5]
    O = prob.shape[0]
    S, R = margins.shape
    for s in range(S):
        x[:] = 0
        for t in range(length[s] + 1):
            for r in range(R):
                x[t, r] = seq[s, t]
        lengths_of = np.full(R, length[s])
        forward(is_lstm, bce, weights, x, lengths_of, work)
        for r in range(R):
            margins[s, r] = np.inf
            right[s, r] = 0
        for t in range(length[s]):
            if determined[s, t]:
                following = seq[s, t + 1]
                for r in range(R):
                    other = -np.inf
                    for o in range(O):
                        if o != following and prob[o, t, r] > other:
                            other = prob[o, t, r]
                    margin = prob[following, t, r] - other
                    margins[s, r] = margin if margin < margins[s, r] else margins[s, r]
                    right[s, r] += margin > 0


# ---------------------------------------------------------------- the trainer seq_train.py uses

PARAMETERS = ('W', 'U', 'hid_bias', 'V', 'out_bias', 'H0', 'peep')   # the LSTM has no H0, the SRN no peep


class RunGroup:
    """Some networks of one kind and size (seq_models.SRN_model or LSTM_model), trained together
    in the lanes of the vector instructions. Their weights are copied from the torch networks at
    the start (in float64) and back into them by copy_to()."""

    def __init__(self, nets, settings):
        shapes = {name: tuple(p.shape) for name, p in nets[0].named_parameters()}
        for net in nets:
            if {name: tuple(p.shape) for name, p in net.named_parameters()} != shapes:
                raise ValueError('the networks differ in kind or size')
        losses = {getattr(net, 'loss', 'nll') for net in nets}
        if len(losses) > 1:
            raise ValueError('the networks differ in their loss')
        self.bce = losses == {'bce'}
        self.is_lstm = 'H0' not in shapes
        self.num_hid, self.num_out = shapes['V']
        self.runs = len(nets)
        sizes = [math.prod(shape) for shape in shapes.values()]
        self.theta = np.zeros((sum(sizes), self.runs))   # one row per weight, one column per run
        self.grad = np.zeros_like(self.theta)
        self.state1 = np.zeros_like(self.theta)          # SGD velocity, or Adam's mean
        self.state2 = np.zeros_like(self.theta)          # Adam's mean square
        self.steps = 0                                   # strings trained on so far
        self.settings = settings
        self.weights, self.grads = {}, {}
        start = 0
        for (name, shape), size in zip(shapes.items(), sizes):
            rows = slice(start, start + size)
            self.weights[name] = self.theta[rows].reshape(shape + (self.runs,))
            self.grads[name] = self.grad[rows].reshape(shape + (self.runs,))
            start += size
        for r, net in enumerate(nets):
            for name, p in net.named_parameters():
                self.weights[name][..., r] = p.detach().cpu().double().numpy()

    def arrays(self, table):
        """The seven arrays forward_backward takes; an LSTM gets a dummy H0 it never reads, and
        one without peepholes zero peep (no peephole at all), whose gradient is never used."""
        H0 = table.get('H0', np.zeros((self.num_hid, self.runs)))
        peep = table.get('peep', np.zeros((3 * self.num_hid, self.runs)))
        return tuple(table[name] for name in PARAMETERS[:5]) + (H0, peep)

    def pack(self, batches):
        """One StringBatch per run -> the `strings` tuple of train_strings."""
        width = np.array([b.prob.shape[1] for b in batches])
        length = np.stack([b.length for b in batches], axis=1)
        flat = lambda name: np.concatenate([getattr(b, name).ravel() for b in batches])
        return flat('seq'), length, width, flat('prob'), flat('scored')

    def workspace(self, max_steps):
        return workspace(self.is_lstm, self.num_hid, self.num_out, self.runs, max_steps)

    def run(self, batches, update, lrs=None):
        """train_strings on run r's strings batches[r] -> errors (R, count)."""
        strings = self.pack(batches)
        errors = np.empty(strings[1].shape)
        lrs = np.zeros(len(errors)) if lrs is None else np.asarray(lrs, dtype=np.float64)
        train_strings(self.is_lstm, self.bce, self.theta, self.arrays(self.weights), self.grad,
                      self.arrays(self.grads), self.state1, self.state2, self.steps, self.settings,
                      lrs, strings, errors, self.workspace(strings[2].max()), update)
        return errors.T

    def train_chunk(self, batches, lrs):
        """Train run r on the strings of batches[r] in order, string s with learning rate lrs[s]
        -> errors (R, count)."""
        errors = self.run(batches, True, lrs)
        self.steps += errors.shape[1]
        return errors

    def errors(self, batches):
        """The error of each string of batches[r] under run r's current weights -> (R, count)."""
        return self.run(batches, False)

    def margins(self, batches):
        """string_margins of every string of batches[r] (batches of one size) under run r's weights
        -> (margins, determined steps right), each (R, count). Runs given the same batch (the same
        object) one after the other are computed together, in the lanes."""
        weights = self.arrays(self.weights)
        count = len(batches[0].length)
        margins, right = np.empty((2, self.runs, count))
        a = 0
        while a < self.runs:
            b = a + 1
            while b < self.runs and batches[b] is batches[a]:
                b += 1
            batch, lanes = batches[a], tuple(np.ascontiguousarray(w[..., a:b]) for w in weights)
            found = np.empty((2, count, b - a))
            string_margins(self.is_lstm, self.bce, lanes, batch.seq, batch.length, batch.determined, found[0],
                           found[1], workspace(self.is_lstm, self.num_hid, self.num_out, b - a, batch.length.max()))
            margins[a:b], right[a:b] = found[0].T, found[1].T
            a = b
        return margins, right

    def gradients(self, batches):
        """{name: gradient (parameter shape + (R,))} of the loss of each run's first string."""
        self.run([b.pick(0) for b in batches], False)
        return {name: grad.copy() for name, grad in self.grads.items()}


def clear_cache():
    """Delete this module's compiled code from numba's cache (__pycache__) -> files removed."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), '__pycache__')
    files = glob.glob(os.path.join(glob.escape(folder), 'seq_fast.*.nb[ic]'))
    for path in files:
        os.remove(path)
    return len(files)


def cpu_count():
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1


class FastTrainer:
    """Train R networks of one kind and size together, each on its own strings, making the same
    updates as torch.optim.SGD / torch.optim.Adam: nets[r] is trained by train_chunk(batches) on
    the strings of batches[r]. The runs are split into groups, one per CPU core, each group
    trained in its own thread (the compiled code runs without Python's global lock). keep()
    narrows the trainer to some of its runs (the candidates a run keeps), each going on exactly
    where it was."""

    def __init__(self, nets, optim='adam', lr=0.01, mom=0.0, wd=0.0, betas=(0.9, 0.999), eps=1e-8,
                 clip=0.0, threads=None):
        self.lr, self.threads = lr, threads
        self.settings = (optim == 'adam', float(mom), float(wd), float(betas[0]), float(betas[1]),
                         float(eps), float(clip))
        self.split(nets)

    def split(self, nets):
        """Share the runs out into groups: a group per core, but groups of at least 8 runs (fewer
        lanes than that make a group cost almost as much as 8, so splitting them would only add work)."""
        groups = max(1, min(self.threads or cpu_count(), len(nets) // 8))
        cuts = np.linspace(0, len(nets), groups + 1).round().astype(int)
        self.bounds = list(zip(cuts[:-1], cuts[1:]))
        self.groups = [RunGroup(nets[a:b], self.settings) for a, b in self.bounds]
        self.pool = ThreadPoolExecutor(len(self.groups)) if len(self.groups) > 1 else None

    def keep(self, lanes, nets):
        """A trainer of only the runs numbered `lanes` here, in that order (nets: their torch
        networks, for copy_to), each going on exactly where it is: its float64 weights and its
        optimizer state (Adam's mean and mean square or SGD's velocity, and the step count)."""
        state = {name: np.concatenate([getattr(group, name) for group in self.groups], axis=1)[:, lanes]
                 for name in ('theta', 'state1', 'state2')}
        kept = FastTrainer.__new__(FastTrainer)
        kept.lr, kept.threads, kept.settings = self.lr, self.threads, self.settings
        kept.split(nets)
        for (a, b), group in zip(kept.bounds, kept.groups):
            for name, values in state.items():
                getattr(group, name)[:] = values[:, a:b]
            group.steps = self.groups[0].steps
        return kept

    def _each_group(self, work, batches):
        if len(batches) != self.bounds[-1][1]:
            raise ValueError(f'{len(batches)} batches for {self.bounds[-1][1]} runs')
        parts = [batches[a:b] for a, b in self.bounds]
        if self.pool is None:
            return [work(self.groups[0], parts[0])]
        return list(self.pool.map(work, self.groups, parts))

    def train_chunk(self, batches, lrs=None):
        """Train run r on the strings of batches[r] (StringBatch) in order, string s with learning
        rate lrs[s] (default: lr for all) -> errors (R, count): each string's error (as seq_train
        reports it) from the forward pass before its update."""
        if lrs is None:
            lrs = np.full(len(batches[0].length), float(self.lr))
        return np.concatenate(self._each_group(lambda group, part: group.train_chunk(part, lrs), batches))

    def errors(self, batches):
        """The error of every string of batches[r] under run r's current weights, as train_chunk
        reports it but without training -> (R, count)."""
        return np.concatenate(self._each_group(RunGroup.errors, batches))

    def margins(self, batch):
        """The margins of every string of `batch` under each run's weights, as
        seq_models.determined_margins gives them -> (R, count)."""
        return np.concatenate(self._each_group(lambda group, part: group.margins(part)[0],
                                               [batch] * self.bounds[-1][1]))

    def evaluate(self, batches):
        """seq_models.evaluate of batches[r] under run r's weights -> [(mean error, fraction of the
        determined steps predicted right)], one per run."""
        errors = self.errors(batches)
        right = np.concatenate(self._each_group(lambda group, part: group.margins(part)[1], batches))
        return [(e.mean(), r.sum() / b.determined.sum()) for e, r, b in zip(errors, right, batches)]

    def gradients(self, batches):
        """Gradients of the loss of the first string of each run's batch, without training:
        a list (one per run) of {parameter name: array shaped like the parameter}."""
        tables = self._each_group(RunGroup.gradients, batches)
        return [{name: grad[..., r] for name, grad in table.items()}
                for table in tables for r in range(next(iter(table.values())).shape[-1])]

    def copy_to(self, nets):
        """Write the current weights of run r into nets[r] (in the network's own dtype)."""
        import torch
        with torch.no_grad():
            for (a, _), group in zip(self.bounds, self.groups):
                for r in range(group.runs):
                    for name, p in nets[a + r].named_parameters():
                        p.copy_(torch.from_numpy(group.weights[name][..., r].copy()))


# ---------------------------------------------------------------- the runs of seq_train.py --engine fast

def make_engine(args, nets, lang):
    """FastTrainer for these networks and recipe; its first use compiles the engine, or loads it
    from numba's cache in __pycache__. A damaged cache (an error raised inside numba's cache
    loader) is removed and the engine compiled afresh, with a note; any other error is raised."""
    module = sys.modules[__name__]
    probe = [lang.batch(1, np.random.default_rng(0))] * len(nets)
    for attempt in range(2):
        engine = module.FastTrainer(nets, args.optim, args.lr, args.mom, args.wd, clip=args.clip)
        try:
            engine.errors(probe)        # compiles, or loads the cache: changes no weights
            return engine
        except Exception as err:
            if attempt or not from_numba_cache(err):
                raise
            removed = clear_cache()
            print(f'note: the fast engine\'s compile cache was damaged ({type(err).__name__}); '
                  f'removed {removed} cached files and compiling again (about 20 s)')
            module = importlib.reload(module)       # new dispatchers, which read no cache


def from_numba_cache(err):
    """Whether an exception was raised inside numba's caching code (a damaged cache file)."""
    caching = os.path.join('numba', 'core', 'caching.py')
    return any(frame.filename.endswith(caching) for frame in traceback.extract_tb(err.__traceback__))


def drawn_ahead(lang, rngs, total):
    """Yield the training strings CHUNK at a time, total in all: a list with a StringBatch per
    generator (per run), the next chunk drawn in a second thread while the caller trains on this
    one (numpy and the compiled engine both work outside Python's global lock). Each generator
    is used in order, so the strings are exactly those a single run with that seed draws."""
    sizes = [min(CHUNK, total - start) for start in range(0, total, CHUNK)]
    draw = lambda count: [lang.batch(count, rng) for rng in rngs]
    with ThreadPoolExecutor(1) as drawer:
        upcoming = drawer.submit(draw, sizes[0])
        for size in sizes[1:]:
            current = upcoming.result()
            upcoming = drawer.submit(draw, size)
            yield current
        yield upcoming.result()


def train_together(args, candidates, lang, rngs, show_rngs, selections, runs):
    """Train the networks of candidates[i] (run i's) on the strings of rngs[i], all with the recipe
    in args, and keep each run's best on selections[i] after pick_step(args) strings, as
    seq_train.train_candidates does: until the pick every candidate is a lane of its own; then
    the engine keeps the lane of each run's best, with its optimizer state. Prints a line per
    chunk (scoring each run's fresh string in the engine rather than in torch) and saves the
    checkpoints (runs[i] names run i's) -> the network each run kept."""
    if args.keep_best:
        return keep_best_seen(args, candidates, lang, rngs, show_rngs, selections, runs)
    width = len(candidates[0])                  # lanes per run: its candidates until the pick, then 1
    lanes = [net for run in candidates for net in run]
    widen = lambda per_run: [item for item in per_run for _ in range(width)]
    engine = make_engine(args, lanes, lang)
    nets = [run[0] for run in candidates]       # the networks shown and saved (the first candidates until the pick)
    log = Log(args, lang, show_rngs, runs, score=lambda batches: engine.errors(widen(batches))[::width, 0])
    pick = pick_step(args) if width > 1 else None
    step = 0
    try:
        for batches in drawn_ahead(lang, rngs, num_strings(args)):
            count = len(batches[0].length)
            lrs = np.array([learning_rate(args, s) for s in range(step, step + count)])
            cut = pick - step if pick and step < pick <= step + count else count
            errors = engine.train_chunk(widen([b.part(0, cut) for b in batches]), lrs[:cut])
            if step + cut == pick:
                engine.copy_to(lanes)                   # compared in torch, as the autograd loop does
                kept, results = zip(*[best_candidate(run, lang, selection, args.select)
                                      for run, selection in zip(candidates, selections)])
                chosen = np.arange(len(nets)) * width + kept
                nets = lanes = [run[k] for run, k in zip(candidates, kept)]
                engine, errors, width = engine.keep(chosen, nets), errors[chosen], 1
                if cut < count:
                    rest = engine.train_chunk([b.part(cut, count) for b in batches], lrs[cut:])
                    errors = np.concatenate([errors, rest], axis=1)
                log.picked(kept, results)
            engine.copy_to(lanes)
            step += count
            log.tick(count)
            end_of_chunk(args, log, nets, runs, errors[::width], step)
    finally:
        log.close()
    return nets


def keep_best_seen(args, candidates, lang, rngs, show_rngs, selections, runs):
    """train_together with --keep_best, as seq_train.train_keeping_best does: every candidate of
    every run trains to the end; from the pick on, every --keep_best strings and at the end, each
    is scored on its run's selection strings (in the engine), and each run keeps a copy of the
    best network seen, which is the one printed, saved, and returned (with the training errors of
    the candidate it was copied from)."""
    width = len(candidates[0])
    lanes = [net for run in candidates for net in run]
    engine = make_engine(args, lanes, lang)
    due = comparisons_due(args)
    nets = [run[0] for run in candidates]
    kept = [None] * len(nets)                   # (score, candidate, strings) of each run's best
    log = Log(args, lang, show_rngs, runs)
    step = 0
    try:
        for batches in drawn_ahead(lang, rngs, num_strings(args)):
            count = len(batches[0].length)
            lrs = np.array([learning_rate(args, s) for s in range(step, step + count)])
            cuts = chunk_cuts(due, step, count)
            errors = []
            for a, b in zip(cuts[:-1], cuts[1:]):
                errors.append(engine.train_chunk([b_.part(a, b) for b_ in batches for _ in range(width)], lrs[a:b]))
                if step + b in due:
                    nets = compare_lanes(args, engine, lanes, candidates, lang, selections, kept, nets, step + b)
            step += count
            log.tick(count)
            shown = [i * width + (0 if seen is None else seen[1]) for i, seen in enumerate(kept)]
            end_of_chunk(args, log, nets, runs, np.concatenate(errors, axis=1)[shown], step)
        log.picked([k for _, k, _ in kept], [[score] for score, _, _ in kept], [s for *_, s in kept])
    finally:
        log.close()
    return nets


def compare_lanes(args, engine, lanes, candidates, lang, selections, kept, nets, done):
    """Score every lane, and where a run's best lane beats its best so far, keep a copy of it
    (kept[i] and nets[i] updated) -> nets."""
    width = len(candidates[0])
    if args.select == 'count':
        ns = same_n_of(lang, selections[0])
        scores = [count_score(ns, row) for row in engine.margins(selections[0])]
    else:                                       # each run has selection strings of its own
        scores = engine.evaluate([selection for selection in selections for _ in range(width)])
    better = []                                 # (run, its best lane's score, that lane) where it beats the kept
    for i in range(len(nets)):
        row = scores[i * width:(i + 1) * width]
        k = best_of(args.select, row)
        if improves(args.select, row[k], kept[i] and kept[i][0]):
            better.append((i, row[k], k))
    if better:
        engine.copy_to(lanes)                   # every lane's weights into its network, once
    for i, score, k in better:
        kept[i] = (score, k, done)
        nets[i] = copy.deepcopy(candidates[i][k])
    return nets
