#!/usr/bin/env bash
# Installs what Herald's tests and `make run` need and the machine lacks:
# redis-server and chromium (Debian packages). Go itself must already be installed.
set -euo pipefail
command -v go >/dev/null || { echo "setup: Go is not installed (https://go.dev/dl/)"; exit 1; }
if ! command -v redis-server >/dev/null; then
  echo "setup: installing redis-server with apt-get"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  # The package starts a system service; Herald's tests start their own servers.
fi
# Chromium (Debian's package) drives the web console's browser test
# (api/console); without it that test is skipped locally and fails in CI.
if ! command -v chromium >/dev/null; then
  echo "setup: installing chromium with apt-get (the console's browser test)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
redis-server --version | head -1
chromium --version 2>/dev/null | head -1 || true
