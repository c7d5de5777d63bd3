#!/usr/bin/env bash
# tests/boot/run.sh FASTVMM GUESTDIR — runs every tests/boot/t_*.sh against real guests on this
# host's /dev/kvm and prints one closing line "N passed, N failed".
set -u
export FASTVMM=$(readlink -f "$1") GUESTS=$(readlink -f "$2")
here=$(dirname "$(readlink -f "$0")")
. "$here/../kvm_or_skip.sh" "boot tests"
pass=0 fail=0
for t in "$here"/t_*.sh; do
	echo "== $(basename "$t")"
	out=$(bash "$t" 2>&1)
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | grep -c '^ok - ')
	f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "boot: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
