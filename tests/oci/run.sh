#!/usr/bin/env bash
# tests/oci/run.sh FASTVMM GUESTDIR — the OCI runtime's tests (tests/oci/t_*.sh): the CLI
# alone, containerd + ctr, podman, make install. OCI_ONLY=REGEX runs only matching scripts.
# Prints one closing line "oci: N passed, N failed".
set -u
export FASTVMM=$(readlink -f "$1") GUESTS=$(readlink -f "$2")
here=$(dirname "$(readlink -f "$0")")
if [ ! -c /dev/kvm ] && [ "${FASTVMM_REQUIRE_KVM:-0}" = 1 ]; then
	echo "oci tests: FAILED: /dev/kvm is absent and FASTVMM_REQUIRE_KVM=1" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "oci tests: need root (containerd, podman and cgroups); skipped"
	exit 0
fi
. "$here/../suite.sh"
run_suite oci "$here" "${OCI_ONLY:-.}"
