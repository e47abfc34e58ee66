"""The optional fine-tuned intent model: clear errors without torch or a model folder, and
(with torch and onnx installed) an ONNX model that computes what the torch network does."""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from govcx.engines.classifier import ClassifierConfig, IntentClassifier
from govcx.engines.finetuned import (
    META_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    FinetuneConfig,
    FinetunedModel,
    fine_tune,
)
from govcx.engines.labels import OUT_OF_SCOPE
from govcx.errors import ConfigError

EXAMPLES = {
    "order_status": [
        "where is my order",
        "has my parcel shipped yet",
        "track my order",
        "where is my parcel",
    ],
    "refund": [
        "i want my money back",
        "refund please",
        "please refund my order",
        "money back for my order",
    ],
    "password_reset": [
        "i forgot my password",
        "reset my password",
        "cannot sign in",
        "my login does not work",
    ],
}
OUT_OF_SCOPE_TEXTS = ["what is the weather tomorrow", "tell me a joke", "who won the match"]
TEXTS = [t for examples in EXAMPLES.values() for t in examples]
LABELS = [intent for intent, examples in EXAMPLES.items() for _ in examples]
TINY_BERT = {
    "hidden_size": 32,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
}


def _tokenizer_json(path: Path) -> int:
    """A word-level tokenizer over the test vocabulary ([CLS] text [SEP], lower case)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    words = sorted({w for t in [*TEXTS, *OUT_OF_SCOPE_TEXTS] for w in t.split()})
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(path))
    return len(vocab)


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray[Any, Any]]) -> None:
    header: dict[str, Any] = {}
    blobs, offset = [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def _tiny_base_model(folder: Path) -> Path:
    """A randomly initialised two-layer BERT folder, laid out like all-MiniLM-L6-v2's."""
    folder.mkdir()
    vocab_size = _tokenizer_json(folder / TOKENIZER_FILE)
    config = {**TINY_BERT, "vocab_size": vocab_size}
    h, inter = int(config["hidden_size"]), int(config["intermediate_size"])
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    tensors = {
        "embeddings.word_embeddings.weight": rng.normal(0, 0.5, (vocab_size, h)),
        "embeddings.position_embeddings.weight": rng.normal(0, 0.1, (64, h)),
        "embeddings.token_type_embeddings.weight": rng.normal(0, 0.1, (2, h)),
        "embeddings.LayerNorm.weight": np.ones(h),
        "embeddings.LayerNorm.bias": np.zeros(h),
    }
    shapes = {
        "attention.self.query": (h, h),
        "attention.self.key": (h, h),
        "attention.self.value": (h, h),
        "attention.output.dense": (h, h),
        "intermediate.dense": (inter, h),
        "output.dense": (h, inter),
    }
    for layer in range(int(config["num_hidden_layers"])):
        p = f"bert.encoder.layer.{layer}."
        for name, shape in shapes.items():
            tensors[p + name + ".weight"] = rng.normal(0, 0.2, shape)
            tensors[p + name + ".bias"] = rng.normal(0, 0.02, shape[0])
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + norm + ".weight"] = np.ones(h)
            tensors[p + norm + ".bias"] = np.zeros(h)
    _write_safetensors(folder / "model.safetensors", tensors)
    return folder


def _tiny_mpnet_model(folder: Path) -> Path:
    """A randomly initialised two-layer MPNet folder, laid out like all-mpnet-base-v2's
    (its names, no token-type embeddings, a relative-position bias table)."""
    _tiny_base_model(folder)
    config = json.loads((folder / "config.json").read_text())
    config |= {
        "model_type": "mpnet",
        "pad_token_id": 1,
        "max_position_embeddings": 160,
        "relative_attention_num_buckets": 32,
    }
    config.pop("type_vocab_size")
    (folder / "config.json").write_text(json.dumps(config))
    from govcx.knowledge._bert import load_safetensors

    renames = {
        "attention.self.query": "attention.attn.q",
        "attention.self.key": "attention.attn.k",
        "attention.self.value": "attention.attn.v",
        "attention.output.dense": "attention.attn.o",
        "attention.output.LayerNorm": "attention.LayerNorm",
    }
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for name, array in load_safetensors(folder / "model.safetensors").items():
        if "token_type" in name:
            continue
        name = name.replace("bert.", "mpnet.")
        for old, new in renames.items():
            name = name.replace(f".{old}.", f".{new}.")
        tensors[name] = array
    rng = np.random.default_rng(1)
    h = int(config["hidden_size"])
    tensors["embeddings.position_embeddings.weight"] = rng.normal(0, 0.1, (160, h))
    heads = int(config["num_attention_heads"])
    tensors["mpnet.encoder.relative_attention_bias.weight"] = rng.normal(0, 1.0, (32, heads))
    _write_safetensors(folder / "model.safetensors", tensors)
    return folder


