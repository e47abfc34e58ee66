"""Fine-tuning machinery for :mod:`govcx.engines.finetuned` (needs torch; imported lazily).

A BERT encoder written against plain ``torch.nn`` (the layout of Hugging Face's
``BertModel``, so any BERT ``model.safetensors`` loads), mean pooling over tokens and a
linear head; cross-entropy, AdamW with linear warm-up and decay, length-bucketed batches
with dynamic padding. The trained network is exported to ONNX: inference runs on
onnxruntime, without torch.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from govcx.knowledge._bert import bert_names, is_mpnet

_LAYER_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attn_out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "inter": "intermediate.dense",
    "out": "output.dense",
    "out_norm": "output.LayerNorm",
}


class BertClassifier(nn.Module):  # type: ignore[misc,unused-ignore]  # torch: Any without it
    """BERT or MPNet encoder, mean pooling over the attention mask, dropout and a linear
    head.

    ``forward(input_ids, attention_mask)`` returns the class logits (batch, classes). MPNet
    (``model_type: mpnet`` in config.json) is BERT with three differences, mirrored from
    the numpy encoder :class:`govcx.knowledge._bert.BertEncoder`: positions start after the
    padding id, no token-type embeddings, and a learned relative-position bias (log-spaced
    buckets, shared by all layers) added to every layer's attention scores.
    """

    def __init__(self, config: dict[str, Any], n_classes: int) -> None:
        super().__init__()
        hidden = int(config["hidden_size"])
        eps = float(config.get("layer_norm_eps", 1e-12))
        self.mpnet = is_mpnet(config)
        self.heads = int(config["num_attention_heads"])
        self.head_size = hidden // self.heads
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.word_embeddings = nn.Embedding(int(config["vocab_size"]), hidden)
        self.position_embeddings = nn.Embedding(int(config["max_position_embeddings"]), hidden)
        if self.mpnet:
            self.position_offset = int(config.get("pad_token_id", 1)) + 1
            self.relative_attention_bias = nn.Embedding(
                int(config.get("relative_attention_num_buckets", 32)), self.heads
            )
        else:
            self.position_offset = 0
            self.token_type_embeddings = nn.Embedding(int(config.get("type_vocab_size", 2)), hidden)
        self.embeddings_norm = nn.LayerNorm(hidden, eps=eps)
        inter = int(config["intermediate_size"])
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "query": nn.Linear(hidden, hidden),
                    "key": nn.Linear(hidden, hidden),
                    "value": nn.Linear(hidden, hidden),
                    "attn_out": nn.Linear(hidden, hidden),
                    "attn_norm": nn.LayerNorm(hidden, eps=eps),
                    "inter": nn.Linear(hidden, inter),
                    "out": nn.Linear(inter, hidden),
                    "out_norm": nn.LayerNorm(hidden, eps=eps),
                }
            )
            for _ in range(int(config["num_hidden_layers"]))
        )
        self.dropout = nn.Dropout(float(config.get("hidden_dropout_prob", 0.1)))
        self.attention_dropout = nn.Dropout(float(config.get("attention_probs_dropout_prob", 0.1)))
        self.head = nn.Linear(hidden, n_classes)

    def load_bert(self, weights: dict[str, torch.Tensor]) -> None:
        """Copy a Hugging Face ``BertModel`` or ``MPNetModel`` state dict (``bert.`` or
        ``mpnet.`` prefix optional)."""
        w = bert_names(weights)
        with torch.no_grad():
            self.word_embeddings.weight.copy_(w["embeddings.word_embeddings.weight"])
            self.position_embeddings.weight.copy_(w["embeddings.position_embeddings.weight"])
            if self.mpnet:
                self.relative_attention_bias.weight.copy_(
                    w["encoder.relative_attention_bias.weight"]
                )
            else:
                self.token_type_embeddings.weight.copy_(
                    w["embeddings.token_type_embeddings.weight"]
                )
            self.embeddings_norm.weight.copy_(w["embeddings.LayerNorm.weight"])
            self.embeddings_norm.bias.copy_(w["embeddings.LayerNorm.bias"])
            for n, layer in enumerate(self.layers):
                for short, long in _LAYER_NAMES.items():
                    module: Any = layer[short]
                    module.weight.copy_(w[f"encoder.layer.{n}.{long}.weight"])
                    module.bias.copy_(w[f"encoder.layer.{n}.{long}.bias"])

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token plus position (and, for BERT, token-type 0) embeddings, normalised."""
        width = input_ids.shape[1]
        offset = self.position_offset
        x = (
            self.word_embeddings(input_ids)
            + self.position_embeddings.weight[offset : offset + width]
        )
        if not self.mpnet:
            x = x + self.token_type_embeddings.weight[0]
        out: torch.Tensor = self.dropout(self.embeddings_norm(x))
        return out

    def attention_bias(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """What every layer adds to its attention scores: -1e4 on padding keys, plus
        MPNet's relative-position bias; (batch, heads or 1, tokens, tokens)."""
        bias = (1.0 - attention_mask)[:, None, None, :] * -1e4
        if not self.mpnet:
            return bias
        width = attention_mask.shape[1]
        buckets = self.relative_attention_bias.num_embeddings // 2
        exact = buckets // 2
        # As the numpy encoder: query minus key position; float64 so that the bucket
        # edges (distances 16, 32, 64) round as they do there.
        pos = torch.arange(width, dtype=torch.float64, device=attention_mask.device)
        n = pos[:, None] - pos[None, :]
        index = (n < 0).to(torch.long) * buckets
        n = n.abs()
        large = exact + (
            torch.log(n.clamp(min=1.0) / exact) / math.log(128 / exact) * (buckets - exact)
        ).to(torch.long)
        index = index + torch.where(n < exact, n.to(torch.long), large.clamp(max=buckets - 1))
        relative = self.relative_attention_bias(index).permute(2, 0, 1)  # (heads, w, w)
        return bias + relative[None]

    def encode(
        self, x: torch.Tensor, bias: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Run layers ``start`` to ``stop`` (default: the last) over hidden states ``x``."""
        batch, width, _ = x.shape
        size = self.head_size
        for layer in list(self.layers)[start:stop]:

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(batch, width, self.heads, size).transpose(1, 2)

            q, k, v = split(layer["query"](x)), split(layer["key"](x)), split(layer["value"](x))
            att = (q @ k.transpose(-1, -2)) * self.scale + bias
            att = self.attention_dropout(att.softmax(-1))
            ctx = (att @ v).transpose(1, 2).reshape(batch, width, -1)
            x = layer["attn_norm"](x + self.dropout(layer["attn_out"](ctx)))
            inner = nn.functional.gelu(layer["inter"](x))
            x = layer["out_norm"](x + self.dropout(layer["out"](inner)))
        return x

    def classify(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits from the last layer's hidden states: mean pooling, dropout, head."""
        out: torch.Tensor = self.head(self.dropout(pool(x, attention_mask)))
        return out

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.encode(self.embed(input_ids), self.attention_bias(attention_mask))
        return pool(x, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.encode(self.embed(input_ids), self.attention_bias(attention_mask))
        return self.classify(x, attention_mask)


def pool(x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens the mask keeps."""
    mask = attention_mask[..., None]
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def _groups(lengths: Sequence[int], size: int, rng: random.Random | None = None) -> list[list[int]]:
    """Indices in batches of similar length. With ``rng``: shuffled within buckets of 50
    batches, and the batches' order shuffled."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if rng is None:
        return [order[i : i + size] for i in range(0, len(order), size)]
    groups: list[list[int]] = []
    bucket = size * 50
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket]
        rng.shuffle(chunk)
        chunk.sort(key=lambda i: lengths[i])
        groups += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(groups)
    return groups


def batches(
    encoded: Sequence[Sequence[int]],
    size: int,
    rng: random.Random | None = None,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Batches of similar length (dynamic padding): (indices, input ids, attention mask)."""
    for group in _groups([len(e) for e in encoded], size, rng):
        width = max(1, max(len(encoded[i]) for i in group))
        ids = torch.zeros(len(group), width, dtype=torch.long)
        mask = torch.zeros(len(group), width)
        for row, i in enumerate(group):
            ids[row, : len(encoded[i])] = torch.tensor(list(encoded[i]), dtype=torch.long)
            mask[row, : len(encoded[i])] = 1.0
        yield group, ids, mask


def _cache_lower_layers(
    model: BertClassifier, encoded: Sequence[Sequence[int]], frozen: int
) -> list[torch.Tensor]:
    """Each text's hidden states after the first ``frozen`` layers (eval mode, no
    gradients), unpadded: a text's states do not depend on the padding of its batch."""
    model.eval()
    out: list[torch.Tensor] = [torch.empty(0)] * len(encoded)
    with torch.no_grad():
        for group, ids, mask in batches(encoded, 64):
            x = model.encode(model.embed(ids), model.attention_bias(mask), 0, frozen)
            for row, i in enumerate(group):
                out[i] = x[row, : len(encoded[i])].clone()
    return out


def train(
    model: BertClassifier,
    encoded: Sequence[Sequence[int]],
    targets: Sequence[int],
    *,
    epochs: int,
    learning_rate: float,
    head_learning_rate: float,
    batch_size: int,
    warmup: float,
    weight_decay: float,
    seed: int,
    train_layers: int | None = None,
    progress: Any = None,
) -> list[float]:
    """Fine-tune ``model`` in place; returns the mean training loss of each epoch.

    ``train_layers``: train only the top this many layers and the head (None: all layers
    and the embeddings). The layers below are frozen and run once per text, before the
    first epoch, and their outputs cached: each epoch then costs only the top layers'
    forward and backward passes (on all-mpnet-base-v2, a fraction of the whole network).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    depth = len(model.layers)
    frozen = 0 if train_layers is None else max(0, depth - train_layers)
    cache: list[torch.Tensor] | None = None
    if frozen or train_layers is not None:
        for name, parameter in model.named_parameters():
            top = name.startswith("head.") or any(
                name.startswith(f"layers.{n}.") for n in range(frozen, depth)
            )
            parameter.requires_grad_(top)
        cache = _cache_lower_layers(model, encoded, frozen)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head = [p for n, p in named if n.startswith("head.")]
    decay = [p for n, p in named if not n.startswith("head.") and p.ndim == 2]
    no_decay = [p for n, p in named if not n.startswith("head.") and p.ndim < 2]
    optimiser = torch.optim.AdamW(
        [
            {"params": decay, "lr": learning_rate, "weight_decay": weight_decay},
            {"params": no_decay, "lr": learning_rate, "weight_decay": 0.0},
            {"params": head, "lr": head_learning_rate, "weight_decay": 0.0},
        ]
    )
    steps = epochs * math.ceil(len(encoded) / batch_size)
    warm = max(1, int(warmup * steps))

    def factor(step: int) -> float:
        return min((step + 1) / warm, max(0.0, (steps - step) / max(1, steps - warm)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    labels = torch.tensor(list(targets), dtype=torch.long)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    model.train()
    for epoch in range(epochs):
        total, seen = 0.0, 0
        for group, ids, mask in batches(encoded, batch_size, rng):
            if cache is None:
                out = model(ids, mask)
            else:
                x = torch.zeros(len(group), ids.shape[1], cache[group[0]].shape[-1])
                for row, i in enumerate(group):
                    x[row, : len(cache[i])] = cache[i]
                x = model.encode(x, model.attention_bias(mask), frozen)
                out = model.classify(x, mask)
            loss = loss_fn(out, labels[group])
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
            optimiser.step()
            schedule.step()
            total += float(loss.item()) * len(group)
            seen += len(group)
        losses.append(total / max(1, seen))
        if progress is not None:
            progress(epoch + 1, epochs, losses[-1])
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return losses


def logits(
    model: BertClassifier, encoded: Sequence[Sequence[int]], batch_size: int = 64
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Class logits of encoded texts, in input order (eval mode, no gradients)."""
    model.eval()
    out = np.zeros((len(encoded), model.head.out_features), dtype=np.float32)
    with torch.no_grad():
        for group, ids, mask in batches(encoded, batch_size):
            out[group] = model(ids, mask).numpy()
    return out


def export_onnx(model: BertClassifier, path: Path) -> None:
    """Write ``model`` as ONNX: inputs ``input_ids`` (int64) and ``attention_mask``
    (float32), both (batch, tokens); output ``logits`` (batch, classes)."""
    model.eval()
    # A sample batch of two rows of five tokens; batch size and length stay dynamic.
    ids = torch.zeros((2, 5), dtype=torch.long)
    mask = torch.ones(2, 5)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export's, which needs
        # onnxscript besides; this plain graph exports the same either way.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "logits": {0: "batch"},
            },
        )


def read_config(model_dir: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return config
