#!/usr/bin/env bash
# Installs what Herald needs and the machine lacks, from Debian's packages:
# redis-server always; chromium and promtool (package prometheus) too unless
# called with "run" (only tests need them, not `make run`). Go itself must
# already be installed; helm and kubeconform are installed by `make tools`.
set -euo pipefail
command -v go >/dev/null || { echo "setup: Go is not installed (https://go.dev/dl/)"; exit 1; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
updated=""
install() { # install <command> <package> <why>
  command -v "$1" >/dev/null && return 0
  echo "setup: installing $2 with apt-get ($3)"
  if [ -z "$updated" ]; then $SUDO apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$2" >/dev/null
}
# The package starts a system service; Herald's tests and make run start their own servers.
install redis-server redis-server "the log store"
if [ "${1:-}" != "run" ]; then
  # Without it the console's test (api/console) is skipped locally and fails in CI.
  install chromium chromium "the web console's browser test"
  # Only its promtool is used (go test ./deploy/ checks and unit-tests the
  # alert rules); the package also installs a Prometheus service.
  install promtool prometheus "the alert rules' checks"
fi
redis-server --version | head -1
if [ "${1:-}" != "run" ]; then
  chromium --version 2>/dev/null | head -1 || true
  promtool --version 2>/dev/null | head -1 || true
fi