TINY_MODELS = {"bert": _tiny_base_model, "mpnet": _tiny_mpnet_model}
# Long enough for every relative-position bucket (distances past 16, 32 and 64 tokens).
LONG_TEXT = " ".join(["where is my order"] * 20)


# -- without torch ---------------------------------------------------------------------------
def test_fine_tune_without_torch_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    base = _tiny_base_model(tmp_path / "base")
    with pytest.raises(ConfigError) as caught:
        fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, tmp_path / "out", base_model=base)
    assert "torch" in caught.value.message
    assert "pip install 'govcx[finetune]'" in caught.value.message
    assert not (tmp_path / "out").exists()


def test_fine_tune_refuses_an_incomplete_base_model(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    with pytest.raises(ConfigError) as caught:
        fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, tmp_path / "out", base_model=base)
    assert "model.safetensors" in caught.value.message
    assert "tokenizer.json" in caught.value.message


def test_a_missing_model_folder_is_a_config_error_naming_the_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetunedModel.load(tmp_path)
    for name in (MODEL_FILE, TOKENIZER_FILE, META_FILE):
        assert name in caught.value.message
    config = ClassifierConfig(wordllama_dim=0, finetuned=tmp_path)
    with pytest.raises(ConfigError, match="not a fine-tuned intent model folder"):
        IntentClassifier.fit(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, config=config)


def test_finetuned_weight_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="finetuned_weight"):
        ClassifierConfig(finetuned_weight=1.5)


