"""The model gets read tools only; its suggestions become proposals with our risk levels."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from graph.llm import agent, catalog, suggest
from tools import server


def tool(name: str, read_only: bool | None = True) -> SimpleNamespace:
    return SimpleNamespace(name=name, description=f"{name} tool", inputSchema={
        "type": "object", "properties": {"namespace": {"type": "string"}}, "title": "x"},
        annotations=SimpleNamespace(readOnlyHint=read_only))


def test_write_tools_are_filtered_out_and_refused() -> None:
    listed = [tool(n) for n in server.READ_TOOL_NAMES] + [
        tool(n, read_only=False) for n in server.WRITE_TOOL_NAMES] + [tool("exec_shell")]
    kept = catalog.read_only(listed)
    assert {t.name for t in kept} == set(server.READ_TOOL_NAMES)
    assert "title" not in kept[0].openai()["function"]["parameters"]
    for name in ("scale", "delete_pod", "rollback", "exec_shell"):
        with pytest.raises(catalog.UnsafeTools):
            catalog.assert_read_only(["list_pods", name])
    catalog.assert_read_only(["list_pods", suggest.SUGGEST_TOOL_NAME],
                             also_allowed=[suggest.SUGGEST_TOOL_NAME])


def test_a_read_tool_that_declares_itself_writable_is_dropped() -> None:
    kept = catalog.read_only([tool("list_pods"), tool("describe", read_only=False)])
    assert [t.name for t in kept] == ["list_pods"]


def test_suggestions_are_rebuilt_with_project_risk_and_need_evidence() -> None:
    seen = '{"name": "worker", "namespace": "shop", "pods": ["worker-7c9d-x2"]}'
    made = suggest.parse_suggestion({"action": "rollback", "resource": "Deployment/shop/worker",
                                     "revision": 2, "reason": "QUEUE_URL removed [2]",
                                     "risk": "low"}, seen)
    assert isinstance(made, suggest.Suggestion)
    assert made.action.risk == "high"  # from graph.actions, not from the model
    button = suggest.button_for(made)
    assert button.action_id == "propose_fix"
    assert json.loads(button.value)["action"] == "rollback"
    assert "did not appear" in str(suggest.parse_suggestion(
        {"action": "restart", "resource": "Deployment/shop/payments", "reason": "x"}, seen))
    assert isinstance(suggest.parse_suggestion(
        {"action": "delete_namespace", "resource": "Namespace//shop", "reason": "x"}, seen), str)
    assert isinstance(suggest.parse_suggestion(
        {"action": "scale", "resource": "Deployment/shop/worker", "replicas": 500,
         "reason": "x"}, seen), str)
    assert isinstance(suggest.parse_suggestion(
        {"action": "delete_pod", "resource": "Pod/shop/worker-7c9d-x2", "reason": "x"},
        seen), suggest.Suggestion)


@pytest.mark.parametrize(("question", "agent_takes_it"), [
    ("which pod restarted most in shop and what do its logs say?", True),
    ("how is checkout doing", True),
    ("compare the error rate of checkout and orders", True),
    ("show me the logs", False),
    ("list the pods in namespace shop", False),
    ("run `sum(rate(http_requests_total[5m]))`", False),
])
def test_which_questions_go_to_the_tool_loop(question: str, agent_takes_it: bool) -> None:
    assert agent.wants_agent(question) is agent_takes_it
