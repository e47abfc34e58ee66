"""A BERT or MPNet sentence encoder in numpy, for local sentence-transformers weights
without torch.

Reads ``model.safetensors`` (parsed here: an 8-byte header length, a JSON header, raw
little-endian tensors), ``tokenizer.json`` (Hugging Face ``tokenizers``), ``config.json``
and, when present, ``sentence_bert_config.json`` (max_seq_length) and
``1_Pooling/config.json``. Mean pooling over tokens, then L2 normalisation, as
all-MiniLM-L6-v2 does; it reproduces the sentence-transformers vectors to float32
precision.

MPNet (``model_type: mpnet`` in config.json, e.g. all-mpnet-base-v2) differs from BERT in
three places, all handled here: positions start after the padding id (RoBERTa style), there
are no token-type embeddings, and every layer adds a learned relative-position bias (32
log-spaced buckets, shared by all layers) to the attention scores.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings
from threadpoolctl import threadpool_limits

from govcx.errors import ConfigError

F32 = npt.NDArray[np.float32]
T = TypeVar("T")
_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def load_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Tensors of a .safetensors file as numpy arrays (float16 widened to float32)."""
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
        blob = fh.read()
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ConfigError(str(path), f"tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        array = np.frombuffer(
            blob, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize, offset=start
        ).reshape(info["shape"])
        tensors[name] = array.astype(np.float32) if dtype == np.float16 else array
    return tensors


_MPNET_NAMES = {
    "attention.attn.q": "attention.self.query",
    "attention.attn.k": "attention.self.key",
    "attention.attn.v": "attention.self.value",
    "attention.attn.o": "attention.output.dense",
    "attention.LayerNorm": "attention.output.LayerNorm",
}


