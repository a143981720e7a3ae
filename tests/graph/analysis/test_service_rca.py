"""Service root-cause ranking on small call graphs built here, with known answers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from graph.analysis import errors
from graph.analysis.service_rca import (
    CallGraph,
    RankedService,
    RcaConfig,
    ServiceMetrics,
    rank_root_causes,
)

N = 60
START = 40  # samples 0..39 are normal, the incident runs from sample 40
STEP = 60.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13 UTC


def _noise(seed: int, level: float, spread: float) -> np.ndarray:
    return level + spread * np.random.default_rng(seed).standard_normal(N)


def _healthy(seed: int, latency: float = 0.05, requests: float = 1000.0,
             ) -> dict[str, np.ndarray]:
    return {
        "latency": _noise(seed, latency, latency * 0.03),
        "requests": np.round(_noise(seed + 1, requests, requests * 0.02)),
        "availability": np.clip(_noise(seed + 2, 0.999, 0.0003), 0.0, 1.0),
    }


def _after(values: np.ndarray, delta: float) -> np.ndarray:
    out = values.copy()
    out[START:] += delta
    return out


def _metrics(series: dict[str, dict[str, np.ndarray]]) -> ServiceMetrics:
    return ServiceMetrics(T0 + STEP * np.arange(N), series)


def _names(ranking: list[RankedService]) -> list[str]:
    return [r.service for r in ranking]


def _chain() -> tuple[CallGraph, dict[str, dict[str, np.ndarray]]]:
    """a -> b -> c, c 200 ms slower from sample 40, b and a slower because of it."""
    graph = CallGraph.from_edges([("a", "b"), ("b", "c")])
    a, b, c = _healthy(1, 0.30), _healthy(11, 0.25), _healthy(21, 0.05)
    c["latency"] = _after(c["latency"], 0.2)
    b["latency"] = _after(b["latency"], 0.2)
    a["latency"] = _after(a["latency"], 0.2)
    return graph, {"a": a, "b": b, "c": c}


def test_chain_blames_the_slow_leaf_not_its_callers() -> None:
    graph, series = _chain()
    ranking = rank_root_causes(_metrics(series), graph, incident_start=START, symptom="a",
                               symptom_metric="latency")
    assert _names(ranking)[0] == "c"
    top = ranking[0]
    assert top.metric == "latency"
    assert 0.0 < top.confidence <= 1.0
    pattern = r"latency 2[45]\d ms vs baseline [45]\d ms from 2023-11-14 22:53 UTC \(z \d+\)"
    assert any(re.fullmatch(pattern, r) for r in top.reasons), top.reasons
    assert "accounts for the failure of ~2.0 services above it" in top.reasons
    # The callers are listed below, with their change put down to the callee.
    assert set(_names(ranking)[1:]) == {"a", "b"}
    assert any("callee c also failing" in r for r in ranking[1].reasons)


def test_fan_out_blames_the_one_failing_leaf() -> None:
    graph = CallGraph.from_edges([("front", "b1"), ("front", "b2"), ("front", "b3")])
    series = {name: _healthy(seed) for seed, name in enumerate(["front", "b1", "b2", "b3"])}
    # b2 starts failing 30 % of its calls; the front end fails those requests too.
    series["b2"]["availability"] = _after(series["b2"]["availability"], -0.3)
    series["front"]["availability"] = _after(series["front"]["availability"], -0.3)
    ranking = rank_root_causes(_metrics(series), graph, incident_start=START,
                               symptom="front", symptom_metric="availability")
    assert _names(ranking)[0] == "b2"
    assert ranking[0].metric == "availability"
    assert "b1" not in _names(ranking) and "b3" not in _names(ranking)
    assert any("availability" in r and "%" in r for r in ranking[0].reasons)


def test_caller_slower_than_its_callee_can_explain_is_blamed() -> None:
    graph = CallGraph.from_edges([("a", "b")])
    a, b = _healthy(1, 0.10), _healthy(2, 0.05)
    b["latency"] = _after(b["latency"], 0.01)  # 10 ms: real, but no excuse for 500 ms
    a["latency"] = _after(a["latency"], 0.5)
    ranking = rank_root_causes(_metrics({"a": a, "b": b}), graph, incident_start=START,
                               symptom="a")
    assert _names(ranking)[0] == "a"


def test_service_without_metrics_is_reported_not_invented() -> None:
    # c reports nothing at all: b (slow, its only callee unknown) leads, c is listed as
    # unchecked; d reports requests and availability but no latency.
    graph = CallGraph.from_edges([("a", "b"), ("b", "c"), ("a", "d")])
    a, b, d = _healthy(1, 0.3), _healthy(2, 0.2), _healthy(3)
    del d["latency"]
    b["latency"] = _after(b["latency"], 0.3)
    a["latency"] = _after(a["latency"], 0.3)
    ranking = rank_root_causes(_metrics({"a": a, "b": b, "d": d}), graph,
                               incident_start=START, symptom="a")
    names = _names(ranking)
    assert names[0] == "b"
    assert any("no metrics for callee(s) c" in r for r in ranking[0].reasons)
    unchecked = ranking[names.index("c")]
    assert unchecked.score == 0.0 and unchecked.confidence == 0.0
    assert unchecked.metric is None and "latency" in unchecked.missing
    assert names.index("c") > names.index("b")
    assert "d" not in names  # not failing: absent latency is not taken as a fault


def test_missing_latency_is_listed_on_a_ranked_service() -> None:
    graph = CallGraph.from_edges([("a", "b")])
    a, b = _healthy(1), _healthy(2)
    del b["latency"]
    b["availability"] = _after(b["availability"], -0.2)
    a["availability"] = _after(a["availability"], -0.2)
    ranking = rank_root_causes(_metrics({"a": a, "b": b}), graph, incident_start=START,
                               symptom="a")
    assert ranking[0].service == "b"
    assert ranking[0].missing == ("latency",)
    assert "no latency data" in ranking[0].reasons


def test_no_anomaly_means_nothing_wrong() -> None:
    graph, _ = _chain()
    quiet = {name: _healthy(seed) for seed, name in enumerate("abc")}
    metrics = _metrics(quiet)
    assert rank_root_causes(metrics, graph, incident_start=START, symptom="a") == []
    assert rank_root_causes(metrics, graph, incident_start=START) == []
    assert rank_root_causes(metrics, graph) == []


def test_normal_symptom_means_nothing_wrong_even_if_a_leaf_wobbles() -> None:
    graph = CallGraph.from_edges([("a", "b"), ("a", "c")])
    series = {name: _healthy(seed) for seed, name in enumerate("abc")}
    series["c"]["latency"] = _after(series["c"]["latency"], 0.05)  # a does not feel it
    ranking = rank_root_causes(_metrics(series), graph, incident_start=START, symptom="a",
                               symptom_metric="latency")
    assert ranking == []
    # Asked without a symptom, the wobble itself is what is wrong.
    assert _names(rank_root_causes(_metrics(series), graph, incident_start=START))[0] == "c"


def test_incident_start_is_found_when_not_given() -> None:
    graph, series = _chain()
    ranking = rank_root_causes(_metrics(series), graph, symptom="a")
    assert _names(ranking)[0] == "c"
    assert ranking[0].onset == T0 + STEP * START


def test_older_baseline_can_stand_in_for_the_samples_before() -> None:
    graph, series = _chain()
    before = ServiceMetrics(T0 - 86_400.0 + STEP * np.arange(START),
                            {s: {m: v[:START] for m, v in ms.items()}
                             for s, ms in series.items()})
    # Only three samples before the incident in the window; a day-old baseline for scale.
    window = ServiceMetrics(T0 + STEP * np.arange(START - 3, N),
                            {s: {m: v[START - 3:] for m, v in ms.items()}
                             for s, ms in series.items()})
    ranking = rank_root_causes(window, graph, incident_start=3, symptom="a", baseline=before)
    assert _names(ranking)[0] == "c"


def test_ranking_is_deterministic_and_ignores_input_order() -> None:
    graph, series = _chain()
    first = rank_root_causes(_metrics(series), graph, incident_start=START, symptom="a")
    again = rank_root_causes(_metrics(series), graph, incident_start=START, symptom="a")
    shuffled = _metrics({name: dict(reversed(series[name].items()))
                         for name in reversed(list(series))})
    other = rank_root_causes(shuffled, graph, incident_start=START, symptom="a")
    assert first == again == other


def test_call_graph_from_adjacency_and_edges_agree() -> None:
    names = ["a", "b", "c"]
    matrix = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    built = CallGraph.from_adjacency(names, matrix)
    assert built == CallGraph.from_edges([("a", "b"), ("b", "c")])
    assert built.callees("a") == ("b",) and built.callers("c") == ("b",)
    assert built.downstream("a") == {"a": 0, "b": 1, "c": 2}
    assert CallGraph.from_edges([], nodes=["x"]).nodes == ("x",)


@pytest.mark.parametrize("build", [
    lambda: CallGraph.from_adjacency(["a", "b"], [[0, 1]]),
    lambda: CallGraph(("a",), frozenset({("a", "z")})),
    lambda: CallGraph(("a", "a"), frozenset()),
    lambda: ServiceMetrics(np.arange(3.0), {"a": {"cpu": np.zeros(3)}}),
    lambda: ServiceMetrics(np.arange(3.0), {"a": {"latency": np.zeros(4)}}),
    lambda: ServiceMetrics(np.array([1.0, 1.0]), {}),
])
def test_bad_input_is_refused(build: object) -> None:
    with pytest.raises(errors.BadInput):
        build()  # type: ignore[operator]


def test_bad_arguments_are_refused() -> None:
    graph, series = _chain()
    metrics = _metrics(series)
    with pytest.raises(errors.BadInput):
        rank_root_causes(metrics, graph, incident_start=START, symptom="nowhere")
    with pytest.raises(errors.BadInput):
        rank_root_causes(metrics, graph, incident_start=N)
    with pytest.raises(errors.BadInput):
        rank_root_causes(metrics, graph, incident_start=START, symptom_metric="cpu")


def _faint(lead_failures: float) -> tuple[CallGraph, ServiceMetrics]:
    """a -> b: a fails 3 requests of 1000 at sample 42, within its noise (six earlier
    samples had 2); b, normally clean, fails `lead_failures` at the same sample."""
    graph = CallGraph.from_edges([("a", "b")])
    a_failed, b_failed = np.zeros(N), np.zeros(N)
    a_failed[[3, 9, 15, 21, 27, 33]] = 2.0
    a_failed[START + 2] = 3.0
    b_failed[START + 2] = lead_failures
    series = {name: {"latency": _healthy(seed)["latency"], "requests": np.full(N, 1000.0),
                     "availability": 1.0 - failed / 1000.0}
              for seed, (name, failed) in enumerate((("a", a_failed), ("b", b_failed)))}
    return graph, _metrics(series)


def test_a_faint_symptom_lists_the_callee_failing_with_it_as_an_unconfirmed_lead() -> None:
    graph, metrics = _faint(3.0)
    (lead,) = rank_root_causes(metrics, graph, incident_start=START, symptom="a",
                               symptom_metric="availability")
    assert lead.service == "b" and not lead.confirmed
    assert lead.reasons[0].startswith("unconfirmed: a itself is within its normal noise")
    assert lead.confidence < 0.5
    strict = RcaConfig(faint_leads=False)
    assert rank_root_causes(metrics, graph, incident_start=START, symptom="a",
                            symptom_metric="availability", config=strict) == []


def test_a_lead_far_larger_than_the_faint_symptom_is_not_listed() -> None:
    # b failing 30 requests would have failed far more than a's 3 at a.
    graph, metrics = _faint(30.0)
    assert rank_root_causes(metrics, graph, incident_start=START, symptom="a",
                            symptom_metric="availability") == []
