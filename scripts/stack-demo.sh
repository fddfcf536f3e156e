#!/usr/bin/env bash
# The whole system on Kafka with every stage and the four analyst stores
# (examples/production.toml): one ingest daemon (`--only sources`, following
# an inbox with the sample posts, and the sample roster) and two workers
# (`--only stages,sinks`). When every group's lag is 0 they stop with
# SIGTERM, one after the other (the KOL scores each emits at shutdown reach
# the stores before it exits; the other worker takes over its partitions).
# Then the stores are compared with the SQLite quick start on the same input
# (benches/src/bin/stack_report.rs): counts per store, three analyst
# answers each, exit status 0 only when every count matches.
#
#   scripts/stack-demo.sh path/to/socialpipe path/to/stack_report
#
# The stores are the servers scripts/services.sh starts; ClickHouse database,
# PostgreSQL schema and MongoDB database `stack_demo` are dropped first.
# The broker is a fresh tansu of its own on SQLite storage (the memory build
# reports end offsets too low, so lag would read 0 too early; the sample is
# small enough for SQLite storage, docs/decisions/003), unless KAFKA_BROKERS
# names one.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: stack-demo.sh path/to/socialpipe path/to/stack_report}
REPORT=${2:?usage: stack-demo.sh path/to/socialpipe path/to/stack_report}
DIR=var/stack-demo
CONFIG=examples/production.toml
rm -rf "$DIR"
mkdir -p "$DIR/inbox" "$DIR/broker"
PIDS=()
trap 'kill ${PIDS[@]+"${PIDS[@]}"} 2>/dev/null || true' EXIT

scripts/services.sh start >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [[ -z ${KAFKA_BROKERS:-} ]]; then
  PORT=$(free_port)
  TANSU=$(scripts/services.sh which kafka)
  (cd "$DIR/broker" && exec "$TANSU" broker \
    --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine sqlite://tansu.db >broker.log 2>&1) &
  PIDS+=($!)
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done
  export KAFKA_BROKERS=127.0.0.1:$PORT
fi
echo "broker: $KAFKA_BROKERS"

# As many partitions as the quick start's topics: KOL scoring judges idle
# authors by their partition's clock, so the same input gives the same scores.
export SOCIALPIPE_PARTITIONS=4 SOCIALPIPE_GROUP=stack_demo CLICKHOUSE_DATABASE=stack_demo POSTGRES_SCHEMA=stack_demo \
  MONGODB_URI="mongodb://127.0.0.1:27017/stack_demo?directConnection=true" \
  SOCIALPIPE_INBOX="$DIR/inbox" SOCIALPIPE_ROSTERS=examples/data/rosters
"$REPORT" --reset
"$BIN" validate --config "$CONFIG"
"$BIN" migrate --config "$CONFIG"
# The topology's topics (as `run` would create them).
"$BIN" produce --config "$CONFIG" raw.posts </dev/null
cp examples/data/posts.jsonl "$DIR/inbox/"

daemon() { # name, --only parts, http port
  SOCIALPIPE_HTTP=127.0.0.1:$3 "$BIN" run --config "$CONFIG" --only "$2" 2>"$DIR/$1.log" &
  PIDS+=($!)
  echo $! >"$DIR/$1.pid"
}
INGEST_HTTP=$(free_port)
daemon ingest sources "$INGEST_HTTP"
daemon worker-a stages,sinks "$(free_port)"
daemon worker-b stages,sinks "$(free_port)"

echo "ingest (pid $(<"$DIR/ingest.pid")) and workers a, b (pids $(<"$DIR/worker-a.pid"), $(<"$DIR/worker-b.pid")) started"

# The ingest has passed on every line of the inbox (to raw.posts or its DLQ).
LINES=$(grep -c . "$DIR/inbox/posts.jsonl")
ingested() {
  curl -s "http://127.0.0.1:$INGEST_HTTP/metrics" | awk -v lines="$LINES" '
    /^component_sent_events_total\{component="posts",kind="source"\}/ || /^dlq_events_total\{component="posts"\}/ { n += $2 }
    END { exit !(n >= lines) }'
}
# Lag of every group of this run (-1 until each has committed something).
lags() {
  "$BIN" topics --config "$CONFIG" | awk '/^GROUP/ { groups = 1; next }
    groups && $1 ~ /^stack_demo\./ { s[$1] += $NF } END { n = 0; for (g in s) { n++; t += s[g] } print (n >= 5 ? t : -1) }'
}
wait_for_lag0() {
  local since=$SECONDS stable=0
  while ((stable < 2)); do
    if ingested && [[ $(lags) == 0 ]]; then stable=$((stable + 1)); else stable=0; fi
    ((SECONDS - since < 900)) || { echo "lag did not reach 0 within 15 minutes" >&2; exit 1; }
    sleep 2
  done
}
wait_for_lag0
echo "every group's lag is 0 after ${SECONDS}s; stopping with SIGTERM"
stop() { local pid; pid=$(<"$DIR/$1.pid"); kill -TERM "$pid"; wait "$pid" || { echo "$1 exited with $?" >&2; exit 1; }; }
stop worker-a
wait_for_lag0
stop worker-b
stop ingest
echo "stopped after ${SECONDS}s"

# The reference: the quick start (SQLite, embedded log) on the same input.
sed "s#var/demo#$DIR/quickstart#g" examples/quickstart.toml >"$DIR/quickstart.toml"
SOCIALPIPE_HTTP=127.0.0.1:0 "$BIN" run --config "$DIR/quickstart.toml" --once 2>"$DIR/quickstart.log"
echo
"$REPORT" --reference "$DIR/quickstart/socialpipe.db"
