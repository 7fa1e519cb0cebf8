#!/usr/bin/env bash
# bash deploy/local.sh N [MODEL]: N `infer-repl serve` replicas and nginx in front of them, all on loopback ports,
# nginx run as the current user under a scratch directory (no system configuration touched). Prints nginx's base
# URL on its first line once every replica is healthy, then one line per replica: `replica I URL PIDFILE`.
# A replica that exits is started again on the same port (so `kill -TERM $(cat PIDFILE)` is a rolling restart:
# it drains, then comes back). SIGINT or SIGTERM stops everything: the replicas drain (bounded), then nginx.
#
# Environment: INFER_REPL_THREADS (threads per replica, default 1), INFER_REPL_PIN=1 (replica I pinned to core
# I mod nproc with taskset), INFER_REPL_DRAIN_TIMEOUT (seconds, default 10), INFER_REPL_SERVE_ARGS (more serve
# flags, e.g. "-np 16 --api-key KEY"), INFER_REPL_BIN (the command, default this checkout's bin/infer-repl.mjs),
# NGINX (the nginx binary), NGINX_PORT (default: a free port).
set -euo pipefail
usage="usage: bash deploy/local.sh N [MODEL]   (N replicas, 1-64; MODEL default stories15M)"
n=${1:-}
[[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 64 )) || { echo "$usage" >&2; exit 2; }
model=${2:-stories15M}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${INFER_REPL_BIN:-$here/../bin/infer-repl.mjs}
threads=${INFER_REPL_THREADS:-1}
drain=${INFER_REPL_DRAIN_TIMEOUT:-10}
nginx=${NGINX:-$(PATH=$PATH:/usr/sbin:/sbin command -v nginx || true)}
[[ -n $nginx ]] || { echo "local.sh: nginx not found (Debian: apt-get install nginx; or set NGINX)" >&2; exit 2; }
read -r -a serve_args <<< "${INFER_REPL_SERVE_ARGS:-}"

run=$(mktemp -d "${TMPDIR:-/tmp}/infer-repl-deploy.XXXXXX")
# N+1 distinct free loopback ports (all held open at once, then released).
read -r -a ports <<< "$(node -e '
  const net = require("node:net"); const n = Number(process.argv[1]); const held = [];
  const next = () => { if (held.length === n) { console.log(held.map((s) => s.address().port).join(" ")); held.forEach((s) => s.close()); return; }
    const s = net.createServer().listen(0, "127.0.0.1", () => { held.push(s); next(); }); };
  next();' $((n + 1)))"
nginx_port=${NGINX_PORT:-${ports[$n]}}

stopping=0
replica_pid() { cat "$run/replica-$1.pid" 2>/dev/null || true; }

# Runs replica I on its port until the deployment stops, starting it again whenever it exits.
supervise() {
  local i=$1 port=$2 pin=()
  [[ ${INFER_REPL_PIN:-0} == 1 ]] && pin=(taskset -c $(( (i - 1) % $(nproc) )))
  while [[ ! -e $run/stopping ]]; do
    "${pin[@]}" node "$bin" serve -m "$model" --host 127.0.0.1 --port "$port" --replica-id "replica-$i" -t "$threads" \
      --metrics --drain-timeout "$drain" "${serve_args[@]}" >>"$run/replica-$i.log" 2>&1 &
    echo $! >"$run/replica-$i.pid"
    local code=0
    wait $! || code=$?
    [[ -e $run/stopping ]] && break
    echo "local.sh: replica $i exited ($code), starting it again" >&2
    sleep 0.2
  done
}

stop() {
  (( stopping )) && return
  stopping=1
  touch "$run/stopping"
  local pids=() p
  for ((i = 1; i <= n; i++)); do p=$(replica_pid "$i"); [[ -n $p ]] && pids+=("$p"); done
  # The replicas drain: nginx stops sending them requests as they refuse (503/refused) and their streams finish.
  (( ${#pids[@]} )) && kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${supervisors[@]}" 2>/dev/null || true
  [[ -n ${nginx_pid:-} ]] && { kill -QUIT "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
  rm -rf "$run"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

supervisors=()
servers=""
for ((i = 1; i <= n; i++)); do
  supervise "$i" "${ports[$((i - 1))]}" &
  supervisors+=($!)
  servers+="        server 127.0.0.1:${ports[$((i - 1))]} max_fails=1 fail_timeout=3s;"$'\n'
done

user=""
(( EUID == 0 )) && user="user $(id -un) $(id -gn);"  # root's workers would run as nobody, who cannot use $run
mkdir -p "$run"/{client_body,proxy,fastcgi,uwsgi,scgi}
servers=${servers%$'\n'}
tries=$(( n < 3 ? n : 3 ))
while IFS= read -r line; do
  case $line in
    @SERVERS@) printf '%s\n' "$servers" ;;
    *) line=${line//@RUN@/$run}; line=${line//@LISTEN@/127.0.0.1:$nginx_port}; line=${line//@USER@/$user}
       printf '%s\n' "${line//@TRIES@/$tries}" ;;
  esac
done <"$here/nginx.conf.template" >"$run/nginx.conf"
"$nginx" -t -q -p "$run" -c "$run/nginx.conf" -e "$run/error.log" >&2
"$nginx" -p "$run" -c "$run/nginx.conf" -e "$run/error.log" -g "daemon off;" &
nginx_pid=$!

# Every replica healthy (the model loaded), and nginx answering, before the URL is printed.
node -e '
  const urls = process.argv.slice(1), deadline = Date.now() + 300_000;
  const up = (u) => fetch(u).then((r) => r.status === 200, () => false);
  (async () => {
    for (const u of urls) while (!(await up(u))) {
      if (Date.now() > deadline) { console.error(`local.sh: ${u} is not healthy after 300 s`); process.exit(1); }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();' $(for ((i = 0; i < n; i++)); do echo "http://127.0.0.1:${ports[$i]}/health"; done) "http://127.0.0.1:$nginx_port/nginx-health" \
  || { for ((i = 1; i <= n; i++)); do tail -n 5 "$run/replica-$i.log" >&2; done; exit 1; }

echo "http://127.0.0.1:$nginx_port"
for ((i = 1; i <= n; i++)); do echo "replica $i http://127.0.0.1:${ports[$((i - 1))]} $run/replica-$i.pid"; done
echo "local.sh: $n replica(s) of $model behind nginx; logs in $run; Ctrl-C stops" >&2
wait "$nginx_pid"
