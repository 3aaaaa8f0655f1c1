#!/usr/bin/env bash
# fuzz/run.sh TARGET... - runs each libFuzzer target of build/fuzz for FUZZ_SECONDS seconds
# on build/fuzz/corpus-TARGET (created from fuzz/corpus/TARGET, kept between runs), with
# the target's -max_len and dictionary. Logs: build/fuzz/log-TARGET.txt; crash inputs:
# build/fuzz/artifacts/TARGET-*. Prints executions per target; exit status 1 if any
# target crashed (or failed to run). FUZZ_JOBS targets run at once (default 1).
set -u
cd "$(dirname "$0")/.."
out=${FUZZ_OUT:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
extra=${FUZZ_ARGS:-}
# ASan's default 256 MB quarantine of freed memory makes every allocation touch new pages:
# fuzz_srv_req (SQLite allocates much per request) ran 1.7x slower with it. 16 MB still
# holds far more than one input frees, so a use after free within an input is caught.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}

# Longest input per target: past every limit of the parser (AT line 288, URL 255, HTTP
# header block 8192, image header 512 + trailer 4096, NV area 2048 + its op script,
# boot: journal 1536 + R 1024 + S 1280; server requests: past the 8192 bytes of a request
# head with a body; the server's parsers: past the 2048-byte query and 1024-byte path).
max_len() {
	case $1 in
	fuzz_at) echo 2048 ;;
	fuzz_http) echo 12288 ;;
	fuzz_url) echo 512 ;;
	fuzz_image) echo 8192 ;;
	fuzz_json) echo 2048 ;;
	fuzz_nv) echo 4096 ;;
	fuzz_boot) echo 3900 ;;
	fuzz_srv_req) echo 16384 ;;
	fuzz_srv_parse) echo 4096 ;;
	*) echo 4096 ;;
	esac
}

run_one() { # $1 = target; writes $out/result-$1 = "rc execs exec/s"
	local t=$1 corpus=$out/corpus-$1 log=$out/log-$1.txt dict=() rc execs rate
	mkdir -p "$corpus" "$out/artifacts"
	[ -d "fuzz/corpus/$t" ] && cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null
	[ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
	# shellcheck disable=SC2086
	"$out/$t" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
		"${dict[@]}" $extra "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	echo "$rc ${execs:-?} ${rate:-?}" >"$out/result-$t"
}

mkdir -p "$out"
running=0
for t in "$@"; do
	[ -x "$out/$t" ] || { echo "fuzz: $out/$t is not built" >&2; exit 1; }
	echo "  FUZZ	$t (${secs}s)"
	if [ "$jobs" -gt 1 ]; then
		run_one "$t" &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
	else
		run_one "$t"
	fi
done
wait

bad=0 details=""
printf '%-14s %14s %10s  %s\n' target executions exec/s result
for t in "$@"; do
	read -r rc execs rate <"$out/result-$t"
	if [ "$rc" -eq 0 ]; then
		res=ok
	else
		bad=1
		art=$(sed -n 's/.*Test unit written to //p' "$out/log-$t.txt" | tail -n 1)
		res="FAILED (exit $rc): ${art:-see $out/log-$t.txt}"
		details+="== $t ($out/log-$t.txt)"$'\n'
		details+=$(grep -m 4 -E 'ERROR: |runtime error|SUMMARY|fuzz check failed' "$out/log-$t.txt")$'\n'
	fi
	printf '%-14s %14s %10s  %s\n' "$t" "$execs" "$rate" "$res"
done
[ -n "$details" ] && printf '%s' "$details"
exit $bad
