"""The offline intent classifier and the data it is trained and judged on."""

from __future__ import annotations

import collections
import pathlib
import re
import time

import numpy as np
import pytest

from graph import intents

EVAL_FILE = pathlib.Path(__file__).parent / "data" / "route_eval.tsv"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def training() -> list[tuple[str, str]]:
    return intents.load_rows("utterances.tsv")


@pytest.fixture(scope="module")
def evaluation() -> list[tuple[str, str]]:
    return intents.parse_rows(EVAL_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def classifier() -> intents.IntentClassifier:
    return intents.load_default()


def test_training_data_is_balanced_and_bilingual(training: list[tuple[str, str]]) -> None:
    assert len(training) >= 800
    counts = collections.Counter(route for route, _ in training)
    assert set(counts) == set(intents.ROUTES)
    assert max(counts.values()) <= 1.3 * min(counts.values()), counts
    chinese = sum(1 for _, text in training if _CJK.search(text)) / len(training)
    assert 0.3 <= chinese <= 0.5, chinese
    texts = [_norm(text) for _, text in training]
    duplicates = [t for t, n in collections.Counter(texts).items() if n > 1]
    assert not duplicates


def test_eval_set_shape(evaluation: list[tuple[str, str]]) -> None:
    assert len(evaluation) == 200
    counts = collections.Counter(route for route, _ in evaluation)
    assert set(counts) == set(intents.ROUTES)


def test_eval_texts_do_not_appear_in_training(training: list[tuple[str, str]],
                                              evaluation: list[tuple[str, str]]) -> None:
    seen = {_norm(text) for _, text in training}
    # Also without punctuation, so that "pods?" and "pods" count as the same line.
    stripped = {re.sub(r"[^\w\s]", "", t) for t in seen}
    leaked = [text for _, text in evaluation
              if _norm(text) in seen or re.sub(r"[^\w\s]", "", _norm(text)) in stripped]
    assert not leaked


def test_eval_accuracy(classifier: intents.IntentClassifier,
                       evaluation: list[tuple[str, str]]) -> None:
    predictions = classifier.predict_many([text for _, text in evaluation])
    correct = [p.route == route for p, (route, _) in zip(predictions, evaluation, strict=True)]
    accuracy = sum(correct) / len(correct)
    report = []
    for route in intents.ROUTES:
        hits = [ok for ok, (r, _) in zip(correct, evaluation, strict=True) if r == route]
        report.append(f"{route:9} recall {sum(hits) / len(hits):.2f} ({sum(hits)}/{len(hits)})")
    report += [f"  {route} -> {p.route} ({p.confidence:.2f}): {text}"
               for p, (route, text) in zip(predictions, evaluation, strict=True)
               if p.route != route]
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f}\n" + "\n".join(report)


@pytest.mark.parametrize(("text", "route"), [
    ("how do I roll back?", "ask"),
    ("roll back checkout", "fix"),
    ("why did the rollback fail", "rca"),
    ("show me the forecast for orders", "predict"),
    ("what's the status of everything", "digest"),
    ("status of pod x", "query"),
    ("that worked", "feedback"),
    ("what can you do", "help"),
    ("checkout-api 为什么一直重启", "rca"),
    ("orders 明天高峰需要几个副本？", "predict"),
])
def test_hard_negatives(classifier: intents.IntentClassifier, text: str, route: str) -> None:
    assert classifier.predict(text).route == route


def test_prediction_scores_are_probabilities(classifier: intents.IntentClassifier) -> None:
    prediction = classifier.predict("why is checkout failing?")
    assert set(prediction.scores) == set(intents.ROUTES)
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    assert prediction.confidence == max(prediction.scores.values())
    assert prediction.scores[prediction.route] == prediction.confidence


def test_fast_scoring_matches_sklearn(classifier: intents.IntentClassifier,
                                     evaluation: list[tuple[str, str]]) -> None:
    texts = [text for _, text in evaluation] + ["", "？？", "<@U1> 重启 a-b-c"]
    np.testing.assert_allclose(classifier.decisions(texts),
                               classifier.decisions_reference(texts), atol=1e-9)


def test_training_is_fast_and_deterministic(training: list[tuple[str, str]],
                                            evaluation: list[tuple[str, str]]) -> None:
    intents.load_default()  # imports and caches warmed up
    models, took = [], []
    for _ in range(2):  # the faster of two runs: a busy machine should not fail this
        started = time.perf_counter()
        models.append(intents.IntentClassifier.train(training))
        took.append(time.perf_counter() - started)
    first, second = models
    texts = [text for _, text in evaluation]
    assert min(took) < 2.0, f"training took {min(took):.2f}s"
    np.testing.assert_array_equal(first.decisions(texts), second.decisions(texts))
    assert first.temperature == second.temperature


def test_load_default_is_cached() -> None:
    assert intents.load_default() is intents.load_default()
    assert intents.IntentClassifier.load_default() is intents.load_default()


def test_train_rejects_bad_rows() -> None:
    with pytest.raises(ValueError, match="unknown routes"):
        intents.IntentClassifier.train([("deploy", "ship it")] * 10)
    with pytest.raises(ValueError, match="at least two routes"):
        intents.IntentClassifier.train([("ask", "how?")] * 10)


def test_parse_rows_skips_comments_and_rejects_bad_lines() -> None:
    assert intents.parse_rows("# note\n\nask\thow do I?\n") == [("ask", "how do I?")]
    with pytest.raises(ValueError, match="line 1"):
        intents.parse_rows("ask how do I?\n")
