#!/usr/bin/env bash
# bench/server.sh [BUILD] - fota-server's device API under load (wrk), next to nginx.
#
# The request is a module's check that the server answers "already the latest" (409,
# {"code":27,...}): the most frequent request a FOTA server gets (every module, every
# PERIOD). fota-server answers it from a project whose only firmware has the version the
# request names; a private nginx answers the same URL with `return 409 '<the same body>'`
# (the same status, Content-Type and body, from memory). Both on 127.0.0.1, one after the
# other, with the same wrk settings; both write an access-log line per request to a file.
# Prints requests/s and latency of both side by side and the ratio; never fails on a time,
# only when something does not work (a tool missing, the server not answering 409).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SERVER=$BUILD/bin/fota-server
FOTA=$BUILD/bin/fota
THREADS=${THREADS:-2} CONNS=${CONNS:-50} DURATION=${DURATION:-5s}
NAME=AirM2M_780E_LTE_AT VERSION=AirM2M_780E_V1147_LTE_AT IMEI=864000000000008

die() { echo "bench/server: $*" >&2; exit 1; }
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    die "$tool is missing (scripts/install-deps)"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$SERVER" ] || die "$SERVER is missing (make)"
[ -x "$FOTA" ] || die "$FOTA is missing (make)"

tmp=$(mktemp -d /tmp/fota-bench-server-XXXXXX)
server_pid='' nginx_pid=''
cleanup() {
  local pid
  for pid in $server_pid $nginx_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # URL: up to 10 s for any HTTP answer
  for _ in $(seq 200); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.05
  done
  return 1
}

# --- fota-server with a project and its firmware --------------------------------------
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
sport=$(free_port)
"$SERVER" --listen "127.0.0.1:$sport" --data "$tmp/data" --admin-token "$token" \
  2>"$tmp/server.log" &
server_pid=$!
wait_http "http://127.0.0.1:$sport/healthz" ||
  die "fota-server did not start: $(tail -5 "$tmp/server.log")"
api=(curl -sS --fail-with-body --max-time 30 -H "Authorization: Bearer $token")
key=$("${api[@]}" -H 'Content-Type: application/json' -d '{"name":"bench"}' \
  "http://127.0.0.1:$sport/api/v1/projects" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])') ||
  die "could not create a project"
head -c 200000 /dev/urandom >"$tmp/payload"
"$FOTA" pack --name "$NAME" --version "$VERSION" -o "$tmp/fw.fota" "$tmp/payload" >/dev/null
"${api[@]}" -o /dev/null -H 'Content-Type: application/octet-stream' \
  --data-binary "@$tmp/fw.fota" \
  "http://127.0.0.1:$sport/api/v1/projects/$key/firmware?name=$NAME&version=$VERSION" ||
  die "could not upload the firmware"
path="/api/site/firmware_upgrade?project_key=$key&imei=$IMEI&firmware_name=$NAME&version=$VERSION"
status=$(curl -s -o "$tmp/body" -w '%{http_code}' "http://127.0.0.1:$sport$path")
[ "$status" = 409 ] || die "fota-server answered $status, not 409: $(head -c 300 "$tmp/body")"
grep -Eq '"code": *27[,}]' "$tmp/body" || die "not code 27: $(head -c 300 "$tmp/body")"

# --- nginx answering the same URL with the same 409 and body ---------------------------
body=$(cat "$tmp/body")
case $body in *"'"*|*'\\'*) die "the body has a quote or a double backslash: $body" ;; esac
nport=$(free_port)
mkdir -p "$tmp/nginx"
user=''
[ "$(id -u)" -eq 0 ] && user="user $(id -un);"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nport;
        location = /api/site/firmware_upgrade {
            default_type application/json;
            return 409 '$body';
        }
    }
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" 2>"$tmp/nginx/stderr" &
nginx_pid=$!
wait_http "http://127.0.0.1:$nport/" || die "nginx did not start: $(cat "$tmp/nginx/stderr")"
nstatus=$(curl -s -o "$tmp/nbody" -w '%{http_code}' "http://127.0.0.1:$nport$path")
[ "$nstatus" = 409 ] && cmp -s "$tmp/body" "$tmp/nbody" ||
  die "nginx does not answer as fota-server: $nstatus $(cat "$tmp/nbody")"

# --- the load: the same wrk run against each --------------------------------------------
run_wrk() { # NAME PORT
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2$path" \
    >"$tmp/wrk.$1" 2>&1 || die "wrk failed against $1: $(cat "$tmp/wrk.$1")"
}
field() { # NAME REGEX: the first field after the matching line's label
  awk -v re="$2" '$0 ~ re { print $2; exit }' "$tmp/wrk.$1"
}
echo "wrk -t$THREADS -c$CONNS -d$DURATION on 127.0.0.1: GET $path"
echo "  (answer: 409, $(wc -c <"$tmp/body") bytes of JSON, code 27; nginx: worker_processes 1)"
run_wrk fota-server "$sport"
run_wrk nginx "$nport"
rps_fota_server=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.fota-server")
rps_nginx=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.nginx")
printf '\n%-24s %14s %14s\n' "" "fota-server" "nginx"
printf '%-24s %14s %14s\n' "requests/s" "$rps_fota_server" "$rps_nginx"
printf '%-24s %14s %14s\n' "latency avg" "$(field fota-server '^ +Latency')" "$(field nginx '^ +Latency')"
printf '%-24s %14s %14s\n' "latency p50" "$(field fota-server '^ +50%')" "$(field nginx '^ +50%')"
printf '%-24s %14s %14s\n' "latency p99" "$(field fota-server '^ +99%')" "$(field nginx '^ +99%')"
for n in fota-server nginx; do
  total=$(awk '/requests in/ { print $1; exit }' "$tmp/wrk.$n")
  non2xx=$(awk '/Non-2xx/ { print $NF; exit }' "$tmp/wrk.$n")
  errs=$(grep -h 'Socket errors' "$tmp/wrk.$n" || true)
  printf '%-24s %14s %s\n' "$n answers" "${total:-?}" "requests, ${non2xx:-0} of them 409${errs:+; $errs}"
done
/usr/bin/python3 - "$rps_fota_server" "$rps_nginx" <<'EOF'
import sys
s, n = (float(x) for x in sys.argv[1:3])
print("\nratio fota-server/nginx: %.2f (aim: 0.5 or more)" % (s / n if n else 0.0))
EOF
