"""Encode tau2 banking_knowledge documents and task queries with a sentence encoder.

Writes an ``.npz`` (``doc_ids``, ``doc_vectors``, ``task_ids``, ``query_vectors``: unit
vectors, mean pooling) that ``benchmarks/kb_retrieval.py --vectors FILE`` scores alone and
fused with BM25. One vector per *document* (title and content, truncated at the model's
384 tokens, as sentence-transformers does): a base-size encoder over every passage takes
hours on two shared cores.

Runs with PyTorch and transformers when importable (``--backend torch``, faster), else
with govcx's numpy encoder (``--backend numpy``, no torch; same vectors to 1e-7).
``--int8`` applies PyTorch dynamic int8 quantisation of the linear layers.

    python benchmarks/kb_encode.py --model /work/mpnet/all-mpnet-base-v2 --out mpnet.npz

The last line of output is one JSON object (timings).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "tau2" / "banking_knowledge"


def _torch_encoder(model_dir: Path, int8: bool) -> Any:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    if int8:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    def encode(texts: list[str]) -> np.ndarray[Any, Any]:
        with torch.inference_mode():
            enc = tokenizer(
                texts, padding=True, truncation=True, max_length=384, return_tensors="pt"
            )
            out = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(pooled, dim=1).numpy()  # type: ignore[no-any-return]

    return encode


def _numpy_encoder(model_dir: Path) -> Any:
    sys.path.insert(0, str(REPO / "src"))
    from govcx.knowledge._bert import BertEncoder

    encoder = BertEncoder(model_dir)
    return lambda texts: encoder.encode(texts, batch_size=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, required=True, help="local model folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backend", choices=("torch", "numpy"), default=None)
    parser.add_argument("--int8", action="store_true")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    backend = args.backend
    if backend is None:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401

            backend = "torch"
        except ImportError:
            backend = "numpy"
    encode = (
        _torch_encoder(args.model, args.int8) if backend == "torch" else _numpy_encoder(args.model)
    )
    docs = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((args.data / "documents").glob("*.json"))
    ]
    tasks = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((args.data / "tasks").glob("task_*.json"))
    ]
    tasks = [t for t in tasks if (t.get("user_scenario") or {}).get("instructions")]
    queries = [t["user_scenario"]["instructions"] for t in tasks]
    started = time.perf_counter()
    query_vectors = np.concatenate([encode([q]) for q in queries])
    query_ms = (time.perf_counter() - started) * 1000 / len(queries)
    texts = [f"{d['title']}\n{d['content']}" for d in docs]
    # Similar lengths together: less padding.
    order = np.argsort([len(t) for t in texts])
    doc_vectors = np.zeros((len(texts), query_vectors.shape[1]), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, len(texts), args.batch):
        rows = order[start : start + args.batch]
        doc_vectors[rows] = encode([texts[i] for i in rows])
        print(f"{start + len(rows)}/{len(texts)}", file=sys.stderr, flush=True)
    doc_s = time.perf_counter() - started
    np.savez(
        args.out,
        doc_ids=np.array([d["id"] for d in docs]),
        doc_vectors=doc_vectors,
        task_ids=np.array([str(t["id"]) for t in tasks]),
        query_vectors=query_vectors.astype(np.float32),
    )
    print(
        json.dumps(
            {
                "benchmark": "kb_encode",
                "model": args.model.name,
                "backend": backend,
                "int8": args.int8,
                "documents": len(docs),
                "queries": len(queries),
                "ms_per_query": round(query_ms, 1),
                "ms_per_document": round(doc_s * 1000 / len(docs), 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
