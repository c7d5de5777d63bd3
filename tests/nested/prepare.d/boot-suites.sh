# tests/nested/prepare.d/boot-suites.sh — the boot test scripts, run unchanged under L1's
# busybox sh by the own-t-* scenarios, so that a host without /dev/kvm still runs them
# (sourced by run.sh's prepare step with L1ROOT set):
#  - tests/boot/lib.sh and the t_*.sh as /t/*.sh, and docs/openapi.yaml as /docs/openapi.yaml
#    (where t_serve.sh looks for it, ../../docs from its own directory);
#  - the bundled guests where an installed fastvmm looks for its default kernel
#    (PREFIX/share/fastvmm/guests for PREFIX/bin/fastvmm: here /share/fastvmm/guests, a link
#    to /guests), as `make install` would put them;
#  - what the scripts need beyond busybox: tests/boot/subreap.c linked statically as
#    /bin/fvsubreap (t_irqchip) and tests/boot/serve_client.c as /bin/fvserveclient
#    (t_serve); jq (t_batch, t_serve) and objcopy (t_irqchip) in /bin, and
#    util-linux's setpriv (t_core; busybox's has no --reuid, and busybox sh runs its own
#    applet for a bare "setpriv") as /usr/bin/setpriv, each with the libraries and loader ldd
#    names at their own paths. Without one of them the checks that need it say so by name.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")/../../boot
mkdir -p "$L1ROOT/t" "$L1ROOT/bin" "$L1ROOT/usr/bin" "$L1ROOT/share/fastvmm" "$L1ROOT/docs"
install -m644 "$here/lib.sh" "$L1ROOT/t/"
for t in snapshot sandbox core virtio jail realguest_compat irqchip batch serve; do
	install -m644 "$here/t_$t.sh" "$L1ROOT/t/"
done
install -m644 "$here/../../docs/openapi.yaml" "$L1ROOT/docs/"
ln -sfn /guests "$L1ROOT/share/fastvmm/guests"
${CC:-cc} -static -O2 -Wall -Wextra -Werror -o "$L1ROOT/bin/fvsubreap" "$here/subreap.c"
${CC:-cc} -static -std=gnu11 -O2 -Wall -Wextra -Werror -o "$L1ROOT/bin/fvserveclient" \
	"$here/serve_client.c"
. "$(dirname "${BASH_SOURCE[0]}")/../carry.sh"
for b in jq objcopy; do
	bin=$(command -v "$b") && carry "$bin" "/bin/$b"
done
[[ -x /usr/bin/setpriv ]] && carry /usr/bin/setpriv /usr/bin/setpriv
true