# -- with torch and onnx -----------------------------------------------------------------------
def test_torch_mpnet_forward_equals_the_numpy_encoder(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the torch network needs the finetune extra")
    from govcx.engines import _finetune
    from govcx.knowledge._bert import BertEncoder, load_safetensors

    base = _tiny_mpnet_model(tmp_path / "base")
    reference = BertEncoder(base)
    assert reference.mpnet
    texts = ["refund", "where is my order", LONG_TEXT, "i forgot my password and cannot sign in"]
    expected = reference.encode(texts, batch_size=4)

    model = _finetune.BertClassifier(_finetune.read_config(base), 2)
    assert model.mpnet
    model.load_bert(
        {
            k: torch.from_numpy(v.copy())
            for k, v in load_safetensors(base / "model.safetensors").items()
        }
    )
    model.eval()
    encoded = [e.ids for e in reference.tokenizer.encode_batch(texts)]
    assert len(encoded[2]) > 64
    got = np.zeros_like(expected)
    with torch.no_grad():
        for group, ids, mask in _finetune.batches(encoded, 3):
            got[group] = torch.nn.functional.normalize(model.pooled(ids, mask), dim=1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)

    # The relative-position bias is in both: without it the vectors differ.
    with torch.no_grad():
        model.relative_attention_bias.weight.zero_()
        _, ids, mask = next(_finetune.batches(encoded[1:2], 1))
        plain = torch.nn.functional.normalize(model.pooled(ids, mask), dim=1).numpy()
    assert np.abs(plain[0] - expected[1]).max() > 1e-3


@pytest.mark.skipif(
    not os.environ.get("GOVCX_MPNET_DIR"),
    reason="optional: set GOVCX_MPNET_DIR to a local all-mpnet-base-v2 folder",
)
def test_torch_forward_of_all_mpnet_base_v2_equals_the_numpy_encoder() -> None:
    torch = pytest.importorskip("torch", reason="the torch network needs the finetune extra")
    from govcx.engines import _finetune
    from govcx.knowledge._bert import BertEncoder, load_safetensors

    base = Path(os.environ["GOVCX_MPNET_DIR"])
    reference = BertEncoder(base)
    texts = [
        "where is my card?",
        "I was charged twice for the same coffee this morning, can you refund it",
        "hi",
        " ".join(["word"] * 70),
    ]
    expected = reference.encode(texts)
    model = _finetune.BertClassifier(_finetune.read_config(base), 2)
    model.load_bert(
        {
            k: torch.from_numpy(v.copy())
            for k, v in load_safetensors(base / "model.safetensors").items()
        }
    )
    model.eval()
    got = np.zeros_like(expected)
    with torch.no_grad():
        encoded = [e.ids for e in reference.tokenizer.encode_batch(texts)]
        for group, ids, mask in _finetune.batches(encoded, 4):
            got[group] = torch.nn.functional.normalize(model.pooled(ids, mask), dim=1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("architecture", sorted(TINY_MODELS))
def test_onnx_export_computes_the_torch_logits(tmp_path: Path, architecture: str) -> None:
    torch = pytest.importorskip("torch", reason="the torch reference needs the finetune extra")
    pytest.importorskip("onnx", reason="ONNX export needs the finetune extra")
    from govcx.engines import _finetune
    from govcx.knowledge._bert import load_safetensors

    base = TINY_MODELS[architecture](tmp_path / "base")
    classes = [*EXAMPLES, OUT_OF_SCOPE]
    model = _finetune.BertClassifier(_finetune.read_config(base), len(classes))
    model.load_bert(
        {
            k: torch.from_numpy(v.copy())
            for k, v in load_safetensors(base / "model.safetensors").items()
        }
    )
    folder = tmp_path / "model"
    folder.mkdir()
    _finetune.export_onnx(model, folder / MODEL_FILE)
    (folder / TOKENIZER_FILE).write_bytes((base / TOKENIZER_FILE).read_bytes())
    (folder / META_FILE).write_text(json.dumps({"format": 1, "classes": classes, "max_length": 96}))
    onnx_model = FinetunedModel.load(folder)

    # Texts of different lengths share padded batches in both paths.
    texts = [
        *([LONG_TEXT] if architecture == "mpnet" else []),  # the tiny BERT has 64 positions
        "refund",
        "where is my order",
        "i forgot my password and cannot sign in",
        "tell me a joke",
        "unknown words here",
    ]
    encoded = [e.ids for e in onnx_model.tokenizer.encode_batch(texts)]
    expected = _finetune.logits(model, encoded, batch_size=3)
    got = onnx_model.logits(texts, batch_size=2)
    assert architecture == "bert" or len(encoded[0]) > 64
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.ptp(expected, axis=0).max() > 0.1  # the texts do get different logits


def test_fine_tune_learns_the_examples_and_is_reused(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="fine-tuning needs the finetune extra")
    pytest.importorskip("onnx", reason="fine-tuning needs the finetune extra")
    base = _tiny_base_model(tmp_path / "base")
    out = tmp_path / "model"
    config = FinetuneConfig(
        epochs=40,
        learning_rate=2e-3,
        head_learning_rate=1e-2,
        batch_size=4,
        threads=1,
        quantize=False,
    )
    fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=config)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["classes"] == [*sorted(EXAMPLES), OUT_OF_SCOPE]
    assert meta["losses"][-1] < meta["losses"][0] / 4

    classifier = IntentClassifier.fit(
        TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, config=ClassifierConfig(wordllama_dim=0, finetuned=out)
    )
    predicted = [p.intent for p in classifier.predict_many(TEXTS)]
    assert predicted == LABELS
    assert classifier.predict("tell me a joke").intent is None
    assert classifier.predict("where is my order").intent == "order_status"

    written = (out / MODEL_FILE).stat().st_mtime_ns
    fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=config)
    assert (out / MODEL_FILE).stat().st_mtime_ns == written  # same data: reused
    quantized = FinetuneConfig(**{**config.__dict__, "quantize": True})
    fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=quantized)
    assert (out / MODEL_FILE).stat().st_mtime_ns != written  # other settings: retrained
    assert sorted(p.name for p in out.iterdir()) == sorted([MODEL_FILE, TOKENIZER_FILE, META_FILE])
    int8 = FinetunedModel.load(out)
    assert [int8.classes[i] for i in int8.logits(TEXTS).argmax(axis=1)] == LABELS

    # A classifier over other intents refuses the folder, naming the difference.
    with pytest.raises(ConfigError, match="lacks billing"):
        IntentClassifier.fit(
            [*TEXTS, "my invoice is wrong"],
            [*LABELS, "billing"],
            OUT_OF_SCOPE_TEXTS,
            config=ClassifierConfig(wordllama_dim=0, finetuned=out),
        )


