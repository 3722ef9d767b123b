#!/usr/bin/env bash
# Start and stop private redis-server and clickhouse-server processes for KATO's
# distributed backend (tests, local development). No system service is used: the
# servers run as the current user, listen on free 127.0.0.1 ports, and keep all
# their files (config, data, logs, pid files) in one run directory.
#
#   scripts/services.sh start DIR        install if missing, start both, wait, write DIR/env.sh
#   scripts/services.sh stop DIR         stop both (waits until the processes have exited)
#   scripts/services.sh start-one DIR redis|clickhouse   restart one on its recorded port
#   scripts/services.sh stop-one DIR redis|clickhouse    stop one (data is kept)
#   scripts/services.sh install          only install the Debian packages if missing
#
# DIR/env.sh exports REDIS_URL, CLICKHOUSE_HOST, CLICKHOUSE_PORT (and KATO_STORAGE);
# `source DIR/env.sh` before running the service or the tests against these servers.
set -euo pipefail

CLICKHOUSE_BIN=${CLICKHOUSE_BIN:-/usr/sbin/clickhouse-server}
REDIS_BIN=${REDIS_BIN:-/usr/bin/redis-server}
WAIT_SECONDS=${KATO_SERVICES_WAIT:-60}

die() { echo "services.sh: $*" >&2; exit 1; }

install_packages() {
  local missing=()
  [ -x "$REDIS_BIN" ] || missing+=(redis-server)
  [ -x "$CLICKHOUSE_BIN" ] || missing+=(clickhouse-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} yourself"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # A fresh machine may not have package lists yet: update only when needed.
  local pkg
  for pkg in "${missing[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      $sudo apt-get update -o DPkg::Lock::Timeout=600
      break
    fi
  done
  # A temporary policy-rc.d keeps the packages from starting system services
  # (we run our own processes); an existing policy is left as it is.
  local policy=/usr/sbin/policy-rc.d own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y \
    -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" || status=$?
  [ -n "$own_policy" ] && $sudo rm -f "$policy"
  return "$status"
}

free_port() {
  local py
  py=$(command -v python3 || command -v python) || die "python3 is needed to pick free ports"
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() {  # port_open PORT -> 0 when something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_redis_conf() {
  local dir=$1 port=$2
  mkdir -p "$dir/redis"
  cat >"$dir/redis/redis.conf" <<EOF
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $dir/redis/redis.pid
logfile $dir/redis/redis.log
dir $dir/redis
save ""
appendonly yes
appendfsync always
appendfilename "appendonly.aof"
EOF
}

write_clickhouse_conf() {
  local dir=$1 tcp_port=$2 http_port=$3
  local ch="$dir/clickhouse"
  mkdir -p "$ch/data" "$ch/tmp" "$ch/user_files" "$ch/format_schemas" "$ch/log"
  cat >"$ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$ch/log/clickhouse-server.log</log>
        <errorlog>$ch/log/clickhouse-server.err.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$tcp_port</tcp_port>
    <http_port>$http_port</http_port>
    <path>$ch/data/</path>
    <tmp_path>$ch/tmp/</tmp_path>
    <user_files_path>$ch/user_files/</user_files_path>
    <format_schema_path>$ch/format_schemas/</format_schema_path>
    <users_config>$ch/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <timezone>UTC</timezone>
    <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
</yandex>
EOF
  cat >"$ch/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

wait_port() {  # wait_port NAME PORT PIDFILE
  local name=$1 port=$2 pidfile=$3 i
  for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
    if port_open "$port"; then return 0; fi
    if [ -f "$pidfile" ] && ! alive "$(cat "$pidfile")"; then
      die "$name exited during startup (see its log in the run directory)"
    fi
    sleep 0.1
  done
  die "$name did not answer on 127.0.0.1:$port within ${WAIT_SECONDS}s"
}

running() {  # running PIDFILE: the recorded process is alive (start is then a no-op)
  [ -f "$1" ] && alive "$(cat "$1")"
}

start_redis() {
  local dir=$1 port
  port=$(cat "$dir/redis/port")
  running "$dir/redis/redis.pid" && return 0
  "$REDIS_BIN" "$dir/redis/redis.conf"
  wait_port redis "$port" "$dir/redis/redis.pid"
  local i
  for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
    # Loading the append-only file: PING answers LOADING until the data is back.
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.1
  done
  die "redis did not answer PING"
}

start_clickhouse() {
  local dir=$1 port ch="$1/clickhouse"
  port=$(cat "$ch/port")
  running "$ch/clickhouse.pid" && return 0
  # The server stays in the foreground of a detached subshell; its pid is ours to stop.
  (cd "$ch" && exec setsid "$CLICKHOUSE_BIN" --config-file="$ch/config.xml" \
    >>"$ch/log/stdout.log" 2>&1 </dev/null) &
  echo $! >"$ch/clickhouse.pid"
  wait_port clickhouse "$port" "$ch/clickhouse.pid"
}

alive() {  # alive PID: running (a zombie nobody reaped yet counts as gone)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != "Z" ]
}

stop_pid() {  # stop_pid PIDFILE: SIGTERM, wait, then SIGKILL
  local pidfile=$1 pid i
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

stop_redis() {
  local dir=$1 port
  port=$(cat "$dir/redis/port" 2>/dev/null || true)
  # SHUTDOWN flushes the append-only file before exiting.
  [ -n "$port" ] && redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || true
  stop_pid "$dir/redis/redis.pid"
}

stop_clickhouse() { stop_pid "$1/clickhouse/clickhouse.pid"; }

write_env() {
  local dir=$1
  cat >"$dir/env.sh" <<EOF
export KATO_STORAGE=distributed
export REDIS_URL=redis://127.0.0.1:$(cat "$dir/redis/port")/0
export CLICKHOUSE_HOST=127.0.0.1
export CLICKHOUSE_PORT=$(cat "$dir/clickhouse/port")
EOF
}

cmd=${1:-}
case "$cmd" in
  install)
    install_packages
    ;;
  start)
    [ $# -ge 2 ] || die "usage: $0 start DIR"
    dir=$(mkdir -p "$2" && cd "$2" && pwd)
    install_packages
    if [ ! -f "$dir/redis/port" ]; then
      write_redis_conf "$dir" "$(free_port)"
      grep -Po '^port \K\d+' "$dir/redis/redis.conf" >"$dir/redis/port"
    fi
    if [ ! -f "$dir/clickhouse/port" ]; then
      tcp=$(free_port)
      http=$(free_port)
      while [ "$http" = "$tcp" ]; do http=$(free_port); done
      write_clickhouse_conf "$dir" "$tcp" "$http"
      echo "$tcp" >"$dir/clickhouse/port"
    fi
    start_redis "$dir"
    start_clickhouse "$dir"
    write_env "$dir"
    cat "$dir/env.sh"
    ;;
  stop)
    [ $# -ge 2 ] || die "usage: $0 stop DIR"
    [ -d "$2" ] || exit 0
    stop_redis "$2"
    stop_clickhouse "$2"
    ;;
  start-one | stop-one)
    [ $# -ge 3 ] || die "usage: $0 $cmd DIR redis|clickhouse"
    case "$3" in
      redis | clickhouse) "${cmd%-one}_$3" "$(cd "$2" && pwd)" ;;
      *) die "unknown server: $3" ;;
    esac
    ;;
  *)
    die "usage: $0 start|stop DIR | start-one|stop-one DIR redis|clickhouse | install"
    ;;
esac
