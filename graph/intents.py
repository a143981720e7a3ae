"""Offline intent classifier: which route a chat message belongs to, without any LLM.

A linear model over three feature groups, trained in a fraction of a second from the
labelled utterances shipped in `graph/data/utterances.tsv` (English and Chinese):

- character n-grams (1-4, within word boundaries), which cope with typos, inflection and
  Chinese text without a tokenizer;
- word unigrams and bigrams, with Chinese runs split into character bigrams;
- cues from `graph/data/intent_cues.tsv`: a small hand-written lexicon ("why", "restart",
  "明天", "谢谢", ...) whose hits, and pairs of hits, are features of their own. With a
  few hundred examples per route the n-grams alone overfit to wording; the cues carry what
  an SRE knows about how each kind of request is phrased, in both languages.

Workload-like identifiers (checkout-api, ip-10-0-1-2) and digits are masked before the
n-gram features, so that the names in the training set say nothing about the route.
A linear SVM gives the route; its margins, temperature-scaled on held-out folds, give
calibrated probabilities for `confidence`.
"""

from __future__ import annotations

import collections
import functools
import importlib.resources
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
from sklearn import model_selection
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

__all__ = [
    "ROUTES",
    "IntentClassifier",
    "Prediction",
    "load_default",
    "load_rows",
    "normalize",
    "parse_rows",
]

ROUTES = ("ask", "query", "rca", "fix", "predict", "digest", "feedback", "help")

# Weights of the feature groups. Chosen by repeated 5-fold cross-validation over the
# shipped utterances: the cues help most at about a third of the n-gram weight; more
# lets a single cue word outvote the rest of the message.
_CHAR_WEIGHT = 1.0
_WORD_WEIGHT = 1.0
_CUE_WEIGHT = 0.35
_SVM_C = 1.0
# liblinear's stopping tolerance and the folds that fit the temperature: with ~2000
# utterances, tol 1e-3 and three folds train ~35% faster than the defaults (1e-4, five)
# with the same cross-validated accuracy and calibration.
_SVM_TOL = 1e-3
_CALIBRATION_FOLDS = 3

# Explicit ASCII boundaries: \b would see no boundary between "checkout-api" and "为什么".
_IDENT = re.compile(r"(?<![a-z0-9])[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)+(?![a-z0-9])")
_DIGITS = re.compile(r"\d+")
_WORD_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u4e00-\u9fff]+|[?!/]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_COUNTABLE = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Prediction:
    route: str
    confidence: float
    scores: dict[str, float]


def normalize(text: str) -> str:
    """NFKC (full-width ？，／ become ASCII) and lower case: what every feature sees."""
    return unicodedata.normalize("NFKC", text).lower().strip()


def _masked(text: str) -> str:
    return _DIGITS.sub("0", _IDENT.sub(" zzname ", normalize(text)))


def _word_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for token in _WORD_TOKEN.findall(text):
        if _CJK.match(token):
            # Chinese has no spaces; character bigrams are its cheapest usable "words".
            tokens.extend([token[i:i + 2] for i in range(len(token) - 1)] or [token])
        else:
            tokens.append(token)
    return tokens


class _Cues:
    """The cue lexicon compiled to one regular expression per cue."""

    def __init__(self, rows: Iterable[tuple[str, str]]) -> None:
        # Alternatives grouped by the word boundaries they need, one lookaround per group
        # rather than per alternative: matching is most of the cost of training.
        grouped: dict[str, dict[tuple[bool, bool], list[str]]] = {}
        for cue, alternative in rows:
            re.compile(alternative)  # fail on the bad line, not on the joined pattern
            groups = grouped.setdefault(cue, {})
            groups.setdefault(_boundaries(alternative), []).append(alternative)
        self.patterns = {cue: re.compile("|".join(_bounded(alts, *bounds)
                                                  for bounds, alts in groups.items()))
                         for cue, groups in grouped.items()}

    def __call__(self, text: str) -> list[str]:
        lowered = normalize(text)
        hits = [cue for cue, pattern in self.patterns.items() if pattern.search(lowered)]
        act = self.patterns.get("act")
        first = re.match(r"\s*(?:please |pls |plz |can you |could you |go ahead and |麻烦|帮我|请)?"
                         r"(\S+)", lowered)
        if act is not None and first and act.match(first.group(1)):
            hits.append("imperative")  # "restart x" is an order, "did the restart work" is not
        if _IDENT.search(lowered):
            hits.append("identifier")
        words = len(_COUNTABLE.findall(lowered))
        hits.append("short" if words <= 3 else "medium" if words <= 8 else "long")
        # A linear model cannot combine features itself; pairs such as why+symptom or
        # future+lookup are what tell "cpu of orders" from "cpu of orders tomorrow".
        pairs = [f"{a}+{b}" for i, a in enumerate(hits) for b in hits[i + 1:]]
        return hits + pairs


