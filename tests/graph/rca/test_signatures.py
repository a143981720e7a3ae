"""Log signatures: what a failing container says and which host it blames."""

from graph.rca import signatures


def kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.detail) for s in signatures.scan_log(text)]


def test_missing_environment_variable_names_the_variable() -> None:
    assert kinds("Error: required environment variable QUEUE_URL is not set") == [
        ("missing_config", "QUEUE_URL")]
    assert kinds("KeyError: 'DATABASE_URL'") == [("missing_config", "DATABASE_URL")]


def test_connection_refused_names_host_and_port() -> None:
    found = kinds("2026-11-25T10:00:01Z ERROR dial tcp payments-api:8080: connection refused")
    assert found == [("dependency", "payments-api:8080")]
    found = kinds("ERROR upstream payments-api.shop.svc.cluster.local:8080 returned 503")
    assert found == [("dependency", "payments-api.shop.svc.cluster.local:8080")]


def test_localhost_is_not_a_dependency() -> None:
    assert ("dependency", "localhost:8080") not in kinds(
        "connection refused localhost:8080")


def test_oom_database_exhaustion_and_plain_errors() -> None:
    assert kinds("java.lang.OutOfMemoryError: Java heap space")[0][0] == "oom"
    assert kinds("FATAL: sorry, too many connections for role app")[0][0] == "db_exhausted"
    assert kinds("ERROR something else broke")[0][0] == "exception"
    assert kinds("INFO all good\nGET /healthz 200") == []


def test_promql_regex_literal_keeps_dashes_and_escapes_dots() -> None:
    from graph import promql

    assert promql.regex_literal("checkout-api") == "checkout-api"
    assert promql.regex_literal("a.b") == "a\\\\.b"