def is_mpnet(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes an MPNet encoder (else BERT)."""
    return config.get("model_type") == "mpnet"


def bert_names(weights: dict[str, T]) -> dict[str, T]:
    """A BERT or MPNet state dict under BERT's names, without the ``bert.``/``mpnet.``
    prefix: MPNet's layers have the same roles under other names, so one forward pass
    (here, and the torch one of :mod:`govcx.engines._finetune`) serves both."""
    out: dict[str, T] = {}
    for key, value in weights.items():
        key = key.removeprefix("bert.").removeprefix("mpnet.")
        for old, new in _MPNET_NAMES.items():
            key = key.replace(f".{old}.", f".{new}.")
        out[key] = value
    return out


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: F32 = (x - mean) / np.sqrt(var + eps) * weight + bias
    return out


def _gelu(x: F32) -> F32:
    from scipy.special import erf

    out: F32 = 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))
    return out


class BertEncoder:
    """Forward pass of a BERT encoder (no dropout, inference only)."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        files = {
            name: model_dir / name
            for name in ("model.safetensors", "tokenizer.json", "config.json")
        }
        missing = [name for name, path in files.items() if not path.is_file()]
        if missing:
            raise ConfigError(
                str(model_dir), "not a local BERT model folder: missing " + ", ".join(missing)
            )
        self.config = json.loads(files["config.json"].read_text(encoding="utf-8"))
        self.max_len = int(self.config.get("max_position_embeddings", 512))
        st_config = model_dir / "sentence_bert_config.json"
        if st_config.is_file():
            self.max_len = min(
                self.max_len,
                int(
                    json.loads(st_config.read_text(encoding="utf-8")).get(
                        "max_seq_length", self.max_len
                    )
                ),
            )
        self.name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
        self.tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.no_padding()
        self.w = bert_names(load_safetensors(files["model.safetensors"]))
        self.mpnet = is_mpnet(self.config)
        if self.mpnet:
            self.pad_id = int(self.config.get("pad_token_id", 1))
        self.layers = int(self.config["num_hidden_layers"])
        self.heads = int(self.config["num_attention_heads"])
        self.hidden = int(self.config["hidden_size"])
        self.eps = float(self.config.get("layer_norm_eps", 1e-12))
        # Pre-transpose the dense weights once: x @ W.T on every call is a copy.
        for key in list(self.w):
            dense = "embeddings" not in key and "relative_attention_bias" not in key
            if key.endswith(".weight") and self.w[key].ndim == 2 and dense:
                self.w[key] = np.ascontiguousarray(self.w[key].T)

    @property
    def dimensions(self) -> int:
        return self.hidden

    def _linear(self, x: F32, name: str) -> F32:
        weight = self.w[name + ".weight"]
        flat = np.ascontiguousarray(x).reshape(-1, x.shape[-1]) @ weight
        flat += self.w[name + ".bias"]
        out: F32 = flat.reshape(*x.shape[:-1], weight.shape[1])
        return out

    def encode(self, texts: list[str], batch_size: int = 32) -> F32:
        """Mean-pooled, L2-normalised sentence vectors, in input order."""
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings])
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = [encodings[i] for i in order[start : start + batch_size]]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, enc in enumerate(batch):
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = 1.0
            # Multi-threaded BLAS spends more time synchronising than computing on these
            # small matrices (measured: 100x slower on 2 cores).
            with threadpool_limits(1, user_api="blas"):
                vectors = self._forward(ids, mask)
            out[order[start : start + batch_size]] = vectors
        return out

    def _relative_bias(self, width: int) -> F32:
        """MPNet's attention bias for each head and (query, key) position: (heads, w, w)."""
        table = self.w["encoder.relative_attention_bias.weight"]  # (buckets, heads)
        buckets = table.shape[0] // 2
        exact = buckets // 2
        pos = np.arange(width)
        n = pos[:, None] - pos[None, :]  # query minus key position
        out = (n < 0).astype(np.int64) * buckets
        n = np.abs(n)
        with np.errstate(divide="ignore"):
            large = exact + (
                np.log(np.maximum(n, 1) / exact) / np.log(128 / exact) * (buckets - exact)
            ).astype(np.int64)
        out += np.where(n < exact, n, np.minimum(large, buckets - 1))
        result: F32 = np.ascontiguousarray(table[out].transpose(2, 0, 1))
        return result

    def _forward(self, ids: npt.NDArray[np.int64], mask: F32) -> F32:
        w = self.w
        batch, width = ids.shape
        heads, size = self.heads, self.hidden // self.heads
        if self.mpnet:
            positions = w["embeddings.position_embeddings.weight"]
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + positions[self.pad_id + 1 : self.pad_id + 1 + width]
            )
        else:
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][:width]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, :]
        relative = self._relative_bias(width) if self.mpnet else None
        scale = np.float32(1.0 / np.sqrt(size))
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def split(t: F32) -> F32:
                return np.ascontiguousarray(
                    t.reshape(batch, width, heads, size).transpose(0, 2, 1, 3)
                )

            q = split(self._linear(x, p + "attention.self.query") * scale)
            kt = np.ascontiguousarray(
                split(self._linear(x, p + "attention.self.key")).transpose(0, 1, 3, 2)
            )
            v = split(self._linear(x, p + "attention.self.value"))
            ctx = np.empty((batch, heads, width, size), dtype=np.float32)
            # One 2-D product per (row, head): numpy's stacked matmul is far slower here.
            for b in range(batch):
                for h in range(heads):
                    att = q[b, h] @ kt[b, h] + bias[b]
                    if relative is not None:
                        att += relative[h]
                    # Clamp before exp: denormal floats slow BLAS down a hundredfold.
                    att = np.exp(np.maximum(att - att.max(-1, keepdims=True), np.float32(-80.0)))
                    att /= att.sum(-1, keepdims=True)
                    ctx[b, h] = att @ v[b, h]
            merged = ctx.transpose(0, 2, 1, 3).reshape(batch, width, self.hidden)
            x = _layer_norm(
                x + self._linear(merged, p + "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            hidden = _gelu(self._linear(x, p + "intermediate.dense"))
            x = _layer_norm(
                x + self._linear(hidden, p + "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: F32 = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


class BertEmbeddings(Embeddings):
    """langchain ``Embeddings`` over :class:`BertEncoder` (e.g. all-MiniLM-L6-v2)."""

    def __init__(self, model_dir: Path, *, batch_size: int = 32) -> None:
        self.encoder = BertEncoder(model_dir)
        self.batch_size = min(batch_size, 64)

    @property
    def signature(self) -> str:
        kind = "mpnet" if self.encoder.mpnet else "bert"
        return f"{kind}-numpy({self.encoder.name},dim={self.encoder.dimensions})"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self.encoder.encode(texts, self.batch_size).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
