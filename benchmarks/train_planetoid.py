"""Node classification accuracy on Planetoid, over seeds: GCN on Cora and CiteSeer, GAT on Cora.

    python benchmarks/train_planetoid.py [--data DIR] [--seeds 10]

Hyper-parameters are the papers': GCN hidden 16, dropout 0.5, weight decay 5e-4 (first
layer), Adam 0.01, 200 epochs; GAT 8 heads x 8 hidden, ELU, dropout 0.6 (inputs and
attention), weight decay 5e-4, Adam 0.005, 300 epochs. Test accuracy is read at the epoch of
best validation accuracy. Prints mean +- std over seeds and the median time per epoch.
"""

from __future__ import annotations

import argparse

import mlx.core as mx
import numpy as np

import mlx_sparse as ms

RUNS = [  # name, dataset, model, epochs, lr, published test accuracy, target
    ("GCN", "cora", "gcn", 200, 0.01, 81.5, 80.5),
    ("GCN", "citeseer", "gcn", 200, 0.01, 70.3, 69.0),
    ("GAT", "cora", "gat", 300, 0.005, 83.0, 81.0),
]


def run(data, model_kind, epochs, lr, seed):
    mx.random.seed(seed)
    if model_kind == "gcn":
        model = ms.models.GCN(data.features.shape[1], 16, data.num_classes)
        return ms.models.train_node_classifier(model, data, epochs=epochs, lr=lr, seed=seed)
    model = ms.models.GAT(data.features.shape[1], 8, data.num_classes, heads=8)
    A = data.adjacency + ms.eye(data.num_nodes)
    return ms.models.train_node_classifier(model, data, epochs=epochs, lr=lr, seed=seed, adjacency=A)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None,
                    help="a folder of ind.<name>.* files (default: the copy inside mlx_sparse)")
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    print(f"{args.seeds} seeds; device {mx.default_device()}, {ms.num_threads()} CPU threads")
    print("| model | dataset | test accuracy (mean +- std) | published | target | met? | ms/epoch |")
    print("|---|---|---:|---:|---:|:---:|---:|")
    for name, dataset, kind, epochs, lr, published, target in RUNS:
        data = ms.datasets.load_planetoid(dataset, args.data)
        results = [run(data, kind, epochs, lr, seed) for seed in range(args.seeds)]
        acc = np.array([r.test_accuracy for r in results]) * 100
        per_epoch = np.median([r.seconds_per_epoch for r in results]) * 1e3
        met = "yes" if acc.mean() >= target else "**no**"
        print(f"| {name} | {dataset} | {acc.mean():.1f} +- {acc.std():.1f} | {published} | "
              f">= {target} | {met} | {per_epoch:.1f} |", flush=True)


if __name__ == "__main__":
    main()
