"""Retrieval quality on tau2-bench banking_knowledge: recall@5/10 and nDCG@10.

Ingests the 698 knowledge documents (``documents/*.json``: id, title, content) into a
fresh knowledge base, then uses each task's ``user_scenario.instructions`` as the query
and its ``required_documents`` as the relevant set. Reports the knowledge base's three
modes (lexical, vector, hybrid), reciprocal rank fusion (RRF, k=60) of the lexical and
vector rankings, a TF-IDF cosine baseline, and ingest throughput. Ranking is per
document: the best passage of each document counts.

    .venv/bin/python benchmarks/kb_retrieval.py [--data DIR] [--split all|a|b]
        [--embedding hashing|wordllama|minilm] [--ablations] [--related lists|weighted]

Splits: ``all`` tasks, or ``a`` / ``b``: alternate tasks in id order (tune on one, check on
the other). With ``--split all`` the figures of ``a`` and ``b`` are reported as well.

``--ablations`` also scores alternatives to the shipped ranking, built from the same
passages and vectors (the knowledge base's own BM25 and term analysis):

- BM25 variants: other k1/b; whole-document BM25; a title-only field fused in; the best
  passage plus a share of the document's second one; query terms found in more than 20 %
  of the passages dropped (IDF-based query reduction); square-root query term frequency;
  RM3 pseudo-relevance feedback; Dirichlet query likelihood instead of BM25;
- the long query cut up: sentences with per-sentence results fused by RRF, and
  paragraphs with max-normalised scores summed (CombSUM) plus the whole-query score;
- corpus structure: a category prior (each document also gets a share of the best score
  in its category, the id without its trailing number, e.g. ``doc_credit_cards_gold_
  rewards_card``), and graph smoothing (scores mixed with those of each document's 10
  most similar documents, by cosine of their BM25-weighted terms);
- vectors: the query embedded as the mean of its paragraphs' vectors (a long query is
  otherwise truncated by models such as MiniLM, 256 tokens), alone and fused; and lexical
  + vector score fusion at several weights.

They are measurements, not modes. ``--embedding minilm --embedding-path DIR`` measures a
MiniLM-architecture model from a local folder (e.g. one fine-tuned on the corpus).

``--vectors FILE.npz`` (written by ``benchmarks/kb_encode.py``: one vector per document and
per task query from a sentence encoder such as all-mpnet-base-v2) scores those vectors
alone (``encoder``), fused with BM25 by reciprocal rank (``encoder_bm25_rrf``) and by
max-normalised scores (``encoder_bm25_fusion_W``, W the BM25 weight).
``kb_search_documents`` is what ``govcx kb search -k 10`` returns: ten distinct documents
(``kb_search_passages``: the ten passages it returned before).

``--related lists|weighted`` measures ``related`` links (document front matter: the
documents an agent needs with this one) as a pack author could write them from resolved
cases: learned from the required documents of the *other* half of the tasks, written into
the documents' ``related`` field and ingested, then ranked by ``kb search -k 10`` (the
default ``related_share`` and ``related_from``). ``lists`` links every pair of documents
one task required together (weight 1); ``weighted`` gives d -> e the share of d's tasks
that also required e. Half a is ranked with links from b and b with links from a.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "tau2" / "banking_knowledge"
DEPTH = 100
"""Documents per ranking that fusion looks at."""
RRF_K = 60


def load_tasks(data: Path, split: str) -> list[dict[str, Any]]:
    tasks = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((data / "tasks").glob("task_*.json"))
    ]
    tasks = [
        t
        for t in tasks
        if t.get("required_documents") and (t.get("user_scenario") or {}).get("instructions")
    ]
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
    return {
        "recall@5": round(sum(r5) / n, 4),
        "recall@10": round(sum(r10) / n, 4),
        "ndcg@10": round(sum(ndcg) / n, 4),
    }


def rrf(*rankings: list[str], k: int = RRF_K) -> list[str]:
    """Reciprocal rank fusion of ranked id lists, best first (ties by id)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused, key=lambda d: (-fused[d], d))


