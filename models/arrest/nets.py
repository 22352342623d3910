"""The seed paper's three neural models in PyTorch (optional: imported only when torch is).

The paper feeds a one-hot + scaled-coordinate vector to a 1-D CNN, an LSTM and an MLP. Here
the same vector is represented as a sequence of field tokens (one per feature column): each
categorical column's index is embedded, each numeric column is standardised and scaled by a
learned per-field vector. The CNN convolves over that sequence (two conv + max-pool layers,
a dense layer with dropout), the LSTM reads it in column order, the MLP flattens it. Every
model takes the encoder's float32 matrix (so ONNX serving is the same for every model) and
returns the arrest probability, shape ``(n, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

KINDS = ("mlp", "cnn", "lstm")
"""The neural model kinds (``--models``)."""

TOKEN = 16
"""Width of one field token."""


class FieldTokens(nn.Module):
    """Float matrix -> ``(n, fields, TOKEN)`` tokens (embeddings and scaled numerics)."""

    def __init__(self, cardinalities: Sequence[int], mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.n_cat = len(cardinalities)
        offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.as_tensor(offsets))
        self.register_buffer("limits", torch.as_tensor(np.asarray(cardinalities) - 1))
        self.embed = nn.Embedding(int(sum(cardinalities)) or 1, TOKEN)
        n_num = len(mean)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.scale = nn.Parameter(torch.randn(n_num, TOKEN) * 0.1)
        self.shift = nn.Parameter(torch.zeros(n_num, TOKEN))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat = x[:, : self.n_cat].long()
        cat = torch.minimum(torch.clamp(cat, min=0), self.limits) + self.offsets
        num = (x[:, self.n_cat :] - self.mean) / self.std
        num = torch.nan_to_num(num, nan=0.0)
        tokens_num = num.unsqueeze(-1) * self.scale + self.shift
        return torch.cat([self.embed(cat), tokens_num], dim=1)


class ArrestNet(nn.Module):
    """Tokens -> body (``mlp``, ``cnn`` or ``lstm``) -> sigmoid probability."""

    def __init__(self, kind: str, tokens: FieldTokens, n_fields: int) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown neural model {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self.tokens = tokens
        if kind == "mlp":
            self.body: nn.Module = nn.Sequential(
                nn.Flatten(),
                nn.Linear(n_fields * TOKEN, 128),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(128, 64),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(64, 1),
            )
        elif kind == "cnn":
            pooled = max(n_fields // 4, 1)
            self.body = nn.Sequential(
                nn.Conv1d(TOKEN, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool1d(2, ceil_mode=True),
                nn.Conv1d(32, 64, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveMaxPool1d(pooled),
                nn.Flatten(),
                nn.Linear(64 * pooled, 64),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(64, 1),
            )
        else:
            self.lstm = nn.LSTM(TOKEN, 64, batch_first=True)
            self.body = nn.Sequential(
                nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        if self.kind == "cnn":
            t = t.transpose(1, 2)
        elif self.kind == "lstm":
            out, _ = self.lstm(t)
            t = out[:, -1, :]
        return torch.sigmoid(self.body(t))


def fit_net(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    cardinalities: Sequence[int],
    *,
    epochs: int = 3,
    batch_size: int = 1024,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> ArrestNet:
    """Train one network with Adam on binary cross-entropy (the paper's setup)."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    n_cat = len(cardinalities)
    num = X[:, n_cat:].astype(np.float64)
    mean = np.nan_to_num(np.nanmean(num, axis=0)) if len(num) else np.zeros(num.shape[1])
    std = np.nan_to_num(np.nanstd(num, axis=0), nan=1.0)
    std[std < 1e-6] = 1.0
    net = ArrestNet(kind, FieldTokens(cardinalities, mean, std), X.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt = torch.as_tensor(X, dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32)).unsqueeze(1)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.BCELoss()
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        bar = tqdm(
            range(0, len(xt), batch_size),
            desc=f"{kind} epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
        )
        for start in bar:
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    net.eval()
    return net


def predict_net(net: ArrestNet, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Arrest probabilities of the rows of ``X`` (float64, shape ``(n,)``)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[start : start + batch_size], dtype=torch.float32)
            out.append(net(xb).numpy()[:, 0])
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def export_net(net: ArrestNet, n_features: int, path: str) -> None:
    """Export to ONNX with a dynamic batch axis (input ``X``, output ``probability``)."""
    dummy = torch.zeros(2, n_features, dtype=torch.float32)
    torch.onnx.export(
        net,
        (dummy,),
        path,
        input_names=["X"],
        output_names=["probability"],
        dynamic_axes={"X": {0: "batch"}, "probability": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