def test_a_written_model_that_disagrees_with_the_trained_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export that does not compute what was trained (here: a head that always says the
    first class) is deleted with an error instead of being left to look usable."""
    torch = pytest.importorskip("torch", reason="fine-tuning needs the finetune extra")
    pytest.importorskip("onnx", reason="fine-tuning needs the finetune extra")
    from govcx.engines import _finetune

    real_export = _finetune.export_onnx

    def broken_export(model: Any, path: Path) -> None:
        with torch.no_grad():
            model.head.weight.zero_()
            model.head.bias.copy_(torch.arange(model.head.out_features, 0, -1).float())
        real_export(model, path)

    monkeypatch.setattr(_finetune, "export_onnx", broken_export)
    base = _tiny_base_model(tmp_path / "base")
    out = tmp_path / "model"
    config = FinetuneConfig(
        epochs=40, learning_rate=2e-3, head_learning_rate=1e-2, batch_size=4, threads=1
    )
    with pytest.raises(ConfigError, match=r"picks the trained network's class for only"):
        fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=config)
    assert not (out / MODEL_FILE).exists() and not (out / META_FILE).exists()

    monkeypatch.setattr(_finetune, "export_onnx", real_export)
    fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=config)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["export_agreement"] >= 0.9 and meta["int8_agreement"] >= 0.9 and meta["quantized"]


def test_an_int8_model_that_disagrees_is_replaced_by_the_float_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Quantisation that breaks the model (seen on all-mpnet-base-v2, top 6 layers: int8 at
    chance) keeps the float32 model instead of throwing the training away."""
    torch = pytest.importorskip("torch", reason="fine-tuning needs the finetune extra")
    pytest.importorskip("onnx", reason="fine-tuning needs the finetune extra")
    import onnxruntime.quantization

    from govcx.engines import _finetune

    base = _tiny_base_model(tmp_path / "base")
    broken = _finetune.BertClassifier(_finetune.read_config(base), len(EXAMPLES) + 1)
    with torch.no_grad():
        broken.head.weight.zero_()
        broken.head.bias.copy_(torch.arange(len(EXAMPLES) + 1, 0, -1).float())
    _finetune.export_onnx(broken, tmp_path / "broken.onnx")

    def broken_quantisation(model_input: Path, model_output: Path, **_: Any) -> None:
        Path(model_output).write_bytes((tmp_path / "broken.onnx").read_bytes())

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", broken_quantisation)
    out = tmp_path / "model"
    config = FinetuneConfig(
        epochs=40, learning_rate=2e-3, head_learning_rate=1e-2, batch_size=4, threads=1
    )
    with caplog.at_level("WARNING", logger="govcx.engines"):
        fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=config)
    assert "keeping the float32 model" in caplog.text
    meta = json.loads((out / META_FILE).read_text())
    assert meta["quantized"] is False and meta["int8_agreement"] < 0.9
    assert meta["export_agreement"] >= 0.9
    assert sorted(p.name for p in out.iterdir()) == sorted([MODEL_FILE, TOKENIZER_FILE, META_FILE])
    model = FinetunedModel.load(out)
    assert [model.classes[i] for i in model.logits(TEXTS).argmax(axis=1)] == LABELS


