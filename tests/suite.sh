# tests/suite.sh — sourced by a suite's run.sh (tests/boot, tests/oci): run_suite LABEL DIR
# [REGEX] runs every DIR/t_*.sh (whose name matches REGEX), prints their output, counts the
# "ok - " and "not ok - " lines and ends with one line "LABEL: N passed, N failed"; its
# status is 0 only if nothing failed and something passed.
run_suite() {
	local label=$1 dir=$2 only=${3:-.} t out p f pass=0 fail=0
	for t in "$dir"/t_*.sh; do
		[[ $(basename "$t") =~ $only ]] || continue
		echo "== $(basename "$t")"
		out=$(bash "$t" 2>&1)
		printf '%s\n' "$out"
		p=$(printf '%s\n' "$out" | grep -c '^ok - ')
		f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
		pass=$((pass + p))
		fail=$((fail + f))
	done
	echo "$label: $pass passed, $fail failed"
	[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}
