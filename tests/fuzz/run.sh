#!/usr/bin/env bash
# tests/fuzz/run.sh BINDIR GUESTDIR CORPUSDIR SECONDS TARGET... — for each target: replay
# every regression input in tests/fuzz/regress/TARGET/ (each crash ever found), then fuzz for
# SECONDS from the corpus (seeded by seeds.py, kept between runs) and print one line
# "fuzz TARGET: N execs (E/s), cov C, ft F, corpus K, 0 crashes". A crash is copied into
# tests/fuzz/regress/TARGET/ (commit it after the fix) and fails the run.
set -u
bin=$1 guests=$2 corpus=$3 secs=$4
shift 4
here=$(dirname "$(readlink -f "$0")")
mkdir -p "$corpus"
python3 "$here/seeds.py" "$corpus/seeds" "$guests" || exit 1
fail=0
for t in "$@"; do
	exe=$bin/fuzz_$t
	c=$corpus/$t
	art=$corpus/$t-artifacts
	mkdir -p "$c" "$art"
	cp -n "$corpus/seeds/$t"/* "$c"/ 2>/dev/null
	reg=("$here/regress/$t"/*)
	if [ -e "${reg[0]}" ]; then
		if ! "$exe" -runs=0 "${reg[@]}" >"$corpus/$t-regress.log" 2>&1; then
			echo "fuzz $t: a regression input crashes again:"
			tail -30 "$corpus/$t-regress.log"
			fail=1
			continue
		fi
	fi
	log=$corpus/$t.log
	nice -n 19 "$exe" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
		-timeout=10 -artifact_prefix="$art/" -close_fd_mask=3 "$c" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(printf '%s' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	nc=$(ls "$c" | wc -l)
	crashes=$(ls "$art" | wc -l)
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		mkdir -p "$here/regress/$t"
		cp "$art"/* "$here/regress/$t"/ 2>/dev/null
		echo "fuzz $t: FAILED (status $rc, $crashes crash input(s) copied to tests/fuzz/regress/$t/)"
		grep -m1 -A12 -E 'ERROR: (AddressSanitizer|libFuzzer)|runtime error' "$log"
		fail=1
		continue
	fi
	echo "fuzz $t: ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus $nc, 0 crashes"
done
exit $fail
