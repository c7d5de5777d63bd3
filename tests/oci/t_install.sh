#!/usr/bin/env bash
# tests/oci/t_install.sh — `make install` into a scratch PREFIX (and a DESTDIR staging) gives
# a working installation: fastvmm with no --kernel finds the bundled guest under
# PREFIX/share, fastvmm-oci is installed beside it and runs a bundle, the man page is there.
set -u
. "$(dirname "$(readlink -f "$0")")/lib.sh"
repo=$(readlink -f "$here/../..")
B=$(readlink -f "$(dirname "$FASTVMM")")
make -s -C "$repo" B="$B" install PREFIX="$TMP/opt/x" >"$TMP/install.out" 2>&1 || not_ok "make install PREFIX" "$TMP/install.out"
# default_guest NAME BIN : BIN with no --kernel finds the installed guest: it boots (KVM), or
# (no /dev/kvm) its --json report names the guest under the prefix, parsed, and the stage
# that failed is kvm_open — not a missing kernel file.
default_guest() {
	RC=0
	timeout 30 "$2" --json >"$TMP/$1.out" 2>"$TMP/$1.err" </dev/null || RC=$?
	OUT=$TMP/$1.out ERR=$TMP/$1.err
	if [ "$HAVE_KVM" = 1 ]; then
		expect_rc "$1, no --kernel" 0
		expect_out "$1, no --kernel" '^Hello from fastvmm guest'
	else
		expect_out "$1, no --kernel: the installed guest" "\"kernel\":\"$3/share/fastvmm/guests/hello.elf\",\"format\":\"elf64-linux\""
		expect_out "$1, no --kernel: fails only at /dev/kvm" '"failed_stage":"kvm_open"'
	fi
}
default_guest "PREFIX install" "$TMP/opt/x/bin/fastvmm" "$TMP/opt/x/bin/\.\."
if [ -L "$TMP/opt/x/bin/fastvmm-oci" ] && [ -f "$TMP/opt/x/share/man/man1/fastvmm.1" ]; then
	ok "PREFIX install: fastvmm-oci and the man page"
else
	not_ok "PREFIX install: $(find "$TMP/opt" | tr '\n' ' ')"
fi
OCI=$TMP/opt/x/bin/fastvmm-oci
if [ "$HAVE_KVM" = 1 ]; then
	bundle "$TMP/b" "$(cfg '["/hello.elf"]')" "$GUESTS/hello.elf"
	reap installed-oci "$OCI --root $ROOT create --bundle $TMP/b i1 && $OCI --root $ROOT start i1 && $OCI --root $ROOT delete --force i1"
	expect_out "installed fastvmm-oci" '^Hello from fastvmm guest'
	expect_status "installed fastvmm-oci" 0
else # a pod sandbox: the whole lifecycle through the installed name, no guest needed
	bundle "$TMP/b" "$(cfg '["/pause"]' '"annotations":{"io.kubernetes.cri.container-type":"sandbox"}')"
	reap installed-oci "$OCI --root $ROOT create --bundle $TMP/b i1 && $OCI --root $ROOT start i1 && $OCI --root $ROOT state i1 && $OCI --root $ROOT kill i1 TERM"
	expect_out "installed fastvmm-oci" '"status": "running"'
	expect_status "installed fastvmm-oci" 0
	oci installed-oci-del delete i1
	expect_empty_root installed-oci-del
fi
# A package build: staged under DESTDIR, then used from there (relative lookup).
make -s -C "$repo" B="$B" install PREFIX=/usr DESTDIR="$TMP/stage" >"$TMP/stage.out" 2>&1 || not_ok "make install DESTDIR" "$TMP/stage.out"
default_guest "DESTDIR install" "$TMP/stage/usr/bin/fastvmm" "$TMP/stage/usr/bin/\.\."
RC=0
"$TMP/stage/usr/bin/fastvmm-oci" --version >"$TMP/v.out" 2>&1 || RC=$?
OUT=$TMP/v.out
expect_out "DESTDIR fastvmm-oci --version" '^fastvmm-oci version'
finish
