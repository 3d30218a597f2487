#!/usr/bin/env bash
# `make run`: redis-server (started here unless one answers on 6379), a
# loopback webhook receiver, and `herald serve` with the sample config and a
# dev key. State lives in .run/ (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=.run
mkdir -p "$STATE"
HERALD=bin/herald
REDIS_PORT=${REDIS_PORT:-6379}
HTTP_ADDR=${HERALD_HTTP_ADDR:-127.0.0.1:8080}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "redis: using the server already answering on 127.0.0.1:$REDIS_PORT"
else
  echo "redis: starting redis-server on 127.0.0.1:$REDIS_PORT (data in $STATE)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/$STATE" --daemonize yes \
    --pidfile "$PWD/$STATE/redis.pid" --logfile "$PWD/$STATE/redis.log" --appendonly yes >/dev/null
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ ! -s "$STATE/dev-key" ]; then
  "$HERALD" keys create --workspace dev --scopes notifications:send,notifications:read,notifications:reprocess,jobs:write,jobs:read \
    | awk '/^key: /{print $2}' > "$STATE/dev-key"
fi
KEY=$(cat "$STATE/dev-key")

"$HERALD" dev receiver --addr 127.0.0.1:9099 > "$STATE/receiver.log" 2>&1 &
pids+=($!)

cat <<BANNER

  Herald is starting on http://$HTTP_ADDR  (workspace "dev")
  Dev API key:  $KEY

  Web console:  http://$HTTP_ADDR/console/   (sign in with the dev key above)

  Send a callback (the receiver on 127.0.0.1:9099 prints it to $STATE/receiver.log):

    curl -s -X POST http://$HTTP_ADDR/v1/notifications/callback/send \\
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
      -d '{"product":"demo","env":"dev","notification":"orders:confirmation",
           "input":{"params":{"id":"123"},"body":{"order_id":"123","total":42}}}'

  See what happened to it:

    curl -s "http://$HTTP_ADDR/v1/messages?limit=5" -H "Authorization: Bearer $KEY"
    curl -s "http://$HTTP_ADDR/v1/messages/<messageId>/attempts" -H "Authorization: Bearer $KEY"

  Try "orders:flaky" instead to watch retries fail.

  Schedule one every 10 seconds, five times, and watch the job:

    curl -s -X POST http://$HTTP_ADDR/v1/notifications/dispatch \\
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
      -d '{"product":"demo","env":"dev","notification":"orders:confirmation",
           "input":{"callback":{"params":{"id":"tick"}}},"schedule":{"every":10000,"limit":5}}'
    curl -s "http://$HTTP_ADDR/v1/jobs" -H "Authorization: Bearer $KEY"

  Ctrl-C stops Herald and the receiver.

BANNER

HERALD_BOOTSTRAP_WORKSPACE=dev HERALD_BOOTSTRAP_KEY="$KEY" HERALD_ALLOW_PRIVATE_NETWORKS=true \
HERALD_DATA_DIR="$STATE/data" HERALD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" HERALD_HTTP_ADDR="$HTTP_ADDR" \
  "$HERALD" serve --config deploy/local/herald.yaml &
pids+=($!)
wait "${pids[-1]}"
