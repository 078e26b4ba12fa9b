"""One measurement of `mnist1d_cnn_fast_vs_pytorch.py`, in its own process: recipes/mnist1d_cnn_fast.yaml
as a plain PyTorch CPU training loop.

The same data (MNIST-1D's frozen 4,000/1,000 sequences, 10% of the training split held out
by scikit-learn's stratified `train_test_split(random_state=SEED)`, as kerasopt splits
it), the same model (ZeroPadding1D(1) + Conv1D(25, k, stride 2) x 3 with k = 5, 3, 3, ReLU,
then Dense 10: 5,210 parameters, Keras's Glorot-uniform kernels and zero biases), the same
training: batches of 100 reshuffled every epoch, a per-sample random shift of up to 4
(zero-pad 4 each side, crop 40 back at a random offset), Adam (Keras's epsilon 1e-7)
under PyTorch's `OneCycleLR` to 2e-2 without momentum cycling (kerasopt's `onecycle`
follows it step for step), 3,000 steps, and the held-out loss and accuracy after every
epoch as Keras's `fit` reports them. Prints one JSON object: `fit_seconds` (the training
loop with its per-epoch validation), `test` (accuracy on the test split) and `validation`.

Usage: python benchmarks/_pytorch_peer.py SEED STEPS THREADS
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from torch import nn

SEED, STEPS, THREADS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
BATCH, SHIFT = 100, 4


def data() -> tuple:
    from mnist1d.data import get_dataset_args, make_dataset
    from sklearn.model_selection import train_test_split

    raw = make_dataset(get_dataset_args())
    x, y = raw["x"].astype(np.float32), raw["y"].astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.1, stratify=y, random_state=SEED)
    as_tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in
                  (x_train, y_train, x_val, y_val, raw["x_test"].astype(np.float32), raw["y_test"].astype(np.int64))]
    return tuple(t[:, None, :] if t.dtype == torch.float32 else t for t in as_tensors)  # (N, 1, 40)


def model() -> nn.Module:
    layers: list[nn.Module] = []
    channels = 1
    for kernel in (5, 3, 3):
        conv = nn.Conv1d(channels, 25, kernel, stride=2, padding=1)
        nn.init.xavier_uniform_(conv.weight)
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU()]
        channels = 25
    dense = nn.Linear(25 * 5, 10)
    nn.init.xavier_uniform_(dense.weight)
    nn.init.zeros_(dense.bias)
    return nn.Sequential(*layers, nn.Flatten(), dense)


def shift(x: torch.Tensor) -> torch.Tensor:
    """Zero-pad by SHIFT each side and crop the length back at per-sample random offsets."""
    padded = nn.functional.pad(x, (SHIFT, SHIFT))
    start = torch.randint(0, 2 * SHIFT + 1, (x.shape[0], 1))
    index = (start + torch.arange(x.shape[-1])[None, :])[:, None, :]
    return torch.gather(padded, 2, index)


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    x_train, y_train, x_val, y_val, x_test, y_test = data()
    net = model()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02, eps=1e-7)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.02, total_steps=STEPS,
                                                   cycle_momentum=False)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    step, history = 0, []
    while step < STEPS:
        net.train()
        order = torch.randperm(len(x_train))
        for first in range(0, len(order), BATCH):
            batch = order[first:first + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(shift(x_train[batch])), y_train[batch])
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step == STEPS:
                break
        net.eval()
        with torch.no_grad():
            logits = net(x_val)
            history.append((float(loss_fn(logits, y_val)), float((logits.argmax(1) == y_val).float().mean())))
    fit_seconds = time.perf_counter() - started
    with torch.no_grad():
        test = float((net(x_test).argmax(1) == y_test).float().mean())
    print(json.dumps({"stack": "pytorch", "seed": SEED, "steps": step, "epochs": len(history),
                      "fit_seconds": fit_seconds, "test": test, "validation": history[-1][1],
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
