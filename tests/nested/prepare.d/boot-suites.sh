# tests/nested/prepare.d/boot-suites.sh — the boot test scripts, run unchanged under L1's
# busybox sh by the own-t-* scenarios, so that a host without /dev/kvm still runs them
# (sourced by run.sh's prepare step with L1ROOT set):
#  - tests/boot/lib.sh and the t_*.sh that run there as /t/*.sh (t_serve.sh needs bash, curl
#    and python3: own-serve and snapshot-serve-* cover the daemon in L1);
#  - the bundled guests where an installed fastvmm looks for its default kernel
#    (PREFIX/share/fastvmm/guests for PREFIX/bin/fastvmm: here /share/fastvmm/guests, a link
#    to /guests), as `make install` would put them;
#  - what the scripts need beyond busybox: tests/boot/subreap.c linked statically as
#    /bin/fvsubreap (t_irqchip); jq (t_batch) and objcopy (t_irqchip) in /bin, and
#    util-linux's setpriv (t_core; busybox's has no --reuid, and busybox sh runs its own
#    applet for a bare "setpriv") as /usr/bin/setpriv, each with the libraries and loader ldd
#    names at their own paths. Without one of them the checks that need it say so by name.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")/../../boot
mkdir -p "$L1ROOT/t" "$L1ROOT/bin" "$L1ROOT/usr/bin" "$L1ROOT/share/fastvmm"
install -m644 "$here/lib.sh" "$L1ROOT/t/"
for t in snapshot sandbox core virtio jail realguest_compat irqchip batch; do
	install -m644 "$here/t_$t.sh" "$L1ROOT/t/"
done
ln -sfn /guests "$L1ROOT/share/fastvmm/guests"
${CC:-cc} -static -O2 -Wall -Wextra -Werror -o "$L1ROOT/bin/fvsubreap" "$here/subreap.c"
carry() { # BIN DEST: BIN at DEST in L1, with its libraries
	install -m755 "$1" "$L1ROOT$2"
	ldd "$1" | sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' |
		while read -r lib; do
			mkdir -p "$L1ROOT$(dirname "$lib")"
			cp -L "$lib" "$L1ROOT$lib"
		done
}
for b in jq objcopy; do
	bin=$(command -v "$b") && carry "$bin" "/bin/$b"
done
[[ -x /usr/bin/setpriv ]] && carry /usr/bin/setpriv /usr/bin/setpriv
true
