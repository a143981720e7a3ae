"""Pure pieces of the sandbox: patches, selectors, back-off timing, load curve."""

from __future__ import annotations

import itertools

import pytest

from tools.sandbox import patching
from tools.sandbox.apierrors import ApiError
from tools.sandbox.behaviour import Fault
from tools.sandbox.lifecycle import Timeline, backoff_s
from tools.sandbox.load import LoadCurve
from tools.sandbox.selection import FieldSelector, LabelSelector, selector_string
from tools.sandbox.testing import MONDAY_AFTERNOON

POD = {"spec": {"containers": [
    {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"},
                                           {"name": "B", "value": "2"}],
     "ports": [{"containerPort": 80}]},
    {"name": "sidecar", "image": "s:1"}]}}


def test_strategic_merge_merges_lists_by_key() -> None:
    patched = patching.strategic_merge_patch(POD, {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
         "resources": {"limits": {"memory": "512Mi"}}}],
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}]}})
    app, sidecar = patched["spec"]["containers"]
    assert [(e["name"], e["value"]) for e in app["env"]] == [("A", "1"), ("B", "3"), ("C", "4")]
    assert app["image"] == "a:1" and app["resources"]["limits"]["memory"] == "512Mi"
    assert sidecar == {"name": "sidecar", "image": "s:1"}
    assert POD["spec"]["containers"][0]["env"][1]["value"] == "2"  # the input is untouched


def test_merge_patch_replaces_lists_and_deletes_nulls() -> None:
    patched = patching.merge_patch(POD, {"spec": {"containers": [{"name": "only"}]},
                                         "metadata": {"labels": {"x": "y"}}})
    assert patched["spec"]["containers"] == [{"name": "only"}]
    assert patching.merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None}}) == {"a": 1, "b": {}}


def test_json_patch_operations() -> None:
    doc = {"metadata": {"annotations": {"a/b": "1"}}, "spec": {"items": [1, 2]}}
    out = patching.json_patch(doc, [
        {"op": "test", "path": "/metadata/annotations/a~1b", "value": "1"},
        {"op": "replace", "path": "/metadata/annotations", "value": {"c": "2"}},
        {"op": "add", "path": "/spec/items/-", "value": 3},
        {"op": "remove", "path": "/spec/items/0"},
        {"op": "copy", "from": "/spec/items", "path": "/spec/copy"},
        {"op": "move", "from": "/spec/copy", "path": "/spec/moved"}])
    assert out == {"metadata": {"annotations": {"c": "2"}},
                   "spec": {"items": [2, 3], "moved": [2, 3]}}
    with pytest.raises(ApiError) as failed:
        patching.json_patch(doc, [{"op": "test", "path": "/spec/items/0", "value": 9}])
    assert failed.value.code == 422
    with pytest.raises(ApiError) as unsupported:
        patching.apply_patch("application/apply-patch+yaml", doc, {})
    assert unsupported.value.code == 415


def test_label_selectors() -> None:
    labels = {"app": "web", "tier": "frontend"}
    cases = {"app=web": True, "app==web": True, "app!=web": False, "app in (api,web)": True,
             "app notin (api,web)": False, "tier": True, "!tier": False, "!missing": True,
             "app=web,tier in (frontend)": True, "missing notin (x)": True}
    for text, expected in cases.items():
        assert LabelSelector.parse(text).matches(labels) is expected, text
    spec = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]}
    assert LabelSelector.from_spec(spec).matches(labels)
    assert selector_string(spec) == "app=web,tier in (frontend)"
    with pytest.raises(ApiError):
        LabelSelector.parse("app in web")


def test_field_selectors() -> None:
    event = {"involvedObject": {"kind": "Pod", "name": "p"}, "type": "Warning"}
    assert FieldSelector.parse("involvedObject.kind=Pod,type!=Normal").matches(event)
    assert not FieldSelector.parse("involvedObject.name==q").matches(event)


def test_crash_loop_back_off_timing() -> None:
    assert [backoff_s(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    timeline = Timeline("ns/pod/c", Fault("crash", "QUEUE_URL", 1.0), 5.0, 100.0)
    starts = [run.start for run in timeline.runs_until(100.0 + 2400)]
    gaps = [round(b - a) for a, b in itertools.pairwise(starts)]
    assert gaps[:6] == [11, 21, 41, 81, 161, 301]
    assert 10 <= timeline.restarts(100.0 + 2400) <= 13
    assert not timeline.ready(100.0 + 2400)
    timeline.refault(Fault("none"), 100.0 + 2400)
    later = 100.0 + 2400 + 400
    assert timeline.ready(later) and timeline.next_transition(later) is None


def test_oom_runs_reset_nothing_shorter_than_ten_minutes() -> None:
    timeline = Timeline("ns/pod/c", Fault("oom", "", 250.0), 20.0, 0.0)
    runs = timeline.runs_until(3600.0)
    assert all(run.reason == "OOMKilled" and run.exit_code == 137 for run in runs[:-1])
    assert all(run.ready_at is not None for run in runs)
    timeline.stop(1000.0)
    assert timeline.runs[-1].end is not None and timeline.runs[-1].end <= 1000.0
    assert timeline.next_transition(1000.0) is None


def test_load_curve_integral_matches_its_rate() -> None:
    curve = LoadCurve(40.0, "shop/frontend", MONDAY_AFTERNOON - 8 * 86400)
    for back in (0.0, 3 * 3600.0, 2.5 * 86400):
        t = MONDAY_AFTERNOON - back
        numeric = (curve.integral(t + 0.5) - curve.integral(t - 0.5)) / 1.0
        assert abs(numeric - curve.rate(t)) < 1e-3 * curve.rate(t)
    assert curve.integral(MONDAY_AFTERNOON) > curve.integral(MONDAY_AFTERNOON - 60) > 0
