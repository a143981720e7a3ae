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


def test_client_formats_name_the_server() -> None:
    libpq = ('psycopg2.OperationalError: connection to server at "orders-db.shop.svc" '
             '(10.96.1.2), port 5432 failed: FATAL:  sorry, too many clients already')
    assert kinds(libpq) == [("server_refused", "orders-db.shop.svc:5432")]
    go_dns = ("dial tcp: lookup kafka.streaming.svc on 10.96.0.10:53: read udp "
              "10.0.0.5:4000->10.96.0.10:53: i/o timeout")
    assert kinds(go_dns) == [("dns", "kafka.streaming.svc")]
    # The name the client dialled says which Service; the address it resolved to may not.
    assert kinds("GET /p -> pricing.shop.svc.cluster.local:80 failed: connect ECONNREFUSED "
                 "10.96.7.7:80") == [("dependency", "pricing.shop.svc.cluster.local:80")]


def test_timestamps_are_not_hosts() -> None:
    assert kinds("2026-11-25T10:00:01Z INFO request path=/v1/orders status=502") == []
    assert kinds("2026-11-25T10:00:01.123Z ERROR POST http://pay.shop.svc:8080/v1 returned "
                 "503") == [("dependency", "pay.shop.svc:8080")]


def test_localhost_is_not_a_dependency() -> None:
    assert ("dependency", "localhost:8080") not in kinds(
        "connection refused localhost:8080")


def test_oom_database_exhaustion_and_plain_errors() -> None:
    assert kinds("java.lang.OutOfMemoryError: Java heap space")[0][0] == "oom"
    assert kinds("FATAL: sorry, too many connections for role app")[0][0] == "server_refused"
    assert kinds("ERROR something else broke")[0][0] == "exception"
    assert kinds("INFO all good\nGET /healthz 200") == []


def test_promql_regex_literal_keeps_dashes_and_escapes_dots() -> None:
    from graph import promql

    assert promql.regex_literal("checkout-api") == "checkout-api"
    assert promql.regex_literal("a.b") == "a\\\\.b"


def test_a_source_file_and_line_is_not_a_host() -> None:
    line = ('{"level":"error","caller":"redeem/handler.go:142","redis":'
            '"points-redis.loyalty.svc.cluster.local:6379","error":"reserve points: dial tcp '
            '10.96.88.203:6379: connect: connection refused"}')
    assert kinds(line) == [("dependency", "points-redis.loyalty.svc.cluster.local:6379")]


def test_a_server_refusing_writes_is_blamed_by_name() -> None:
    line = ('{"caller":"redeem/handler.go:142","redis":"points-redis.loyalty.svc:6379",'
            '"error":"MISCONF Redis is configured to save RDB snapshots, but it is unable"}')
    assert kinds(line) == [("server_refused", "points-redis.loyalty.svc:6379")]
    assert kinds("FATAL: the database system is in recovery mode")[0][0] == "server_refused"


def test_an_unparsable_config_file_is_named() -> None:
    line = ('{"level":"fatal","msg":"cannot load configuration","path":"/etc/points/config.yaml",'
            '"error":"yaml: line 14: did not find expected key"}')
    assert kinds(line) == [("bad_config", "/etc/points/config.yaml")]
    assert kinds("json.decoder.JSONDecodeError: Expecting ',' delimiter: line 3")[0][0] == \
        "bad_config"
    # A config server that cannot be reached is a dependency, not a bad file.
    assert kinds("failed to load config from config-server.infra:8888: connection refused")[
        0][0] == "dependency"


def test_jdbc_names_the_server_that_refused() -> None:
    line = ("org.postgresql.util.PSQLException: Connection to "
            "orders-postgres.shop.svc.cluster.local:5432 refused. Check that the hostname and "
            "port are correct and that the postmaster is accepting TCP/IP connections.")
    assert kinds(line) == [("dependency", "orders-postgres.shop.svc.cluster.local:5432")]
