# tests/boot/lib.sh — helpers for boot tests: run fastvmm against real guests on /dev/kvm and
# assert on what the guest did (console output, exit status). Sourced by tests/boot/t_*.sh.
# Each check prints "ok - NAME" or "not ok - NAME" (with the evidence) and counts.
: "${FASTVMM:?}" "${GUESTS:?}"
PASS=0
FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fastvmm-boot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# capture NAME CMD... : CMD with a hard timeout and no stdin; sets $OUT (stdout), $ERR
# (stderr), $RC. The form every suite's runner takes (tests/oci/lib.sh too).
capture() {
	local name=$1
	shift
	OUT=$TMP/$name.out
	ERR=$TMP/$name.err
	RC=0
	timeout -k 5 "${BOOT_TEST_TIMEOUT:-60}" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}

# run NAME ARGS... : fastvmm ARGS under capture.
run() {
	local name=$1
	shift
	capture "$name" "$FASTVMM" "$@"
}

ok() {
	PASS=$((PASS + 1))
	echo "ok - $1"
}

not_ok() {
	FAIL=$((FAIL + 1))
	echo "not ok - $1"
	shift
	for f in "$@"; do
		[ -f "$f" ] && sed 's/^/#   /' "$f" | head -40
	done
}

# expect_rc NAME WANT : the last run's exit status.
expect_rc() {
	if [ "$RC" -eq "$2" ]; then ok "$1: exit status $2"; else not_ok "$1: exit status $RC, want $2" "$OUT" "$ERR"; fi
}

# expect_out NAME REGEX [FILE] : a line of the last run's stdout (or FILE) matches.
expect_out() {
	local f=${3:-$OUT}
	if grep -qE -- "$2" "$f"; then ok "$1: output has /$2/"; else not_ok "$1: output lacks /$2/" "$OUT" "$ERR"; fi
}

expect_err() {
	expect_out "$1" "$2" "$ERR"
}

# expect_lines NAME N FILE : FILE has exactly N lines.
expect_lines() {
	local n
	n=$(wc -l <"$3")
	if [ "$n" -eq "$2" ]; then ok "$1: $2 line(s)"; else not_ok "$1: $n line(s), want $2" "$3"; fi
}

# skip NAME WHY : a check that cannot run here, named, never silent.
skip() {
	echo "# skip - $1: $2"
}

# now_ms : milliseconds since boot (/proc/uptime: busybox date has no %N).
now_ms() {
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime
}

# wait_lines N REGEX FILE : up to 10 s until FILE has N lines matching REGEX (guests that say
# they are up); the caller checks the count itself where it matters.
wait_lines() {
	for _ in $(seq 100); do
		[ "$(grep -cE -- "$2" "$3" 2>/dev/null)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# children_of PID : the pids whose parent is PID, one a line (busybox has no pgrep).
children_of() {
	grep -s -H '^PPid:' /proc/[0-9]*/status | awk -v p="$1" '$2 == p { split($1, a, "/"); print a[3] }'
}

# proc_state PID : the state letter of PID (R, S, Z...), empty once it is gone (busybox ps
# has no -p).
proc_state() {
	sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null
}

# wait_gone PIDS [TENTHS] : up to TENTHS x 0.1 s (default 50) until none of PIDS is alive (a
# zombie counts as gone); ALIVE then lists those still alive as " PID(STATE)".
wait_gone() {
	for _ in $(seq "${2:-50}"); do
		ALIVE=""
		for p in $1; do
			s=$(proc_state "$p")
			case "$s" in "" | Z*) ;; *) ALIVE="$ALIVE $p($s)" ;; esac
		done
		[ -z "$ALIVE" ] && return 0
		sleep 0.1
	done
	return 1
}

finish() {
	echo "# $(basename "$0"): $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
