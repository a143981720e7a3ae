"""Fixtures for the knowledge tests: the shared embedded Redis, a private index per test,
the shipped runbooks indexed once, and a local OpenAI-compatible server."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knowledge import service

DATA = Path(__file__).with_name("data")
QUESTIONS = DATA / "kb_questions.tsv"


def new_kb(redis_url: str, **kwargs: Any) -> service.KnowledgeBase:
    """A knowledge base on an index of its own, so tests never see each other's chunks."""
    return service.KnowledgeBase(redis_url, index_name=f"kb-test-{uuid.uuid4().hex[:8]}",
                                 **kwargs)


@pytest.fixture
def kb(redis_url: str) -> Iterator[service.KnowledgeBase]:
    base = new_kb(redis_url)
    yield base
    base.index.drop()
    base.close()


@pytest.fixture(scope="session")
def shipped_kb(redis_url: str) -> Iterator[service.KnowledgeBase]:
    """The shipped runbooks, ingested once for the whole run."""
    base = new_kb(redis_url)
    report = base.ingest(service.DEFAULT_RUNBOOKS)
    assert report.added and not report.skipped
    yield base
    base.index.drop()
    base.close()


def write_runbook(root: Path, name: str, title: str, body: str, *, lang: str = "en",
                  tags: str = "[]") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {title}\ntags: {tags}\nlang: {lang}\n---\n\n{body}",
                    encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Three small runbooks, one of them Chinese, one in a sub-folder."""
    root = tmp_path / "runbooks"
    write_runbook(root, "disk.md", "Node disk full", "## Symptoms\n\nDiskPressure evictions."
                  "\n\n## Remediation\n\nPrune images with `crictl rmi --prune`.\n",
                  tags="[disk, node]")
    write_runbook(root, "cert.zh.md", "证书过期", "## 症状\n\n浏览器提示证书过期，TLS 握手失败。"
                  "\n\n## 处置步骤\n\n续期证书并重启 ingress。\n", lang="zh", tags="[tls]")
    write_runbook(root, "team/dns.md", "DNS failures", "## Symptoms\n\nNXDOMAIN from CoreDNS."
                  "\n\n## Remediation\n\nRestart coredns pods.\n")
    return root


class FakeOpenAI:
    """An OpenAI-compatible HTTP server on loopback: deterministic embeddings (a hashed bag
    of words, so related texts are close) and scripted chat completions."""

    def __init__(self, dims: int = 64) -> None:
        self.dims = dims
        self.replies: list[str] = []
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body})
                if self.path.endswith("/embeddings"):
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"object": "embedding", "index": i, "embedding": fake.vector(t)}
                            for i, t in enumerate(texts)]
                    payload: dict[str, Any] = {"object": "list", "data": data,
                                               "model": body["model"],
                                               "usage": {"prompt_tokens": 1, "total_tokens": 1}}
                elif self.path.endswith("/chat/completions"):
                    text = (fake.replies.pop(0) if fake.replies
                            else "The runbooks do not cover this.")
                    payload = {"id": "c1", "object": "chat.completion", "created": 0,
                               "model": body["model"], "choices": [{
                                   "index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": text}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                         "total_tokens": 2}}
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def vector(self, text: str) -> list[float]:
        out = np.zeros(self.dims)
        for word in text.lower().split():
            out[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dims] += 1.0
        return out.tolist()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server