def test_quantisation_keeps_outlier_matrices_in_float_when_int8_everywhere_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The int8 candidates are tried in turn: when quantising every MatMul breaks the model
    (all-mpnet-base-v2, top 6 trained: 3% agreement), the matrices with outlier weights
    (all-mpnet-base-v2's down-projections: up to 337 standard deviations) stay float32 and
    the rest is int8; the description lands in intent_model.json's terms."""
    torch = pytest.importorskip("torch", reason="the torch network needs the finetune extra")
    pytest.importorskip("onnx", reason="quantisation needs the finetune extra")
    import onnx
    import onnxruntime.quantization

    from govcx.engines import _finetune, finetuned
    from govcx.engines.finetuned import _quantize, _tokenizer

    # A matrix of the tiny model has 2,048 entries: its largest cannot reach 40 standard
    # deviations (at most sqrt(2047), 45, and only if all the rest are equal).
    monkeypatch.setattr(finetuned, "OUTLIER_RATIO", 10.0)
    base = _tiny_base_model(tmp_path / "base")
    model = _finetune.BertClassifier(_finetune.read_config(base), len(EXAMPLES) + 1)
    with torch.no_grad():
        out = model.layers[1]["out"].weight
        out[3, 5] = 30 * float(out.std())  # one outlier (25 sd after) in layer 1's FFN
    exported = tmp_path / "model.float32.onnx"
    _finetune.export_onnx(model, exported)
    encoded = [e.ids for e in _tokenizer(base / TOKENIZER_FILE, 64).encode_batch(TEXTS)]
    trained = _finetune.logits(model, encoded).argmax(axis=1)

    real = onnxruntime.quantization.quantize_dynamic
    calls: list[dict[str, Any]] = []

    def breaks_without_exclusions(model_input: Path, model_output: Path, **options: Any) -> None:
        calls.append(options)
        real(model_input, model_output, **options)
        if not options.get("nodes_to_exclude"):  # picks the class trained last: never right
            with torch.no_grad():
                model.head.weight.neg_()
                model.head.bias.neg_()
                _finetune.export_onnx(model, Path(model_output))
                model.head.weight.neg_()
                model.head.bias.neg_()

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", breaks_without_exclusions)
    target = tmp_path / MODEL_FILE
    agreement, described = _quantize(exported, target, encoded, trained, len(EXAMPLES) + 1)

    assert described == {"per_channel": True, "float_matmuls": 1, "candidates_tried": 2}
    assert agreement >= 0.99
    assert [c.get("nodes_to_exclude") for c in calls] == [None, ["/out_1/MatMul"]]
    nodes = {n.name: n.op_type for n in onnx.load(str(target)).graph.node}
    assert nodes["/out_1/MatMul"] == "MatMul"  # left in float32
    assert "MatMulInteger" in nodes.values()  # the rest is int8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["base", exported.name, MODEL_FILE]
    )  # no trial file left behind


def test_training_the_top_layers_leaves_the_lower_ones_as_they_were(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="fine-tuning needs the finetune extra")
    from govcx.engines import _finetune
    from govcx.knowledge._bert import load_safetensors

    base = _tiny_mpnet_model(tmp_path / "base")
    model = _finetune.BertClassifier(_finetune.read_config(base), 4)
    model.load_bert(
        {
            k: torch.from_numpy(v.copy())
            for k, v in load_safetensors(base / "model.safetensors").items()
        }
    )
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    from tokenizers import Tokenizer

    encoded = [e.ids for e in Tokenizer.from_file(str(base / TOKENIZER_FILE)).encode_batch(TEXTS)]
    targets = [sorted(EXAMPLES).index(label) for label in LABELS]
    losses = _finetune.train(
        model,
        encoded,
        targets,
        epochs=30,
        learning_rate=2e-3,
        head_learning_rate=1e-2,
        batch_size=4,
        warmup=0.1,
        weight_decay=0.01,
        seed=0,
        train_layers=1,
    )
    assert losses[-1] < losses[0] / 4
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed, "nothing was trained"
    assert all(name.startswith(("layers.1.", "head.")) for name in changed), changed
    assert "head.weight" in changed and "layers.1.query.weight" in changed
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again for export


