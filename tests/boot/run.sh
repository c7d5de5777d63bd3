#!/usr/bin/env bash
# tests/boot/run.sh FASTVMM GUESTDIR — runs every tests/boot/t_*.sh against real guests on this
# host's /dev/kvm and prints one closing line "N passed, N failed".
set -u
export FASTVMM=$(readlink -f "$1") GUESTS=$(readlink -f "$2")
here=$(dirname "$(readlink -f "$0")")
. "$here/../kvm_or_skip.sh" "boot tests"
. "$here/../suite.sh"
run_suite boot "$here" ""
