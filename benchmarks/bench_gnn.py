"""Training time per epoch (forward + backward + Adam update) of our GCN and GAT against
torch_geometric's GCNConv / GATConv on the CPU: same Cora data, same hyper-parameters, one run.

    python benchmarks/bench_gnn.py [--data DIR] [--threads N] [--epochs N]

Both libraries get the same number of CPU threads. Needs torch and torch_geometric (not
dependencies of mlx_sparse). Our bag-of-words features stay sparse (an SpMM); PyG's are the
dense matrix its GCNConv expects.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial


def time_epochs(step, epochs):
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[5:])  # after warm-up (compilation, caches)


def ours(data, kind, epochs):
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    import mlx_sparse as ms

    mx.random.seed(0)
    if kind == "gcn":
        model, lr, A = ms.models.GCN(data.features.shape[1], 16, data.num_classes), 0.01, data.normalized_adjacency
    else:
        model, lr = ms.models.GAT(data.features.shape[1], 8, data.num_classes, heads=8), 0.005
        A = data.adjacency + ms.eye(data.num_nodes)
    opt = optim.Adam(learning_rate=lr)
    x, y, train = data.features, data.labels, data.train_mask

    def loss_fn(m):
        ce = nn.losses.cross_entropy(m(x, A), y, reduction="none")
        decay = sum(mx.sum(mx.square(w)) for w in m.weight_decay_terms()) / 2
        return mx.sum(mx.where(train, ce, 0)) / mx.sum(train) + 5e-4 * decay

    grad_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step():
        loss, grads = grad_fn(model)
        opt.update(model, grads)
        return loss

    model.train()
    return time_epochs(lambda: mx.eval(step(), state), epochs)


def pyg(data, kind, epochs):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GATConv, GCNConv

    torch.manual_seed(0)
    A = data.adjacency.toscipy().tocoo()
    edge_index = torch.tensor(np.vstack([A.row, A.col]), dtype=torch.long)
    x = torch.tensor(data.features.toarray())
    y = torch.tensor(np.asarray(data.labels), dtype=torch.long)
    train = torch.tensor(np.asarray(data.train_mask))
    if kind == "gcn":
        conv1, conv2 = GCNConv(x.shape[1], 16), GCNConv(16, data.num_classes)
        params = [dict(params=conv1.parameters(), weight_decay=5e-4),
                  dict(params=conv2.parameters(), weight_decay=0)]
        lr, p, act = 0.01, 0.5, F.relu
    else:
        conv1 = GATConv(x.shape[1], 8, heads=8, dropout=0.6)
        conv2 = GATConv(64, data.num_classes, heads=1, concat=False, dropout=0.6)
        params, lr, p, act = list(conv1.parameters()) + list(conv2.parameters()), 0.005, 0.6, F.elu
    opt = torch.optim.Adam(params, lr=lr, weight_decay=0 if kind == "gcn" else 5e-4)

    def step():
        opt.zero_grad()
        h = act(conv1(F.dropout(x, p), edge_index))
        out = conv2(F.dropout(h, p), edge_index)
        loss = F.cross_entropy(out[train], y[train])
        loss.backward()
        opt.step()

    return time_epochs(step, epochs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None,
                    help="a folder of ind.<name>.* files (default: the copy inside mlx_sparse)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    os.environ["MLX_SPARSE_NUM_THREADS"] = str(args.threads)
    import mlx.core as mx
    import torch

    import mlx_sparse as ms

    mx.set_default_device(mx.cpu)
    ms.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    data = ms.datasets.load_planetoid("cora", args.data)
    print(f"Cora, CPU, {args.threads} threads each; ms per epoch (forward + backward + update), median")
    print("| model | mlx_sparse | torch_geometric | speed-up | target |")
    print("|---|---:|---:|---:|---|")
    for kind, target in (("gcn", ">= 1.0x"), ("gat", "-")):
        t_ours, t_pyg = ours(data, kind, args.epochs), pyg(data, kind, args.epochs)
        print(f"| {kind.upper()} | {t_ours * 1e3:.2f} | {t_pyg * 1e3:.2f} | {t_pyg / t_ours:.2f}x | {target} |",
              flush=True)


if __name__ == "__main__":
    main()
