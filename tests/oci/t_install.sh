#!/usr/bin/env bash
# tests/oci/t_install.sh — `make install` into a scratch PREFIX (and a DESTDIR staging) gives
# a working installation: fastvmm with no --kernel finds the bundled guest under
# PREFIX/share, fastvmm-oci is installed beside it and runs a bundle, the man page is there.
set -u
. "$(dirname "$(readlink -f "$0")")/lib.sh"
repo=$(readlink -f "$here/../..")
B=$(readlink -f "$(dirname "$FASTVMM")")
make -s -C "$repo" B="$B" install PREFIX="$TMP/opt/x" >"$TMP/install.out" 2>&1 || not_ok "make install PREFIX" "$TMP/install.out"
RC=0
timeout 30 "$TMP/opt/x/bin/fastvmm" >"$TMP/p.out" 2>"$TMP/p.err" </dev/null || RC=$?
OUT=$TMP/p.out ERR=$TMP/p.err
expect_rc "PREFIX install, no --kernel" 0
expect_out "PREFIX install, no --kernel" '^Hello from fastvmm guest'
if [ -L "$TMP/opt/x/bin/fastvmm-oci" ] && [ -f "$TMP/opt/x/share/man/man1/fastvmm.1" ]; then
	ok "PREFIX install: fastvmm-oci and the man page"
else
	not_ok "PREFIX install: $(find "$TMP/opt" | tr '\n' ' ')"
fi
OCI=$TMP/opt/x/bin/fastvmm-oci
bundle "$TMP/b" "$(cfg '["/hello.elf"]')" "$GUESTS/hello.elf"
reap installed-oci "$OCI --root $ROOT create --bundle $TMP/b i1 && $OCI --root $ROOT start i1 && $OCI --root $ROOT delete --force i1"
expect_out "installed fastvmm-oci" '^Hello from fastvmm guest'
expect_status "installed fastvmm-oci" 0
# A package build: staged under DESTDIR, then used from there (relative lookup).
make -s -C "$repo" B="$B" install PREFIX=/usr DESTDIR="$TMP/stage" >"$TMP/stage.out" 2>&1 || not_ok "make install DESTDIR" "$TMP/stage.out"
RC=0
timeout 30 "$TMP/stage/usr/bin/fastvmm" >"$TMP/s.out" 2>"$TMP/s.err" </dev/null || RC=$?
OUT=$TMP/s.out ERR=$TMP/s.err
expect_rc "DESTDIR install, no --kernel" 0
expect_out "DESTDIR install, no --kernel" '^Hello from fastvmm guest'
RC=0
"$TMP/stage/usr/bin/fastvmm-oci" --version >"$TMP/v.out" 2>&1 || RC=$?
OUT=$TMP/v.out
expect_out "DESTDIR fastvmm-oci --version" '^fastvmm-oci version'
finish
