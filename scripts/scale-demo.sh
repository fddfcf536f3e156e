#!/usr/bin/env bash
# Scale-out on Kafka, end to end: produce generated posts, run two workers in
# one consumer group, kill -9 one mid-stream and start it again, wait until
# the group has consumed everything, then count. The last line is
#   input=N unique=U sink_rows=R sink_unique=S redelivered=X lost=L duplicates=D
# and the exit status is 0 only when nothing was lost or duplicated.
#
#   scripts/scale-demo.sh path/to/socialpipe      (SCALE_DEMO_POSTS=200000 by default)
#
# The broker is a fresh tansu of its own: the memory build by default,
# since tansu 0.6's SQLite storage cannot serve a backlog of this size
# (a fetch rescans the partition's whole tail; group sessions time out).
# The demo never restarts the broker, so keeping nothing across restarts
# does not matter here; broker crashes are the tests' part, on SQLite
# storage. SCALE_DEMO_BROKER=sqlite uses tansu-SQLite (a few thousand posts
# at most); KAFKA_BROKERS=host:port uses a broker you run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: scale-demo.sh path/to/socialpipe}
POSTS=${SCALE_DEMO_POSTS:-200000}
RUN=demo$(date +%s)
DIR=var/scale-demo/$RUN
DB=$DIR/socialpipe.db
mkdir -p "$DIR/broker"
PIDS=()
trap 'kill ${PIDS[@]+"${PIDS[@]}"} 2>/dev/null || true' EXIT

# A broker of its own (tansu, fresh store) unless KAFKA_BROKERS names one.
if [[ -z ${KAFKA_BROKERS:-} ]]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  case ${SCALE_DEMO_BROKER:-memory} in
    memory) TANSU=$(scripts/services.sh which kafka-bench) STORAGE=memory://tansu/ ;;
    sqlite) TANSU=$(scripts/services.sh which kafka) STORAGE=sqlite://tansu.db ;;
    *) echo "SCALE_DEMO_BROKER is memory or sqlite" >&2; exit 2 ;;
  esac
  echo "broker: tansu ($STORAGE) on 127.0.0.1:$PORT"
  (cd "$DIR/broker" && exec "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" --storage-engine "$STORAGE" >broker.log 2>&1) &
  PIDS+=($!)
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done
  KAFKA_BROKERS=127.0.0.1:$PORT
fi
BROKERS=$KAFKA_BROKERS

# A topology of its own (topics and groups named after the run), so runs never mix.
cat >"$DIR/kafka.toml" <<EOF
[transport]
type = "kafka"
brokers = "$BROKERS"
group_id = "$RUN"
replication_factor = 1
session_timeout_ms = 6000
heartbeat_interval_ms = 1000
max_poll_interval_ms = 30000

[topics]
partitions = 6
raw_posts = "$RUN.raw"
enriched_posts = "$RUN.enriched"
kol_scores = "$RUN.kol_scores"
dlq_prefix = "$RUN.dlq."

[http]
listen = "127.0.0.1:\${WORKER_HTTP:-0}"

[[stages]]
type = "entities"

# Keyed state (each author's window) that moves with the partitions.
[[stages]]
type = "kol"

[sinks.db]
type = "sqlite"
path = "$DB"
EOF

query() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute(sys.argv[2]).fetchone()[0])' "$DB" "$1" 2>/dev/null || echo 0; }

echo "generating and producing $POSTS posts to $RUN.raw"
"$BIN" generate --count "$POSTS" --seed 7 >"$DIR/posts.jsonl"
"$BIN" produce --config "$DIR/kafka.toml" "$RUN.raw" <"$DIR/posts.jsonl"
UNIQUE=$(python3 -c 'import json,sys; print(len({(p["platform"], p["id"]) for p in map(json.loads, open(sys.argv[1]))}))' "$DIR/posts.jsonl")

worker() { WORKER_HTTP=0 "$BIN" run --config "$DIR/kafka.toml" --only stages,sinks >/dev/null 2>>"$DIR/worker-$1.log" & echo $!; }
A=$(worker a)
B=$(worker b)
PIDS+=("$A" "$B")

until (($(query 'SELECT count(*) FROM posts') * 10 >= UNIQUE)); do sleep 0.2; done
kill -9 "$A"
AT_KILL=$(query 'SELECT count(*) FROM posts')
echo "killed worker a (pid $A) at $AT_KILL of $UNIQUE posts stored ($((AT_KILL * 100 / UNIQUE)) %)"
((AT_KILL * 10 <= UNIQUE * 9)) || { echo "the kill came after 90 %; use more posts" >&2; exit 1; }
A=$(worker a)
PIDS+=("$A")
echo "started worker a again (pid $A)"

# Done when both groups have committed everything.
lag() { "$BIN" topics --config "$DIR/kafka.toml" | awk -v g="$1" '$1 == g { s += $NF; n++ } END { print (n ? s : -1) }'; }
until [[ $(lag "$RUN.stages") == 0 && $(lag "$RUN.sink.db") == 0 ]]; do sleep 1; done
kill "$A" "$B"
wait "$A" "$B" 2>/dev/null || true

ROWS=$(query 'SELECT count(*) FROM posts')
SINK_UNIQUE=$(query 'SELECT count(DISTINCT id) FROM posts')
WRITES=$(query 'SELECT coalesce(sum(deliveries), 0) FROM posts')
LOST=$((UNIQUE - SINK_UNIQUE))
DUPLICATES=$((ROWS - SINK_UNIQUE))
echo "input=$POSTS unique=$UNIQUE sink_rows=$ROWS sink_unique=$SINK_UNIQUE redelivered=$((WRITES - SINK_UNIQUE)) lost=$LOST duplicates=$DUPLICATES"
((LOST == 0 && DUPLICATES == 0))
