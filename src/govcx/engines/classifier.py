"""The embedded intent classifier: TF-IDF features and a linear model, CPU only.

Trained at start-up from each workflow's examples (plus an out-of-scope class), in well
under a second for a pack's few hundred examples. Its confidence is the class probability
scaled by vocabulary coverage, so gibberish and off-topic requests get low confidence and
escalate.

Two linear models are available (:class:`ClassifierConfig`): multinomial logistic
regression (default, calibrated probabilities) and a linear SVM whose one-vs-rest margins
are turned into probabilities by a softmax with a fixed temperature (better on large,
many-class training sets such as BANKING77). Prediction does not go through scikit-learn's
estimators: the fitted weights are kept as one sparse-friendly matrix per feature view, so
a single query costs two vectoriser transforms and two sparse products.

An optional third view (``ClassifierConfig.wordllama_dim``) adds WordLlama sentence vectors
(the mean of the text's token embeddings from the model bundled in the ``wordllama`` wheel,
L2-normalised and scaled by ``wordllama_weight``): synonyms and paraphrases the training
examples never used still land near them. It costs about 0.05 ms a query and half a second
to load the model once per process.

An optional fine-tuned transformer (``ClassifierConfig.finetuned``: a folder written by
:func:`govcx.engines.finetuned.fine_tune`, all-MiniLM-L6-v2 fine-tuned on the same intents,
run on onnxruntime) replaces the linear model's probabilities, or is blended with them
(``finetuned_weight`` below 1). Training it needs torch; using it does not.

Example:
    >>> clf = IntentClassifier.fit(["where is my order", "refund please"],
    ...                            ["order_status", "refund"])
    >>> clf.predict("where's my order?").intent
    'order_status'
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from govcx.engines.labels import OUT_OF_SCOPE
from govcx.errors import ConfigError
from govcx.governance.expr import trusted_file, write_private
from govcx.guardrails.ngrams import analyzer, analyzer_settings

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

    from govcx.engines.finetuned import FinetunedModel

WORDLLAMA_SIZES = (64, 128, 256)
_TOKEN = re.compile(r"[a-z][a-z']+|\d+")
_STOP = frozenset(
    """a an the i me my we our you your it its is are was were be been am do does did
to of in on at for with and or but so if this that these those there here what when where who why
how can could would should will shall may might please hi hello hey thanks thank just""".split()
)
_PLACEHOLDERS = frozenset({"ordnum", "money", "pii"})


def normalise(text: str) -> str:
    text = text.lower()
    text = re.sub(r"<[a-z_]+>", " pii ", text)  # redaction placeholders such as <EMAIL_ADDRESS>
    text = re.sub(r"[a-z]-\d{3,}", " ordnum ", text)
    text = re.sub(
        r"[$€£]\s?\d+(?:[.,]\d+)?|\d+(?:[.,]\d+)?\s?(?:dollars|usd|eur|euros|bucks)",
        " money ",
        text,
    )
    return text


def builtin_out_of_scope() -> list[str]:
    data = resources.files("govcx.agent").joinpath("data/out_of_scope.txt").read_text("utf-8")
    return [line.strip() for line in data.splitlines() if line.strip()]


@dataclass(frozen=True, kw_only=True)
class Prediction:
    intent: str | None
    confidence: float
    probability: float
    coverage: float
    alternatives: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """How the classifier is built. The defaults suit a pack's few hundred examples."""

    model: Literal["logreg", "svm"] = "logreg"
    c: float = 20.0
    """Inverse regularisation strength."""
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    out_of_scope_weight: float = 1.0
    """Class weight of the out-of-scope class (below 1 makes refusing harder)."""
    temperature: float = 4.0
    """svm only: softmax temperature applied to the one-vs-rest margins."""
    coverage_floor: float = 0.25
    """Confidence is multiplied by ``min(1, coverage_floor + coverage)``."""
    wordllama_dim: int = 128
    """Dimensions of the WordLlama sentence-vector view (64, 128 or 256; 0 leaves it out)."""
    wordllama_weight: float = 1.0
    """Scale of the WordLlama view against the TF-IDF views (each row has unit norm)."""
    similarity_power: float = 0.0
    """With the WordLlama view: confidence is also multiplied by ``s ** similarity_power``,
    ``s`` the highest cosine similarity of the text to a workflow's training example
    (clipped to [0, 1]), so requests unlike every example (off-topic) are less confident."""
    finetuned: Path | None = None
    """A fine-tuned intent model folder (:func:`govcx.engines.finetuned.fine_tune`) trained
    on the same intents: its probabilities are used instead of the linear model's."""
    finetuned_weight: float = 1.0
    """With ``finetuned``: its share when blending its probabilities with the linear
    model's (1: the fine-tuned model alone)."""

    def __post_init__(self) -> None:
        if self.wordllama_dim not in (0, *WORDLLAMA_SIZES):
            raise ValueError(
                f"wordllama_dim must be 0 or one of {WORDLLAMA_SIZES}, not {self.wordllama_dim}"
            )
        if self.similarity_power and not self.wordllama_dim:
            raise ValueError("similarity_power needs the WordLlama view (wordllama_dim)")
        if not 0.0 <= self.finetuned_weight <= 1.0:
            raise ValueError(f"finetuned_weight must be within [0, 1], not {self.finetuned_weight}")


