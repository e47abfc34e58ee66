"""Retrieval quality on tau2-bench banking_knowledge: recall@5/10 and nDCG@10.

Ingests the 698 knowledge documents (``documents/*.json``: id, title, content) into a
fresh knowledge base, then uses each task's ``user_scenario.instructions`` as the query
and its ``required_documents`` as the relevant set. Reports lexical only, vector only and
hybrid ranking, a TF-IDF cosine baseline, and ingest throughput. Ranking is per document:
the best passage of each document counts.

    .venv/bin/python benchmarks/kb_retrieval.py [--data DIR] [--split all|a|b]
        [--embedding hashing|minilm]

Splits: ``all`` tasks, or ``a`` / ``b``: alternate tasks in id order (tune on one, check on
the other). The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "tau2" / "banking_knowledge"


def load_tasks(data: Path, split: str) -> list[dict[str, Any]]:
    tasks = [json.loads(p.read_text(encoding="utf-8"))
             for p in sorted((data / "tasks").glob("task_*.json"))]
    tasks = [t for t in tasks if t.get("required_documents")
             and (t.get("user_scenario") or {}).get("instructions")]
    if split == "a":
        return tasks[0::2]
    if split == "b":
        return tasks[1::2]
    return tasks


def metrics(ranked: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    r5: list[float] = []
    r10: list[float] = []
    ndcg: list[float] = []
    for got, rel in zip(ranked, relevant, strict=True):
        r5.append(len(set(got[:5]) & rel) / len(rel))
        r10.append(len(set(got[:10]) & rel) / len(rel))
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(got[:10]) if d in rel)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(rel))))
        ndcg.append(dcg / ideal)
    n = len(relevant)
    return {"recall@5": round(sum(r5) / n, 4), "recall@10": round(sum(r10) / n, 4),
            "ndcg@10": round(sum(ndcg) / n, 4)}


def tfidf_baseline(docs: list[dict[str, Any]], queries: list[str]) -> list[list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform([f"{d['title']}\n{d['content']}" for d in docs])
    scores = (vectorizer.transform(queries) @ matrix.T).toarray()
    ids = [d["id"] for d in docs]
    return [[ids[j] for j in row.argsort()[::-1][:10]] for row in scores]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", choices=("all", "a", "b"), default="all")
    parser.add_argument("--embedding", choices=("hashing", "minilm"), default="hashing")
    parser.add_argument("--state", type=Path, default=None,
                        help="state dir to ingest into (default: a temporary one)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    from govcx.knowledge import EmbeddingConfig, KnowledgeBase, KnowledgeConfig

    docs_dir = args.data / "documents"
    if not docs_dir.is_dir():
        print(f"error: {docs_dir} not found; pass --data", file=sys.stderr)
        return 2
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(docs_dir.glob("*.json"))]
    tasks = load_tasks(args.data, args.split)
    queries = [t["user_scenario"]["instructions"] for t in tasks]
    relevant = [set(t["required_documents"]) for t in tasks]
    config = KnowledgeConfig(embedding=EmbeddingConfig(kind=args.embedding))

    with tempfile.TemporaryDirectory() as tmp:
        state = args.state or Path(tmp)
        opened = time.perf_counter()
        kb = KnowledgeBase.open(state, config)
        open_s = time.perf_counter() - opened
        started = time.perf_counter()
        report = kb.ingest(docs_dir)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = kb.ingest(docs_dir)
        reingest_s = time.perf_counter() - started
        results: dict[str, Any] = {}
        for mode in ("lexical", "vector", "hybrid"):
            started = time.perf_counter()
            ranked = [[c.doc_id for c in kb.search(q, k=10, mode=mode, max_per_doc=1)]
                      for q in queries]
            per_query_ms = (time.perf_counter() - started) * 1000 / len(queries)
            results[mode] = {**metrics(ranked, relevant), "ms_per_query": round(per_query_ms, 2)}
            print(f"{mode:8s} {results[mode]}", file=sys.stderr)
        stats = kb.stats()
    results["tfidf_baseline"] = metrics(tfidf_baseline(docs, queries), relevant)
    print(f"tfidf    {results['tfidf_baseline']}", file=sys.stderr)
    ceiling = sum(min(10, len(r)) / len(r) for r in relevant) / len(relevant)
    out = {
        "benchmark": "kb_retrieval", "dataset": "tau2/banking_knowledge", "split": args.split,
        "tasks": len(tasks), "documents": len(docs), "chunks": stats.chunks,
        "embedding": stats.embedding, "default_mode": config.retrieval,
        "recall@10_ceiling": round(ceiling, 4), **results,
        "ingest": {"documents": len(docs), "seconds": round(ingest_s, 2),
                   "documents_per_s": round(len(docs) / ingest_s, 1),
                   "failed": len(report.failed), "open_seconds": round(open_s, 2),
                   "reingest_unchanged_seconds": round(reingest_s, 3),
                   "reingest_unchanged": len(again.unchanged)},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
