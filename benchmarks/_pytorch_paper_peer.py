"""One measurement of `mnist1d_cnn_paper_vs_pytorch.py`, in its own process: the MNIST-1D paper's CNN
trained as the paper's own PyTorch code trains it (ConvBase and `train_model` of the mnist1d
repository's notebooks/models.py and notebooks/train.py, written again here).

The data: `make_dataset(get_dataset_args())`, the paper's frozen 4,000/1,000 sequences, all
4,000 used for training. The model: Conv1d(1, 25, 5, stride 2, padding 1), Conv1d(25, 25, 3,
stride 2, padding 1) twice, ReLU after each, Linear(125, 10) (5,210 parameters), with PyTorch's
default initialization (kaiming-uniform with a = sqrt(5), uniform biases). The training:
`torch.manual_seed(SEED)` before building the model, cross-entropy on the logits, Adam
(lr 1e-2, weight decay 0, PyTorch's eps 1e-8), batch 100 taken in the fixed order
`bix = (step * 100) % 4000` for `step in range(STEPS + 1)` (train.py's loop: STEPS + 1
updates), and the test accuracy of the final weights.

Variants (to find what a difference between this and a Keras run is worth): `--init glorot`
(Keras's Glorot-uniform kernels and zero biases), `--eps 1e-7` (Keras's Adam epsilon),
`--order shuffled` (a new permutation of the 4,000 every pass, as Keras's default
`shuffle`). Prints one JSON object per seed.

Usage: python benchmarks/_pytorch_paper_peer.py --seeds 0 1 2 [--steps 6000] [--threads 1]
           [--init torch|glorot] [--eps 1e-8] [--order fixed|shuffled]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

BATCH = 100


def data() -> tuple[torch.Tensor, ...]:
    from mnist1d.data import get_dataset_args, make_dataset

    raw = make_dataset(get_dataset_args())
    return (torch.tensor(raw["x"], dtype=torch.float32), torch.tensor(raw["y"], dtype=torch.int64),
            torch.tensor(raw["x_test"], dtype=torch.float32), torch.tensor(raw["y_test"], dtype=torch.int64))


class ConvBase(nn.Module):
    """The paper's CNN: three strided Conv1d of 25 channels (kernels 5, 3, 3), ReLU, a linear classifier."""

    def __init__(self, channels: int = 25, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(channels * 5, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.view(-1, 1, x.shape[-1])
        for conv in (self.conv1, self.conv2, self.conv3):
            h = conv(h).relu()
        return self.linear(h.view(h.shape[0], -1))


def glorot(net: nn.Module) -> None:
    """Keras's defaults instead of PyTorch's: Glorot-uniform kernels (same fans as Keras's), zero biases."""
    for layer in (net.conv1, net.conv2, net.conv3, net.linear):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def train(seed: int, steps: int, init: str, eps: float, order: str, tensors: tuple) -> dict:
    x_train, y_train, x_test, y_test = tensors
    torch.manual_seed(seed)
    np.random.seed(seed)
    net = ConvBase()
    if init == "glorot":
        glorot(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=0, eps=eps)
    loss_fn = nn.CrossEntropyLoss()
    permutation = torch.arange(len(x_train))
    started = time.perf_counter()
    for step in range(steps + 1):
        bix = (step * BATCH) % len(x_train)
        if order == "shuffled" and bix == 0:
            permutation = torch.randperm(len(x_train))
        batch = permutation[bix:bix + BATCH]
        loss = loss_fn(net(x_train[batch]), y_train[batch])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    fit_seconds = time.perf_counter() - started
    with torch.no_grad():
        test_loss = float(loss_fn(net(x_test), y_test))
    return {"stack": "pytorch", "seed": seed, "updates": steps + 1, "init": init, "eps": eps, "order": order,
            "fit_seconds": fit_seconds, "test": accuracy(net, x_test, y_test), "test_loss": test_loss,
            "train": accuracy(net, x_train, y_train), "threads": torch.get_num_threads(), "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--init", choices=("torch", "glorot"), default="torch")
    parser.add_argument("--eps", type=float, default=1e-8)
    parser.add_argument("--order", choices=("fixed", "shuffled"), default="fixed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tensors = data()
    for seed in args.seeds:
        print(json.dumps(train(seed, args.steps, args.init, args.eps, args.order, tensors)), flush=True)


if __name__ == "__main__":
    main()
