#!/usr/bin/env bash
# tests/deps.sh — install the Debian packages fastvmm builds, tests and benchmarks with, by
# name, only when missing (`make deps`). Needs root (or sudo) only if something is missing.
set -euo pipefail
pkgs=(
	build-essential   # gcc, make
	clang             # the second compiler every change must build with
	clang-format
	linux-libc-dev    # <linux/kvm.h>
	libcmocka-dev     # unit tests
	liburing-dev      # virtio-blk backend
	libseccomp-dev    # the sandbox (vmm/sandbox.c; linked statically)
	libfdt-dev
	libmicrohttpd-dev # fastvmm serve: HTTP/1.1 on the API socket
	libjansson-dev    # fastvmm serve: JSON
	curl              # serve benchmark (tests/bench/serve.sh): the API through --unix-socket
	python3           # SVG check (t_batch.sh), serve benchmark
	jq                # JSON checks in boot tests (t_batch.sh, t_serve.sh; carried into L1 too)
	iproute2          # network namespaces for net tests
	qemu-system-x86   # the nested harness (and the microvm peer in benchmarks)
	busybox-static    # initramfs of the nested harness
	cpio
	binutils
	xz-utils
	zstd
	containerd        # OCI runtime tests and benchmark: containerd 1.6 + ctr (tests/oci)
	podman            # ... podman with conmon
	runc              # ... the reference runtime the benchmark compares with
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
