"""Knowledge base latency: query p50/p95 at ~700 documents and at 50,000 passages.

1. The tau2-bench banking_knowledge documents (698) are ingested; queries are the task
   scenarios (long) and the document titles (short customer-like questions).
2. Synthetic articles (words drawn with a Zipf law from the same corpus' vocabulary, five
   sections each): ``--ingest-chunks`` passages (default 5,000) go through the whole
   ingest path (JSONL files -> Chroma) to measure throughput and the cost of opening a
   bigger store; then the search index of ``--chunks`` passages (default 50,000) is built
   exactly as a store of that size loads it (search never calls Chroma: it ranks an
   in-memory BM25 matrix, filter arrays and unit vectors) and the same queries are timed.

Also reports ingest time, the cost of an unchanged re-ingest (what every process start
pays) and of opening the store. Bounded: a few minutes on 2 cores.

    .venv/bin/python benchmarks/kb_perf.py [--data DIR] [--chunks 50000] [--queries 200]
        [--embedding hashing|wordllama|minilm] [--modes lexical,hybrid]

Modes timed: the configured default retrieval mode always, plus ``--modes`` (default
lexical and hybrid); ``--embedding`` picks the vectors the vector and hybrid modes use.

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "tau2" / "banking_knowledge"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50_ms": round(pick(0.50) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


def time_queries(kb: Any, queries: list[str], mode: str) -> dict[str, float]:
    kb.search(queries[0], k=5, mode=mode)  # warm: loads vectors on the first vector search
    samples = []
    for query in queries:
        started = time.perf_counter()
        kb.search(query, k=5, mode=mode)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def synthetic_docs(
    vocabulary: list[str], n_docs: int, sections: int, seed: int = 7
) -> list[dict[str, str]]:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    docs = []
    for i in range(n_docs):
        words = rng.choices(vocabulary, weights=weights, k=sections * 60 + 6)
        title = " ".join(words[:6]).capitalize()
        parts = []
        for s in range(sections):
            body = words[6 + s * 60 : 6 + (s + 1) * 60]
            parts.append(
                f"## {' '.join(body[:3]).capitalize()}\n"
                f"{' '.join(body[3:33]).capitalize()}. "
                f"{' '.join(body[33:]).capitalize()}."
            )
        docs.append({"id": f"syn-{i:06d}", "title": title, "content": "\n\n".join(parts)})
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="all", help="accepted for symmetry; unused")
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--ingest-chunks",
        type=int,
        default=5_000,
        help="synthetic passages ingested through Chroma for throughput",
    )
    parser.add_argument(
        "--embedding",
        choices=("hashing", "wordllama", "minilm"),
        default=None,
        help="embedding model (default: the configured one)",
    )
    parser.add_argument(
        "--modes",
        default="lexical,hybrid",
        help="comma-separated retrieval modes to time besides the default",
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    from govcx.knowledge import EmbeddingConfig, KnowledgeBase, KnowledgeConfig

    docs_dir = args.data / "documents"
    if not docs_dir.is_dir():
        print(f"error: {docs_dir} not found; pass --data", file=sys.stderr)
        return 2
    corpus = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(docs_dir.glob("*.json"))]
    tasks = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((args.data / "tasks").glob("task_*.json"))
    ]
    rng = random.Random(3)
    short = [d["title"] for d in corpus]
    rng.shuffle(short)
    long = [t["user_scenario"]["instructions"] for t in tasks]
    queries = (short[: args.queries - len(long) // 2] + long[: len(long) // 2])[: args.queries]
    rng.shuffle(queries)
    counts: dict[str, int] = {}
    for doc in corpus:
        for word in re.findall(r"[a-z]+", f"{doc['title']} {doc['content']}".lower()):
            counts[word] = counts.get(word, 0) + 1
    vocabulary = sorted(counts, key=lambda w: -counts[w])

    config = KnowledgeConfig(default_status="approved")  # the benchmark corpus is curated
    if args.embedding:
        config = config.model_copy(update={"embedding": EmbeddingConfig(kind=args.embedding)})
    modes = [config.retrieval] + [m for m in args.modes.split(",") if m and m != config.retrieval]
    unknown = set(modes) - {"lexical", "hybrid", "vector"}
    if unknown:
        print(
            f"error: --modes: unknown {', '.join(sorted(unknown))}; valid: lexical, hybrid, vector",
            file=sys.stderr,
        )
        return 2
    out: dict[str, Any] = {
        "benchmark": "kb_perf",
        "queries": len(queries),
        "default_mode": config.retrieval,
    }
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        started = time.perf_counter()
        kb = KnowledgeBase.open(state, config)
        opened = time.perf_counter() - started
        started = time.perf_counter()
        kb.ingest(docs_dir)
        ingest_small = time.perf_counter() - started
        started = time.perf_counter()
        again = kb.ingest(docs_dir)
        reingest_small = time.perf_counter() - started
        small: dict[str, Any] = {
            "documents": len(corpus),
            "chunks": kb.stats().chunks,
            "ingest_s": round(ingest_small, 2),
            "documents_per_s": round(len(corpus) / ingest_small, 1),
            "reingest_unchanged_s": round(reingest_small, 3),
            "unchanged": len(again.unchanged),
            "open_s": round(opened, 2),
        }
        small["embedding"] = kb.stats().embedding
        for mode in modes:
            small[mode] = time_queries(kb, queries, mode)
            print(f"~700 docs {mode}: {small[mode]}", file=sys.stderr)
        out["small"] = small

        # Ingest through the whole path (files -> Chroma) on a slice, for throughput and
        # for the cost of opening a bigger store.
        sections = 5
        n_docs = max(1, args.chunks // sections)
        docs = synthetic_docs(vocabulary[:20_000], n_docs, sections)
        slice_docs = docs[: max(1, args.ingest_chunks // sections)]
        big_dir = Path(tmp) / "synthetic"
        big_dir.mkdir()
        for start in range(0, len(slice_docs), 2000):
            with (big_dir / f"part-{start // 2000:03d}.jsonl").open("w", encoding="utf-8") as fh:
                for doc in slice_docs[start : start + 2000]:
                    fh.write(json.dumps(doc) + "\n")
        big = KnowledgeBase.open(Path(tmp) / "big", config)
        started = time.perf_counter()
        report = big.ingest(big_dir)
        ingest_big = time.perf_counter() - started
        started = time.perf_counter()
        big.ingest(big_dir)
        reingest_big = time.perf_counter() - started
        started = time.perf_counter()
        reopened = KnowledgeBase.open(Path(tmp) / "big", config)
        reopen_big = time.perf_counter() - started
        chunks_in = reopened.stats().chunks
        out["ingest"] = {
            "documents": len(slice_docs),
            "chunks": chunks_in,
            "failed": len(report.failed),
            "ingest_s": round(ingest_big, 1),
            "chunks_per_s": round(chunks_in / ingest_big, 1),
            "reingest_unchanged_s": round(reingest_big, 2),
            "open_s": round(reopen_big, 2),
        }
        print(f"ingest: {out['ingest']}", file=sys.stderr)

        # Query latency at --chunks passages. Search never calls Chroma: it ranks an
        # in-memory index (BM25 matrix, filter arrays, unit vectors) that is loaded from
        # the store. Build exactly that index from the synthetic passages, with the
        # default embeddings, instead of writing 50,000 records through Chroma first.
        from govcx.knowledge.chunking import split_passages
        from govcx.knowledge.index import LiveIndex, embed_text

        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for doc in docs:
            for p in split_passages(
                doc["content"],
                title=doc["title"],
                chunk_size=config.chunk_size,
                min_chunk_size=config.min_chunk_size,
            ):
                ids.append(f"{doc['id']}@1#{p.index}")
                texts.append(p.text)
                metas.append(
                    {
                        "doc_id": doc["id"],
                        "version": "1",
                        "title": doc["title"],
                        "heading": p.heading,
                        "index": p.index,
                        "status": "approved",
                        "start": -1e15,
                        "end": 1e15,
                        "language": "",
                    }
                )
        started = time.perf_counter()
        index = LiveIndex.build(ids, texts, metas, {})
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        vectors = np.asarray(
            reopened.embeddings.embed_documents(
                [embed_text(m["title"], m["heading"], t) for m, t in zip(metas, texts, strict=True)]
            ),
            dtype=np.float32,
        )
        embed_s = time.perf_counter() - started
        index.vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        reopened._index = index  # the index a store of this size would load
        large: dict[str, Any] = {
            "documents": n_docs,
            "chunks": index.size,
            "index_build_s": round(build_s, 1),
            "embed_s": round(embed_s, 1),
        }
        for mode in modes:
            large[mode] = time_queries(reopened, queries, mode)
            print(f"{index.size} chunks {mode}: {large[mode]}", file=sys.stderr)
        out["large"] = large
    out["target_p95_ms_at_50k"] = 20
    out["default_mode_p95_ms_at_50k"] = out["large"][config.retrieval]["p95_ms"]
    out["median_query_words"] = statistics.median(len(q.split()) for q in queries)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