def test_fine_tune_an_mpnet_base_model_on_its_top_layer(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="fine-tuning needs the finetune extra")
    pytest.importorskip("onnx", reason="fine-tuning needs the finetune extra")
    base = _tiny_mpnet_model(tmp_path / "base")
    out = tmp_path / "model"
    config = FinetuneConfig(
        epochs=40,
        learning_rate=2e-3,
        head_learning_rate=1e-2,
        batch_size=4,
        threads=1,
        train_layers=1,
    )
    fine_tune(TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, out, base_model=base, config=config)
    meta = json.loads((out / META_FILE).read_text())
    assert meta["architecture"] == "mpnet"
    assert meta["training"]["train_layers"] == 1
    assert meta["losses"][-1] < meta["losses"][0] / 4
    model = FinetunedModel.load(out)  # int8 ONNX on onnxruntime
    assert [model.classes[i] for i in model.logits(TEXTS).argmax(axis=1)] == LABELS
    classifier = IntentClassifier.fit(
        TEXTS, LABELS, OUT_OF_SCOPE_TEXTS, config=ClassifierConfig(wordllama_dim=0, finetuned=out)
    )
    assert classifier.predict("tell me a joke").intent is None


def test_train_layers_below_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="train_layers"):
        FinetuneConfig(train_layers=-1)


# -- the pack option and the CLI -----------------------------------------------------------
def _shop_with(tmp_path: Path, engine: str) -> Path:
    import shutil

    pack = tmp_path / "shop"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "shop", pack)
    config = pack / "govcx.yaml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("engine:")]
    config.write_text("\n".join([*lines, f"engine: {engine}", ""]))
    return pack


def test_a_pack_pointing_at_a_missing_intent_model_fails_to_open_naming_it(tmp_path: Path) -> None:
    from govcx.agent.agent import Agent
    from govcx.settings import Settings

    pack = _shop_with(tmp_path, "{kind: embedded, intent_model: models/intents}")
    with pytest.raises(ConfigError) as caught:
        Agent.open(pack, Settings(home=tmp_path / "state"))
    assert str(pack / "models" / "intents") in caught.value.message
    assert MODEL_FILE in caught.value.message


def test_intent_model_weight_outside_zero_to_one_is_a_pack_error(tmp_path: Path) -> None:
    from govcx.pack import load_pack

    pack = _shop_with(tmp_path, "{kind: embedded, intent_model: m, intent_model_weight: 2}")
    with pytest.raises(ConfigError, match="intent_model_weight"):
        load_pack(pack)


def test_cli_finetune_without_torch_exits_2_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from govcx.cli.classifier import classifier_app

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "state"))
    result = CliRunner().invoke(
        classifier_app,
        [
            "finetune",
            "--pack",
            str(Path(__file__).parents[1] / "fixtures" / "shop"),
            "--base-model",
            str(_tiny_base_model(tmp_path / "base")),
            "--out",
            str(tmp_path / "model"),
        ],
    )
    assert result.exit_code == 2, result.output
    flat = "".join(result.output.split("\n"))
    assert "pip install 'govcx[finetune]'" in flat  # brackets printed, not taken as markup
    assert "Traceback" not in flat and not (tmp_path / "model").exists()


def test_cli_finetune_names_a_missing_base_model(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from govcx.cli.classifier import classifier_app

    result = CliRunner().invoke(
        classifier_app,
        [
            "finetune",
            "--pack",
            str(Path(__file__).parents[1] / "fixtures" / "shop"),
            "--base-model",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "model"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "model.safetensors" in "".join(result.output.split("\n"))


def test_cli_finetune_refuses_negative_train_layers(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from govcx.cli.classifier import classifier_app

    result = CliRunner().invoke(
        classifier_app,
        [
            "finetune",
            "--pack",
            str(Path(__file__).parents[1] / "fixtures" / "shop"),
            "--train-layers",
            "-1",
            "--out",
            str(tmp_path / "model"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--train-layers" in result.output and not (tmp_path / "model").exists()
