#!/usr/bin/env bash
# tests/coverage.sh - line coverage of the core (src/core) by the unit tests.
#
# Builds every tests/unit/test_*.c with the core sources compiled by gcc --coverage into
# build/coverage/ (the POSIX port and the test helpers are built plainly: only the core
# is measured), runs them from the top of the tree, then prints gcovr's line-coverage
# table of src/core (per file and total) and writes an HTML report with the lines
# marked to build/coverage/html/index.html.
#
#   tests/coverage.sh            all the unit tests
#   tests/coverage.sh nv url     only test_nv and test_url
#
# Environment: CC (default gcc), GCOV (default gcov, must match CC), COVERAGE_OUT
# (default build/coverage), COVERAGE_HTML=0 to skip the HTML report.
# Needs gcc, gcovr (Debian package gcovr), libcmocka-dev, libmbedtls-dev.
# Exit status: 0 if every test passed, 1 if one failed or did not build (the report is
# printed anyway), 2 if gcovr is missing.
set -u
cd "$(dirname "$0")/.."

CC=${CC:-gcc}
GCOV=${GCOV:-gcov}
OUT=${COVERAGE_OUT:-build/coverage}
HTML=${COVERAGE_HTML:-1}
JOBS=$(nproc 2>/dev/null || echo 2)

if ! command -v gcovr >/dev/null; then
	echo "coverage: gcovr is not installed (Debian package gcovr)" >&2
	exit 2
fi

# The flags of the top-level Makefile, -O0 so that lines map to code one to one.
WARN="-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith \
-Wcast-align -Wwrite-strings -Wundef -Wformat=2 -Wvla"
CORE_CFLAGS="-std=c99 -pedantic $WARN -Wconversion -Wno-sign-conversion -O0 -g --coverage"
PROG_CFLAGS="-std=c11 $WARN -O0 -g"
LDLIBS="-lmbedtls -lmbedx509 -lmbedcrypto -lanl -lcmocka"

if [ $# -gt 0 ]; then
	tests=()
	for t in "$@"; do tests+=("tests/unit/test_${t#test_}.c"); done
else
	tests=(tests/unit/test_*.c)
fi

# Fresh objects and counters every run: stale .gcda files would add old runs' counts.
rm -rf "$OUT"
mkdir -p "$OUT/obj" "$OUT/bin"

compile() { # $1 = source, $2 = flags; object path mirrors the source path
	local o="$OUT/obj/${1%.c}.o"
	mkdir -p "$(dirname "$o")"
	# shellcheck disable=SC2086
	"$CC" -Iinclude $2 -c "$1" -o "$o" || { echo "coverage: cannot compile $1" >&2; return 1; }
}
export -f compile
export CC OUT

# The tests' helpers (fake server, flaky flash): every tests/unit/*.c but the tests.
helpers=()
for f in tests/unit/*.c; do
	case $f in tests/unit/test_*) ;; *) helpers+=("$f") ;; esac
done

fail=0
echo "coverage: building into $OUT"
{
	for f in src/core/*.c; do printf '%s\0%s\0' "$f" "$CORE_CFLAGS"; done
	for f in src/port/posix/*.c "${helpers[@]}" "${tests[@]}"; do
		[ -f "$f" ] && printf '%s\0%s\0' "$f" "$PROG_CFLAGS"
	done
} | xargs -0 -n 2 -P "$JOBS" bash -c 'compile "$0" "$1"' || fail=1

# The core as objects (every file is in every test, so each shows in the report); the
# port as an archive, as the Makefile links it (test_net_posix includes net_posix.c).
core_obj=("$OUT"/obj/src/core/*.o)
ar rcs "$OUT/libfota-posix.a" "$OUT"/obj/src/port/posix/*.o || fail=1
port_obj=("$OUT/libfota-posix.a")
helper_obj=()
for f in "${helpers[@]}"; do
	o="$OUT/obj/${f%.c}.o"
	[ -f "$o" ] && helper_obj+=("$o")
done

passed=0 failed=0 results=()
for src in "${tests[@]}"; do
	name=$(basename "$src" .c)
	obj="$OUT/obj/tests/unit/$name.o"
	bin="$OUT/bin/$name"
	# shellcheck disable=SC2086
	if [ ! -f "$obj" ] || ! "$CC" --coverage "$obj" "${helper_obj[@]}" "${core_obj[@]}" \
		"${port_obj[@]}" $LDLIBS -o "$bin"; then
		results+=("$(printf '%-22s did not build' "$name")")
		failed=$((failed + 1))
		continue
	fi
	log="$OUT/$name.log"
	"$bin" >"$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
	p=${p:-0} f=${f:-0}
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	results+=("$(printf '%-22s %3d passed, %d failed%s' "$name" "$p" "$f" \
		"$([ "$f" -ne 0 ] && echo "  (see $log)")")")
done
printf '%s\n' "${results[@]}"
echo "unit tests: $passed passed, $failed failed"
[ "$failed" -ne 0 ] && fail=1

# The report: lines of src/core only (the headers' inline helpers are not counted).
# Only this run's counters: gcovr would otherwise search the whole tree and merge those
# of other build folders (another COVERAGE_OUT) with this one's.
gcovr_args=(--root . --object-directory "$OUT/obj" --gcov-executable "$GCOV"
	--filter 'src/core/' --exclude-unreachable-branches "$OUT/obj")
echo
gcovr "${gcovr_args[@]}" || fail=1
if [ "$HTML" != 0 ]; then
	mkdir -p "$OUT/html"
	gcovr "${gcovr_args[@]}" --html-details "$OUT/html/index.html" >/dev/null &&
		echo "coverage: HTML report in $OUT/html/index.html"
fi
exit $fail