def _boundaries(alternative: str) -> tuple[bool, bool]:
    # English alternatives must match whole words ("ty" is not in "empty"); CJK and
    # punctuation need no boundary.
    return (bool(re.match(r"[a-z0-9]|\\d", alternative)),
            bool(re.search(r"[a-z0-9?)]$", alternative)))


def _bounded(alternatives: list[str], left: bool, right: bool) -> str:
    body = "|".join(alternatives)
    return (r"(?<![a-z0-9])" if left else "") + f"(?:{body})" + (r"(?![a-z0-9])" if right else "")


def parse_rows(text: str) -> list[tuple[str, str]]:
    """`first<TAB>second` lines; blank lines and `#` comments are skipped."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        first, sep, second = line.partition("\t")
        if not sep or not second.strip():
            raise ValueError(f"line {number}: expected two tab-separated columns: {line!r}")
        rows.append((first.strip(), second.strip()))
    return rows


def load_rows(name: str) -> list[tuple[str, str]]:
    """Rows of a TSV file shipped in `graph/data`."""
    resource = importlib.resources.files("graph").joinpath("data", name)
    return parse_rows(resource.read_text(encoding="utf-8"))


@functools.cache
def _default_cues() -> _Cues:
    return _Cues(load_rows("intent_cues.tsv"))


def _build_features(cues: _Cues) -> FeatureUnion:
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), preprocessor=_masked,
                           sublinear_tf=True, dtype=np.float64)
    word = TfidfVectorizer(tokenizer=_word_tokens, preprocessor=_masked, token_pattern=None,
                           ngram_range=(1, 2), sublinear_tf=True, dtype=np.float64)
    cue = TfidfVectorizer(analyzer=cues, sublinear_tf=True, dtype=np.float64)
    return FeatureUnion(
        [("char", char), ("word", word), ("cue", cue)],
        transformer_weights={"char": _CHAR_WEIGHT, "word": _WORD_WEIGHT, "cue": _CUE_WEIGHT})


def _svm() -> LinearSVC:
    # A fixed random_state keeps liblinear's coordinate order, hence training, deterministic.
    return LinearSVC(C=_SVM_C, tol=_SVM_TOL, random_state=0, max_iter=5000)


def _softmax(scores: Any) -> Any:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _fit_temperature(decisions: Any, labels: Any) -> float:
    """Temperature scaling: the softmax(decision / T) that best explains held-out folds.

    SVM margins are not probabilities; one fitted temperature turns them into calibrated
    ones without changing which route wins.
    """
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        proba = _softmax(decisions / np.exp(log_t))
        return float(-np.log(np.clip(proba[rows, labels], 1e-12, None)).mean())

    result = scipy.optimize.minimize_scalar(nll, bounds=(-5.0, 3.0), method="bounded")
    return float(np.exp(result.x))


class IntentClassifier:
    """Predicts the route of a message; build it with `train` or `load_default`."""

    def __init__(self, features: FeatureUnion, svm: LinearSVC, temperature: float) -> None:
        self.routes: tuple[str, ...] = tuple(str(c) for c in svm.classes_)
        self.temperature = temperature
        self._intercept = np.asarray(svm.intercept_, dtype=np.float64)
        coef_t = np.asarray(svm.coef_, dtype=np.float64).T
        # Scoring one message through sklearn's transform/decision_function API spends
        # most of its time validating input; the same arithmetic done here is ~10x faster.
        # `decisions_reference` keeps sklearn's path so tests can check the two agree.
        self._features = features
        self._coef_t = coef_t
        self._parts: list[_Part] = []
        offset = 0
        for name, vectorizer in features.transformer_list:
            size = len(vectorizer.vocabulary_)
            self._parts.append(_Part(
                analyzer=vectorizer.build_analyzer(), vocabulary=vectorizer.vocabulary_,
                idf=np.asarray(vectorizer.idf_, dtype=np.float64),
                weight=float(features.transformer_weights[name]),
                coef_t=coef_t[offset:offset + size]))
            offset += size

    @classmethod
    def train(cls, rows: Iterable[tuple[str, str]], *,
              cue_rows: Iterable[tuple[str, str]] | None = None) -> IntentClassifier:
        """Train on `(route, text)` pairs; `cue_rows` replaces the shipped cue lexicon."""
        pairs = list(rows)
        unknown = sorted({route for route, _ in pairs} - set(ROUTES))
        if unknown:
            raise ValueError(f"unknown routes in training data: {', '.join(unknown)}")
        counts = collections.Counter(route for route, _ in pairs)
        if len(counts) < 2 or min(counts.values()) < _CALIBRATION_FOLDS:
            raise ValueError(f"need at least two routes with {_CALIBRATION_FOLDS} examples "
                             f"each; got {dict(counts)}")
        cues = _Cues(cue_rows) if cue_rows is not None else _default_cues()
        features = _build_features(cues)
        matrix = features.fit_transform([text for _, text in pairs])
        labels = np.array([route for route, _ in pairs])
        svm = _svm().fit(matrix, labels)
        # Unshuffled folds: deterministic. The vectorizers saw every fold, which shifts
        # the margins too little to matter for a single temperature.
        held_out = model_selection.cross_val_predict(
            _svm(), matrix, labels, cv=model_selection.StratifiedKFold(_CALIBRATION_FOLDS),
            method="decision_function")
        label_index = np.searchsorted(svm.classes_, labels)
        return cls(features, svm, _fit_temperature(held_out, label_index))

    @classmethod
    def load_default(cls) -> IntentClassifier:
        """Same as the module's `load_default()`: the shared, lazily trained classifier."""
        return load_default()

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        return [self._prediction(self._decision(text)) for text in texts]

    def decisions_reference(self, texts: Sequence[str]) -> Any:
        """SVM margins computed by sklearn itself, to check the fast path against."""
        return self._features.transform(list(texts)) @ self._coef_t + self._intercept

    def decisions(self, texts: Sequence[str]) -> Any:
        return np.array([self._decision(text) for text in texts])

    def _decision(self, text: str) -> Any:
        # TfidfVectorizer.transform, one message at a time: sublinear tf times idf,
        # l2-normalised per feature group, weighted, then the dot product with the SVM.
        total = self._intercept.copy()
        for part in self._parts:
            counts = collections.Counter(
                index for term in part.analyzer(text)
                if (index := part.vocabulary.get(term)) is not None)
            if not counts:
                continue
            indices = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64,
                                               count=len(counts)))) * part.idf[indices]
            values *= part.weight / np.sqrt(values @ values)
            total += values @ part.coef_t[indices]
        return total

    def _prediction(self, decision: Any) -> Prediction:
        probabilities = _softmax(decision[np.newaxis, :] / self.temperature)[0]
        scores = {route: float(p) for route, p in zip(self.routes, probabilities, strict=True)}
        best = self.routes[int(np.argmax(decision))]
        return Prediction(best, scores[best], scores)


@dataclass(frozen=True)
class _Part:
    """One fitted feature group, reduced to what scoring a message needs."""

    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: Any
    weight: float
    coef_t: Any


_lock = threading.Lock()
_default: IntentClassifier | None = None


def load_default() -> IntentClassifier:
    """The classifier trained on the shipped utterances; trained once per process."""
    global _default
    with _lock:
        if _default is None:
            _default = IntentClassifier.train(load_rows("utterances.tsv"))
        return _default
