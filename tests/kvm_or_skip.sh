# tests/kvm_or_skip.sh SUITE — sourced by the suites that run guests on this host's /dev/kvm
# (tests/boot/run.sh, tests/soak/run.sh). Where the host has no usable /dev/kvm, the suite is
# skipped with one line saying why, and exits 0: some machines of this project's kind run a
# kernel that is itself a kvm-pvm guest, on which kvm-pvm does not bind and no /dev/kvm
# exists. Every guest-running behaviour is then proved by the nested harness alone
# (tests/nested: own guests, Debian's Linux, OSv and Unikraft inside L1), which make test
# always runs. FASTVMM_REQUIRE_KVM=1 turns the skip into a failure.
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	why="/dev/kvm is absent"
	[ -e /dev/kvm ] && why="/dev/kvm is not a usable character device"
	hint=$(dmesg 2>/dev/null | grep -m1 -E 'kvm(-pvm)?: .*not binding' | sed 's/^\[[^]]*\] *//')
	[ -n "$hint" ] && why="$why (kernel: $hint)"
	if [ "${FASTVMM_REQUIRE_KVM:-0}" = 1 ]; then
		echo "$1: FAILED: $why and FASTVMM_REQUIRE_KVM=1" >&2
		exit 1
	fi
	echo "$1: SKIPPED on this host: $why; the nested harness (make test-nested) runs guests instead"
	exit 0
fi
