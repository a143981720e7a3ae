#!/usr/bin/env bash
# Lint, type-check and run the whole test suite (after deploy/setup.sh --dev).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check bot graph tools knowledge tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