class IntentClassifier:
    """Word and character n-gram TF-IDF with a linear model."""

    def __init__(
        self,
        word: TfidfVectorizer,
        char: TfidfVectorizer,
        model: Any,
        vocabulary: frozenset[str],
        config: ClassifierConfig | None = None,
        dense: _SentenceVectors | None = None,
    ) -> None:
        self._sklearn: tuple[Any, Any, Any] | None = (word, char, model)
        self._load_sklearn: Callable[[], tuple[Any, Any, Any]] | None = None
        self.vocabulary = vocabulary
        self.config = config or ClassifierConfig()
        self.dense = dense
        self.classes: list[str] = [str(c) for c in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1 and len(self.classes) == 2:  # binary: one row for class 1
            coef = np.vstack([-coef, coef]) / 2.0
            intercept = np.array([-intercept[0], intercept[0]]) / 2.0
        n_word, n_char = len(word.vocabulary_), len(char.vocabulary_)
        n_dense = dense.dimensions if dense is not None else 0
        if coef.shape[1] != n_word + n_char + n_dense:
            raise ValueError(
                f"the model has {coef.shape[1]} weights per class, the views "
                f"{n_word} + {n_char} + {n_dense}"
            )
        self._w_word = np.ascontiguousarray(coef[:, :n_word].T)
        self._w_char = np.ascontiguousarray(coef[:, n_word : n_word + n_char].T)
        self._w_dense = np.ascontiguousarray(coef[:, n_word + n_char :].T)
        self._bias = intercept
        self._views = [_View.of(word, self._w_word), _View.of(char, self._w_char)]
        self._finish()

    def _finish(self) -> None:
        self._oos = self.classes.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.classes else -1
        self.finetuned: FinetunedModel | None = None
        self._finetuned_columns: list[int] = []
        if self.config.finetuned is not None:
            self._attach(Path(self.config.finetuned))

    # The fitted scikit-learn objects. A classifier loaded from the cache scores one text
    # without them (see _View); they are unpickled on first use (batches of texts).
    @property
    def word(self) -> TfidfVectorizer:
        return self._fitted()[0]

    @property
    def char(self) -> TfidfVectorizer:
        return self._fitted()[1]

    @property
    def model(self) -> Any:
        return self._fitted()[2]

    def _fitted(self) -> tuple[Any, Any, Any]:
        if self._sklearn is None:
            assert self._load_sklearn is not None
            self._sklearn = self._load_sklearn()
        return self._sklearn

    def _lite(self) -> dict[str, Any] | None:
        """What scoring one text needs, with no scikit-learn object (None: a vectorizer
        setting :mod:`govcx.guardrails.ngrams` does not reproduce)."""
        views = []
        for vectorizer, view in zip(self._fitted()[:2], self._views, strict=True):
            settings = analyzer_settings(vectorizer)
            if settings is None:
                return None
            views.append({"settings": settings, "vocabulary": view.vocabulary, "idf": view.idf})
        return {
            "classes": self.classes,
            "views": views,
            "w_word": self._w_word,
            "w_char": self._w_char,
            "w_dense": self._w_dense,
            "bias": self._bias,
            "vocabulary": sorted(self.vocabulary),
            "examples": self.dense.examples if self.dense is not None else None,
        }

    @classmethod
    def _from_lite(
        cls,
        lite: dict[str, Any],
        config: ClassifierConfig,
        dense: _SentenceVectors | None,
        load_sklearn: Callable[[], tuple[Any, Any, Any]],
    ) -> IntentClassifier:
        self = cls.__new__(cls)
        self._sklearn = None
        self._load_sklearn = load_sklearn
        self.vocabulary = frozenset(lite["vocabulary"])
        self.config = config
        self.dense = dense
        self.classes = list(lite["classes"])
        self._w_word, self._w_char = lite["w_word"], lite["w_char"]
        self._w_dense, self._bias = lite["w_dense"], lite["bias"]
        self._views = [
            _View(analyzer(v["settings"]), v["vocabulary"], v["idf"], w)
            for v, w in zip(lite["views"], (self._w_word, self._w_char), strict=True)
        ]
        self._finish()
        return self

    def _attach(self, folder: Path) -> None:
        from govcx.engines.finetuned import FinetunedModel

        model = FinetunedModel.load(folder)
        missing = sorted(set(self.classes) - set(model.classes))
        extra = sorted(set(model.classes) - set(self.classes))
        if missing or extra:
            parts = ([f"lacks {', '.join(missing)}"] if missing else []) + (
                [f"has {', '.join(extra)} which the classifier does not"] if extra else []
            )
            raise ConfigError(
                str(folder),
                "the fine-tuned model was trained on other "
                f"intents: it {' and '.join(parts)}; fine-tune it again on "
                "these examples",
                field="finetuned",
            )
        self.finetuned = model
        self._finetuned_columns = [model.classes.index(c) for c in self.classes]

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        out_of_scope: Sequence[str] = (),
        *,
        c: float | None = None,
        config: ClassifierConfig | None = None,
        cache_dir: Path | None = None,
    ) -> IntentClassifier:
        """Train on examples and labels, plus examples of what is out of scope.

        Args:
            texts: Example requests.
            labels: The workflow (intent) of each example.
            out_of_scope: Requests no workflow handles (trained as their own class).
            c: Inverse regularisation strength (overrides ``config.c``).
            config: Model and feature settings (see :class:`ClassifierConfig`).
            cache_dir: An owner-only directory (the state dir's cache) where the fitted
                model is kept, keyed by a hash of the training data, the configuration,
                this module's code and the library versions: a later fit on the same
                inputs loads it instead of training again. The file is a pickle, loaded
                only when this user alone can have written it.
        """
        config = config or ClassifierConfig()
        if c is not None:
            config = ClassifierConfig(**{**config.__dict__, "c": c})
        if len(set(labels)) < 1:
            raise ValueError("the classifier needs examples for at least one workflow")
        if cache_dir is None:
            return cls._fit(texts, labels, out_of_scope, config)
        path = Path(cache_dir) / f"intent-{_fit_key(texts, labels, out_of_scope, config)}.pickle"
        dense = None
        if config.wordllama_dim:
            dense = _SentenceVectors(config.wordllama_dim, config.wordllama_weight)

        def refit() -> IntentClassifier:
            fitted = cls._fit(texts, labels, out_of_scope, config, dense=dense)
            lite = fitted._lite()
            state = (
                fitted.word,
                fitted.char,
                fitted.model,
                fitted.vocabulary,
                fitted.dense.examples if fitted.dense is not None else None,
            )

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as f:  # the light part first: loaded on its own
                    pickle.dump(lite, f, protocol=pickle.HIGHEST_PROTOCOL)
                    pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)

            # A few packs (or versions of one) may share a state dir; each entry is a few MB.
            write_private(path, write, keep=("intent-*.pickle", 8))
            return fitted

        def load_sklearn() -> tuple[Any, Any, Any]:
            # The same file, if it is still there and trusted; else a fit of the same data
            # (logistic regression is deterministic), whose weights replace the loaded ones.
            cached = _load_fitted(path, full=True)
            if cached is not None and cached[1] is not None:
                return cached[1]
            fitted = refit()
            loaded.__dict__.update(fitted.__dict__)
            return fitted._fitted()

        cached = _load_fitted(path)
        if cached is None:
            return refit()
        lite, full = cached
        if full is not None:  # no light part: built from the scikit-learn objects
            word, char, model = full
            if dense is not None:
                dense.examples = lite["examples"]
            return cls(word, char, model, frozenset(lite["vocabulary"]), config, dense)
        if dense is not None:
            dense.examples = lite["examples"]
        loaded = cls._from_lite(lite, config, dense, load_sklearn)
        return loaded

    @classmethod
    def _fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        out_of_scope: Sequence[str],
        config: ClassifierConfig,
        *,
        dense: _SentenceVectors | None = None,
    ) -> IntentClassifier:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC
        from threadpoolctl import threadpool_limits

        all_texts = [normalise(t) for t in [*texts, *out_of_scope]]
        all_labels = [*labels, *([OUT_OF_SCOPE] * len(out_of_scope))]
        if len(set(all_labels)) == 1:
            # One workflow and no out-of-scope data: add it so there is a decision to make.
            oos = [normalise(t) for t in builtin_out_of_scope()]
            all_texts += oos
            all_labels += [OUT_OF_SCOPE] * len(oos)
        word = TfidfVectorizer(
            analyzer="word",
            ngram_range=config.word_ngrams,
            sublinear_tf=True,
            token_pattern=r"[a-z][a-z']+|\d+",
            min_df=1,
            dtype=np.float64,
        )
        char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=config.char_ngrams,
            sublinear_tf=True,
            min_df=1,
            dtype=np.float64,
        )
        views = [word.fit_transform(all_texts), char.fit_transform(all_texts)]
        if not config.wordllama_dim:
            dense = None
        elif dense is None:
            dense = _SentenceVectors(config.wordllama_dim, config.wordllama_weight)
        if dense is not None:
            vectors = dense.vectors(all_texts)
            views.append(csr_matrix(vectors))
            if config.similarity_power:
                in_scope = [i for i, label in enumerate(all_labels) if label != OUT_OF_SCOPE]
                dense.examples = np.ascontiguousarray(vectors[in_scope].T / config.wordllama_weight)
        features = hstack(views).tocsr()
        weights = (
            {OUT_OF_SCOPE: config.out_of_scope_weight}
            if OUT_OF_SCOPE in all_labels and config.out_of_scope_weight != 1.0
            else None
        )
        model: Any
        if config.model == "svm":
            model = LinearSVC(C=config.c, class_weight=weights)
        else:
            model = LogisticRegression(C=config.c, max_iter=1000, class_weight=weights)
        # One BLAS thread: on a busy machine, thread oversubscription makes this small fit
        # ten times slower, not faster.
        with threadpool_limits(limits=1):
            model.fit(features, all_labels)
        vocab = frozenset(t for text in all_texts for t in _TOKEN.findall(text))
        return cls(word, char, model, vocab, config, dense)

    # -- features and scores -----------------------------------------------------------------
    def _scores(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        norm = [normalise(t) for t in texts]
        if len(norm) == 1:
            # One live query: scikit-learn's transform validates and builds sparse
            # matrices, which costs ten times the arithmetic itself.
            single = sum(view.scores(norm[0]) for view in self._views) + self._bias
            if self.dense is not None:
                single = single + self.dense.vector(norm[0]) @ self._w_dense
            return single[None, :]
        words: csr_matrix = self.word.transform(norm)
        chars: csr_matrix = self.char.transform(norm)
        scores = np.asarray(words @ self._w_word + chars @ self._w_char) + self._bias
        if self.dense is not None:
            scores += self.dense.vectors(norm) @ self._w_dense
        return scores

    def probabilities(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Class probabilities (rows sum to 1), columns in ``self.classes`` order."""
        if self.finetuned is None:
            return self._linear_probabilities(texts)
        tuned = self.finetuned.probabilities(texts)[:, self._finetuned_columns]
        weight = self.config.finetuned_weight
        if weight >= 1.0:
            return tuned
        blended: np.ndarray[Any, np.dtype[np.float64]] = (
            1.0 - weight
        ) * self._linear_probabilities(texts) + weight * tuned
        return blended

    def _linear_probabilities(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        scores = self._scores(texts)
        if self.config.model == "svm":
            scores = scores * self.config.temperature
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        out: np.ndarray[Any, np.dtype[np.float64]] = exp / exp.sum(axis=1, keepdims=True)
        return out

    def coverage(self, text: str) -> float:
        """Share of the content words of ``text`` that some training example contains.

        Numbers, order numbers, amounts and redaction placeholders are not words: a message
        full of them is not "off-topic" for that reason.
        """
        tokens = [t for t in _TOKEN.findall(normalise(text)) if t not in _STOP and not t.isdigit()]
        if not tokens:
            return 0.0
        known = sum(1 for t in tokens if t in self.vocabulary or t in _PLACEHOLDERS)
        return known / len(tokens)

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def similarity(self, texts: Sequence[str]) -> list[float]:
        """Per text, the factor its confidence is scaled by for being unlike every training
        example of a workflow (``1.0`` each unless ``config.similarity_power`` is set)."""
        power = self.config.similarity_power
        if not power or self.dense is None or self.dense.examples is None:
            return [1.0] * len(texts)
        norm = [normalise(t) for t in texts]
        if len(norm) == 1:
            vectors = self.dense.vector(norm[0])[None, :]
        else:
            vectors = self.dense.vectors(norm)
        best = (vectors @ self.dense.examples).max(axis=1) / self.config.wordllama_weight
        return [float(s) ** power for s in np.clip(best, 0.0, 1.0)]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.probabilities(texts)
        out: list[Prediction] = []
        floor = self.config.coverage_floor
        for text, row, sim in zip(texts, probs, self.similarity(texts), strict=True):
            order = np.argsort(row)[::-1]
            best = self.classes[int(order[0])]
            p = float(row[order[0]])
            cov = self.coverage(text)
            # Coverage scales confidence: text made of words never seen in any example
            # (gibberish, another domain) cannot be confidently anything.
            conf = p * min(1.0, floor + cov) * sim
            alts = {self.classes[int(i)]: round(float(row[i]), 4) for i in order[:3]}
            intent = None if best == OUT_OF_SCOPE else best
            if intent is None:
                conf = 0.0
            out.append(
                Prediction(
                    intent=intent,
                    confidence=round(conf, 4),
                    probability=p,
                    coverage=cov,
                    alternatives=alts,
                )
            )
        return out

    def in_scope(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The best workflow of each text ignoring the out-of-scope class, and a score:
        its probability scaled by coverage (what escalation thresholds are set on)."""
        probs = self.probabilities(texts)
        if self._oos >= 0:
            probs = probs.copy()
            probs[:, self._oos] = -1.0
        best = probs.argmax(axis=1)
        floor = self.config.coverage_floor
        return [
            (self.classes[int(i)], float(row[i]) * min(1.0, floor + self.coverage(t)) * sim)
            for t, row, i, sim in zip(texts, probs, best, self.similarity(texts), strict=True)
        ]


_FITTED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "wordllama")


def _fit_key(
    texts: Sequence[str],
    labels: Sequence[str],
    out_of_scope: Sequence[str],
    config: ClassifierConfig,
) -> str:
    """What a fit depends on: the data, the configuration (but the fine-tuned model, which
    is attached after), this module's code and the versions of the libraries and Python."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in _FITTED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    settings = {
        k: v for k, v in config.__dict__.items() if k not in ("finetuned", "finetuned_weight")
    }
    key = {
        "texts": list(texts),
        "labels": list(labels),
        "out_of_scope": list(out_of_scope),
        "builtin_out_of_scope": builtin_out_of_scope(),
        "config": settings,
        "versions": versions,
        "python": list(sys.version_info[:3]),
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _load_fitted(
    path: Path, *, full: bool = False
) -> tuple[dict[str, Any], tuple[Any, Any, Any] | None] | None:
    """The fitted state kept at ``path``: its light part (no scikit-learn object, see
    :meth:`IntentClassifier._lite`) and, with ``full`` or when there is no light part,
    the fitted scikit-learn objects. None when the file is missing, is not an owner-only
    file of this user, or cannot be read (the caller fits again and replaces it)."""
    if not trusted_file(path):
        return None
    try:
        with open(path, "rb") as f:
            lite = pickle.load(f)  # trusted_file(path), above
            sklearn = None
            if full or lite is None:
                word, char, model, vocab, examples = pickle.load(f)
                sklearn = (word, char, model)
                if lite is None:
                    lite = {"vocabulary": sorted(vocab), "examples": examples}
    except Exception:
        return None
    if not isinstance(lite, dict):
        return None
    return lite, sklearn


class _View:
    """One fitted TF-IDF view (sublinear tf, l2 norm) and its slice of the weights,
    scoring a single text with the vectoriser's own analyzer, vocabulary and idf."""

    def __init__(
        self,
        analyze: Callable[[str], list[str]],
        vocabulary: dict[str, int],
        idf: Any,
        weights: np.ndarray[Any, np.dtype[np.float64]],
    ) -> None:
        self.analyze = analyze
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self.weights = weights

    @classmethod
    def of(
        cls, vectorizer: TfidfVectorizer, weights: np.ndarray[Any, np.dtype[np.float64]]
    ) -> _View:
        if not vectorizer.sublinear_tf or vectorizer.norm != "l2":
            raise ValueError("the single-text path assumes sublinear_tf and the l2 norm")
        return cls(vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, weights)

    def scores(self, text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        counts: dict[int, int] = {}
        for term in self.analyze(text):
            column = self.vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.zeros(self.weights.shape[1])
        index = np.fromiter(counts, dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (np.log(tf) + 1.0) * self.idf[index]
        values /= np.sqrt(values @ values)
        out: np.ndarray[Any, np.dtype[np.float64]] = values @ self.weights[index]
        return out


class _SentenceVectors:
    """WordLlama sentence vectors computed here, in float64, from the bundled model's token
    embedding table: the mean of the text's token rows, L2-normalised, times ``weight``.

    One text and many texts go through the same arithmetic (the library pads batches and
    pools in float32, so its vectors for a text depend slightly on its batch). A text with
    no tokens gets the zero vector (the library returns NaN there).
    """

    def __init__(self, dimensions: int, weight: float) -> None:
        from govcx.knowledge.wordllama import load_model

        model = load_model(dimensions)
        self.dimensions = dimensions
        self.weight = weight
        self.table = model.embedding[:, :dimensions]  # float32; rows widened when pooled
        self.tokenizer = model.tokenizer
        self.examples: np.ndarray[Any, np.dtype[np.float64]] | None = None
        """Unit vectors of the workflows' training examples, one per column (or None)."""

    def _pool(self, ids: Sequence[int]) -> np.ndarray[Any, np.dtype[np.float64]]:
        if not ids:
            return np.zeros(self.dimensions)
        rows = self.table[np.asarray(ids)].astype(np.float64)
        mean: np.ndarray[Any, np.dtype[np.float64]] = rows.mean(axis=0)
        norm = float(np.sqrt(mean @ mean))
        return mean * (self.weight / norm) if norm > 0 else mean

    def vector(self, text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self._pool(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def vectors(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        out = np.zeros((len(texts), self.dimensions))
        for row, enc in enumerate(encodings):
            # The library's tokenizer pads batches (on the right) to their longest text.
            out[row] = self._pool(enc.ids[: sum(enc.attention_mask)])
        return out