def tfidf_baseline(docs: list[dict[str, Any]], queries: list[str]) -> list[list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform([f"{d['title']}\n{d['content']}" for d in docs])
    scores = (vectorizer.transform(queries) @ matrix.T).toarray()
    ids = [d["id"] for d in docs]
    return [[ids[j] for j in row.argsort()[::-1][:10]] for row in scores]


class Ablations:
    """Alternative rankings over the knowledge base's live passages (see module doc)."""

    def __init__(self, kb: Any) -> None:
        from govcx.knowledge.index import index_text
        from govcx.knowledge.lexical import LexicalIndex, terms

        self.terms = terms
        index = kb._index  # the in-memory view that search ranks
        if index.vectors is None:
            kb.search("warm up", k=1, mode="vector")  # loads the passages' vectors
            index = kb._index
        self.index = index
        self.kb = kb
        self.doc_ids = sorted({str(m["doc_id"]) for m in index.metadatas})
        row_of = {d: i for i, d in enumerate(self.doc_ids)}
        self.owner = np.array([row_of[str(m["doc_id"])] for m in index.metadatas])
        parts: dict[str, list[str]] = {}
        titles: dict[str, str] = {}
        for text, meta in zip(index.texts, index.metadatas, strict=True):
            doc = str(meta["doc_id"])
            titles[doc] = str(meta.get("title", ""))
            parts.setdefault(doc, []).append(f"{meta.get('heading', '')}\n{text}")
        self.whole = LexicalIndex(
            [index_text(titles[d], "", "\n".join(parts[d])) for d in self.doc_ids]
        )
        self.titles = LexicalIndex([titles[d] for d in self.doc_ids])
        self.counts = [
            Counter(terms(index_text(str(m.get("title", "")), str(m.get("heading", "")), t)))
            for t, m in zip(index.texts, index.metadatas, strict=True)
        ]

        # -- building blocks -------------------------------------------------------------
        self.category = [re.sub(r"_\d+$", "", d) for d in self.doc_ids]
        self._neighbours: np.ndarray[Any, Any] | None = None
        self._paragraph_vectors: dict[str, np.ndarray[Any, Any]] = {}
        self._bm25: dict[tuple[float, float], LexicalIndex] = {}
        self._df = np.bincount(
            index.lexical._matrix.tocsr().indices, minlength=len(index.lexical.vocab)
        ) / max(1, index.size)
        self._tf: Any = None

    def best_passage(self, passage_scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out = np.full(len(self.doc_ids), -np.inf)
        np.maximum.at(out, self.owner, passage_scores)
        return out

    def weighted(self, weights: dict[str, float]) -> np.ndarray[Any, Any]:
        """BM25 of every passage for explicit query term weights."""
        lexical = self.index.lexical
        cols = [lexical.vocab[t] for t in weights if t in lexical.vocab]
        qw = [w for t, w in weights.items() if t in lexical.vocab]
        if not cols:
            return np.zeros(self.index.size, dtype=np.float32)
        return np.asarray(lexical._matrix[:, cols] @ np.asarray(qw, dtype=np.float32)).ravel()

    def ranked(self, scores: np.ndarray[Any, Any]) -> list[str]:
        order = np.argsort(-scores, kind="stable")[:DEPTH]
        return [self.doc_ids[j] for j in order]

    @staticmethod
    def top_scaled(scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        scores = np.maximum(scores, 0.0)
        top = float(scores.max(initial=0.0))
        return scores / top if top > 0 else scores

    # -- the alternatives ------------------------------------------------------------
    def bm25(self, query: str) -> np.ndarray[Any, Any]:
        return self.best_passage(self.index.lexical.raw_scores(query)[0])

    def whole_document(self, query: str) -> list[str]:
        return self.ranked(self.whole.raw_scores(query)[0])

    def title_field(self, query: str, weight: float = 0.1) -> list[str]:
        return self.ranked(
            (1 - weight) * self.top_scaled(self.bm25(query))
            + weight * self.top_scaled(self.titles.raw_scores(query)[0])
        )

    def sentences_rrf(self, query: str) -> list[str]:
        sentences = [
            s for s in re.split(r"(?<=[.!?])\s+|\n+", query) if len(self.terms(s, pairs=False)) >= 2
        ] or [query]
        return rrf(*(self.ranked(self.bm25(s)) for s in sentences))

    def sqrt_query_tf(self, query: str) -> list[str]:
        weights = {t: math.sqrt(n) for t, n in Counter(self.terms(query)).items()}
        return self.ranked(self.best_passage(self.weighted(weights)))

    def rm3(
        self, query: str, feedback: int = 10, expansion: int = 20, keep: float = 0.5
    ) -> list[str]:
        """RM3: the query mixed with the term distribution of the top passages."""
        original = Counter(self.terms(query))
        total = sum(original.values())
        raw = self.index.lexical.raw_scores(query)[0]
        top = np.argsort(-raw)[:feedback]
        prior = np.exp(raw[top] - raw[top].max())
        model: Counter[str] = Counter()
        for weight, row in zip(prior, top, strict=True):
            counts = self.counts[row]
            size = sum(counts.values()) or 1
            for term, n in counts.items():
                if " " not in term:
                    model[term] += float(weight) * n / size
        best = dict(model.most_common(expansion))
        norm = sum(best.values()) or 1.0
        weights = {t: keep * n / total for t, n in original.items()}
        for term, value in best.items():
            weights[term] = weights.get(term, 0.0) + (1 - keep) * value / norm
        return self.ranked(self.best_passage(self.weighted(weights)))

    def fused(self, query: str, lexical_weight: float) -> list[str]:
        vector = self.best_passage(self.kb._similarities(self.index, query))
        return self.ranked(
            lexical_weight * self.top_scaled(self.bm25(query))
            + (1 - lexical_weight) * self.top_scaled(vector)
        )

    def bm25_params(self, query: str, k1: float, b: float) -> list[str]:
        from govcx.knowledge.lexical import LexicalIndex

        index = self._bm25.get((k1, b))
        if index is None:
            index = self._bm25[k1, b] = LexicalIndex(counts=self.counts, k1=k1, b=b)
        return self.ranked(self.best_passage(index.raw_scores(query)[0]))

    def second_passage(self, query: str, share: float = 0.5) -> list[str]:
        raw = self.index.lexical.raw_scores(query)[0]
        first = self.best_passage(raw)
        is_first = raw >= first[self.owner]
        second = self.best_passage(np.where(is_first, -np.inf, raw))
        return self.ranked(first + share * np.maximum(second, 0.0))

    def common_terms_dropped(self, query: str, share: float = 0.2) -> list[str]:
        lexical = self.index.lexical
        weights = {
            t: float(n)
            for t, n in Counter(self.terms(query)).items()
            if t in lexical.vocab and self._df[lexical.vocab[t]] <= share
        }
        return self.ranked(self.best_passage(self.weighted(weights)))

    def query_likelihood(self, query: str, mu: float = 1000.0) -> list[str]:
        """Dirichlet-smoothed query likelihood of each passage (log)."""
        from scipy import sparse

        if self._tf is None:
            vocab = self.index.lexical.vocab
            rows, cols, vals = [], [], []
            for row, counts in enumerate(self.counts):
                for term, n in counts.items():
                    if term in vocab:
                        rows.append(row)
                        cols.append(vocab[term])
                        vals.append(n)
            self._tf = sparse.csr_matrix(
                (vals, (rows, cols)), shape=(self.index.size, len(vocab))
            ).tocsc()
            self._lengths = np.asarray(self._tf.sum(axis=1)).ravel()
            cf = np.asarray(self._tf.sum(axis=0)).ravel()
            self._collection = cf / cf.sum()
        vocab = self.index.lexical.vocab
        scores = np.zeros(self.index.size)
        for term, n in Counter(t for t in self.terms(query) if t in vocab).items():
            col = self._tf[:, vocab[term]].toarray().ravel()
            prior = mu * self._collection[vocab[term]]
            scores += n * (np.log(col + prior) - np.log(self._lengths + mu))
        return self.ranked(self.best_passage(scores))

    @staticmethod
    def paragraphs(query: str) -> list[str]:
        return [p for p in re.split(r"\n\s*\n", query) if len(p.split()) >= 3] or [query]

    def paragraphs_combsum(self, query: str, whole: float = 1.0) -> list[str]:
        parts = [self.top_scaled(self.bm25(p)) for p in self.paragraphs(query)]
        return self.ranked(sum(parts) / len(parts) + whole * self.top_scaled(self.bm25(query)))

    def category_prior(self, query: str, share: float = 0.2) -> list[str]:
        scores = self.top_scaled(self.bm25(query))
        best: dict[str, float] = {}
        for cat, score in zip(self.category, scores, strict=True):
            best[cat] = max(best.get(cat, 0.0), float(score))
        return self.ranked(scores + share * np.array([best[c] for c in self.category]))

    def graph_smoothed(self, query: str, share: float = 0.2, k: int = 10) -> list[str]:
        if self._neighbours is None:
            from scipy import sparse

            owner = sparse.csr_matrix(
                (np.ones(self.index.size), (self.owner, np.arange(self.index.size))),
                shape=(len(self.doc_ids), self.index.size),
            )
            docs = (owner @ self.index.lexical._matrix.tocsr()).toarray()
            docs /= np.maximum(np.linalg.norm(docs, axis=1, keepdims=True), 1e-12)
            sims = docs @ docs.T
            np.fill_diagonal(sims, 0.0)
            keep = np.argsort(-sims, axis=1)[:, :k]
            graph = np.zeros_like(sims)
            rows = np.arange(len(self.doc_ids))[:, None]
            graph[rows, keep] = sims[rows, keep]
            self._neighbours = graph / np.maximum(graph.sum(1, keepdims=True), 1e-12)
        scores = self.top_scaled(self.bm25(query))
        return self.ranked((1 - share) * scores + share * (self._neighbours @ scores))

    def paragraph_mean_vector(self, query: str) -> np.ndarray[Any, Any]:
        """Best-passage cosine for the mean of the query's paragraph vectors."""
        if query not in self._paragraph_vectors:
            parts = np.asarray(
                self.kb.embeddings.embed_documents(self.paragraphs(query)), dtype=np.float32
            )
            mean = parts.mean(axis=0)
            self._paragraph_vectors[query] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        assert self.index.vectors is not None
        return self.best_passage(
            np.maximum(self.index.vectors @ self._paragraph_vectors[query], 0.0)
        )

    def paragraph_mean_fused(self, query: str, lexical_weight: float) -> list[str]:
        return self.ranked(
            lexical_weight * self.top_scaled(self.bm25(query))
            + (1 - lexical_weight) * self.top_scaled(self.paragraph_mean_vector(query))
        )

    def run(self, queries: list[str]) -> dict[str, list[list[str]]]:
        methods: dict[str, Callable[[str], list[str]]] = {
            "bm25_whole_document": self.whole_document,
            "bm25_title_field_0.1": self.title_field,
            "bm25_sentences_rrf": self.sentences_rrf,
            "bm25_sqrt_query_tf": self.sqrt_query_tf,
            "bm25_rm3": self.rm3,
            "bm25_second_passage_0.5": self.second_passage,
            "bm25_common_terms_dropped_0.2": self.common_terms_dropped,
            "query_likelihood_mu1000": self.query_likelihood,
            "bm25_paragraphs_combsum": self.paragraphs_combsum,
            "bm25_category_prior_0.2": self.category_prior,
            "bm25_graph_smoothed_0.2": self.graph_smoothed,
            "vector_paragraph_mean": lambda q: self.ranked(self.paragraph_mean_vector(q)),
        }
        for k1, b in ((0.9, 0.75), (1.6, 0.5), (1.2, 0.9), (1.2, 0.5)):
            methods[f"bm25_k1_{k1}_b_{b}"] = lambda q, k1=k1, b=b: self.bm25_params(q, k1, b)  # type: ignore[misc]
        for weight in (0.5, 0.7, 0.8, 0.9):
            methods[f"score_fusion_{weight}"] = lambda q, w=weight: self.fused(q, w)  # type: ignore[misc]
            methods[f"paragraph_mean_fusion_{weight}"] = lambda q, w=weight: (
                self.paragraph_mean_fused(q, w)
            )  # type: ignore[misc]
        return {name: [fn(q) for q in queries] for name, fn in methods.items()}


def encoder_rankings(
    path: Path, tasks: list[dict[str, Any]], bm25: list[list[str]], kb: Any
) -> dict[str, list[list[str]]]:
    """Rankings from precomputed document and query vectors, alone and fused with BM25."""
    data = np.load(path)
    doc_ids = [str(d) for d in data["doc_ids"]]
    doc_vectors = data["doc_vectors"]
    row_of = {str(t): i for i, t in enumerate(data["task_ids"])}
    out: dict[str, list[list[str]]] = {"encoder": []}
    fused: dict[str, list[list[str]]] = {"encoder_bm25_rrf": []}
    weights = (0.5, 0.7)
    for w in weights:
        fused[f"encoder_bm25_fusion_{w}"] = []
    for task, lexical in zip(tasks, bm25, strict=True):
        sims = doc_vectors @ data["query_vectors"][row_of[str(task["id"])]]
        order = np.argsort(-sims, kind="stable")[:DEPTH]
        vector = [doc_ids[j] for j in order]
        out["encoder"].append(vector)
        fused["encoder_bm25_rrf"].append(rrf(lexical, vector))
        # BM25 document scores (best passage, unclipped), max-normalised, for fusion.
        raw = {
            d.doc_id: d.passages[0].metadata.get("lexical", 0.0)
            for d in kb.search_documents(task["user_scenario"]["instructions"], k=DEPTH)
        }
        top_lex = max(raw.values(), default=0.0) or 1.0
        top_vec = float(sims.max()) or 1.0
        for w in weights:
            score = {
                d: w * raw.get(d, 0.0) / top_lex + (1 - w) * max(0.0, float(s)) / top_vec
                for d, s in zip(doc_ids, sims, strict=True)
            }
            fused[f"encoder_bm25_fusion_{w}"].append(
                sorted(score, key=lambda d: (-score[d], d))[:DEPTH]
            )
    return {**out, **fused}


def learned_links(tasks: list[dict[str, Any]], *, weighted: bool) -> dict[str, dict[str, float]]:
    """``related`` links as an author could write them from resolved cases: d names e when
    a task required both; weighted, by the share of d's tasks that also required e."""
    need: Counter[str] = Counter()
    both: Counter[tuple[str, str]] = Counter()
    for task in tasks:
        required = sorted(set(task["required_documents"]))
        need.update(required)
        both.update((d, e) for d in required for e in required if d != e)
    links: dict[str, dict[str, float]] = {}
    for (d, e), n in both.items():
        links.setdefault(d, {})[e] = round(n / need[d], 4) if weighted else 1.0
    return links


def related_rankings(
    docs: list[dict[str, Any]], tasks: list[dict[str, Any]], config: Any, *, weighted: bool
) -> tuple[list[list[str]], dict[str, Any]]:
    """``kb search -k 10`` over documents carrying ``related`` links learned from the
    other half of the tasks: half a is ranked with links from b's tasks, b with a's.

    The links go into each document's ``related`` field and through a real ingest, so
    this measures the product's own path. A task never sees links learned from itself.
    """
    from govcx.knowledge import KnowledgeBase

    ranked: list[list[str]] = [[] for _ in tasks]
    halves = {"a": list(range(0, len(tasks), 2)), "b": list(range(1, len(tasks), 2))}
    described: dict[str, Any] = {}
    for name, rows in halves.items():
        other = [tasks[i] for i in range(len(tasks)) if i not in set(rows)]
        links = learned_links(other, weighted=weighted)
        described[f"links_for_{name}"] = sum(len(v) for v in links.values())
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "documents"
            folder.mkdir()
            for doc in docs:
                record = {**doc, "related": links.get(doc["id"], {})}
                (folder / f"{doc['id']}.json").write_text(json.dumps(record), encoding="utf-8")
            kb = KnowledgeBase.open(Path(tmp) / "state", config)
            kb.ingest(folder)
            for i in rows:
                query = tasks[i]["user_scenario"]["instructions"]
                ranked[i] = [d.doc_id for d in kb.search_documents(query, k=10)]
    return ranked, described


def report(
    ranked: dict[str, list[list[str]]], relevant: list[set[str]], rows: list[int]
) -> dict[str, dict[str, float]]:
    rel = [relevant[i] for i in rows]
    return {name: metrics([lists[i] for i in rows], rel) for name, lists in ranked.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", choices=("all", "a", "b"), default="all")
    parser.add_argument(
        "--embedding",
        choices=("hashing", "wordllama", "minilm"),
        default=None,
        help="embedding model (default: the configured one)",
    )
    parser.add_argument(
        "--embedding-path",
        type=Path,
        default=None,
        help="folder of a local MiniLM-architecture model (with "
        "--embedding minilm), e.g. one fine-tuned on the corpus",
    )
    parser.add_argument(
        "--ablations",
        action="store_true",
        help="also score the alternative rankings (see the module doc)",
    )
    parser.add_argument(
        "--vectors",
        type=Path,
        default=None,
        help="an .npz of document and query vectors from benchmarks/kb_encode.py",
    )
    parser.add_argument(
        "--related",
        choices=("lists", "weighted"),
        action="append",
        help="also rank with `related` links learned from the other half of the tasks "
        "(lists: weight 1; weighted: the share of tasks needing both); needs --split all",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="state dir to ingest into (default: a temporary one)",
    )
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
    config = KnowledgeConfig(default_status="approved")  # the benchmark corpus is curated
    if args.related and args.split != "all":
        print(
            "error: --related learns on one half and ranks the other: use --split all",
            file=sys.stderr,
        )
        return 2
    if args.embedding_path and args.embedding != "minilm":
        print("error: --embedding-path needs --embedding minilm", file=sys.stderr)
        return 2
    if args.embedding:
        path = str(args.embedding_path) if args.embedding_path else None
        config = config.model_copy(
            update={"embedding": EmbeddingConfig(kind=args.embedding, path=path)}
        )

    with tempfile.TemporaryDirectory() as tmp:
        state = args.state or Path(tmp)
        opened = time.perf_counter()
        kb = KnowledgeBase.open(state, config)
        open_s = time.perf_counter() - opened
        started = time.perf_counter()
        ingested = kb.ingest(docs_dir)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = kb.ingest(docs_dir)
        reingest_s = time.perf_counter() - started
        ranked: dict[str, list[list[str]]] = {}
        latency: dict[str, float] = {}
        for mode in ("lexical", "vector", "hybrid"):
            kb.search(queries[0], k=10, mode=mode)  # warm: loads the vectors
            started = time.perf_counter()
            for query in queries:
                kb.search(query, k=10, mode=mode)
            latency[mode] = round((time.perf_counter() - started) * 1000 / len(queries), 2)
            # Deeper lists, one passage per document, for the metrics and for fusion.
            ranked[mode] = [
                [c.doc_id for c in kb.search(q, k=DEPTH, mode=mode, max_per_doc=1)] for q in queries
            ]
        # Before documents were ranked, `kb search -k 10` gave ten passages (about 7.5
        # distinct documents on these tasks).
        ranked["kb_search_passages"] = [[c.doc_id for c in kb.search(q, k=10)] for q in queries]
        ranked["kb_search_documents"] = [
            [d.doc_id for d in kb.search_documents(q, k=10)] for q in queries
        ]
        ranked["hybrid_rrf"] = [
            rrf(lex, vec) for lex, vec in zip(ranked["lexical"], ranked["vector"], strict=True)
        ]
        ranked["tfidf_baseline"] = tfidf_baseline(docs, queries)
        if args.vectors:
            ranked.update(encoder_rankings(args.vectors, tasks, ranked["lexical"], kb))
        if args.ablations:
            ranked.update(Ablations(kb).run(queries))
        related_info: dict[str, Any] = {}
        for kind in args.related or ():
            name = f"related_{kind}"
            ranked[name], related_info[name] = related_rankings(
                docs, tasks, config, weighted=kind == "weighted"
            )
        stats = kb.stats()

    everything = list(range(len(tasks)))
    results = report(ranked, relevant, everything)
    for mode, ms in latency.items():
        results[mode]["ms_per_query"] = ms
    for name, figures in results.items():
        print(f"{name:22s} {figures}", file=sys.stderr)
    by_split: dict[str, Any] = {}
    if args.split == "all":
        for name, rows in (("a", everything[0::2]), ("b", everything[1::2])):
            by_split[name] = report(ranked, relevant, rows)
    ceiling = sum(min(10, len(r)) / len(r) for r in relevant) / len(relevant)
    best = max(
        (m for m in ("lexical", "vector", "hybrid", "hybrid_rrf")),
        key=lambda m: results[m]["recall@10"],
    )
    out = {
        "benchmark": "kb_retrieval",
        "dataset": "tau2/banking_knowledge",
        "split": args.split,
        "tasks": len(tasks),
        "documents": len(docs),
        "chunks": stats.chunks,
        "embedding": stats.embedding,
        "default_mode": config.retrieval,
        "recall@10_ceiling": round(ceiling, 4),
        "best_mode": best,
        "target_recall@10": 0.5,
        **results,
        **({"splits": by_split} if by_split else {}),
        **({"related_links": related_info} if related_info else {}),
        "ingest": {
            "documents": len(docs),
            "seconds": round(ingest_s, 2),
            "documents_per_s": round(len(docs) / ingest_s, 1),
            "failed": len(ingested.failed),
            "open_seconds": round(open_s, 2),
            "reingest_unchanged_seconds": round(reingest_s, 3),
            "reingest_unchanged": len(again.unchanged),
        },
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
