# tests/oci/containerd.sh — sourced: start a private containerd (own root, state, socket,
# no CRI, no other plugins' state shared with the host) and stop it on exit.
# Sets CTR (an array: ctr with the private address and namespace), CTD_NS and CTD_DIR.
# containerd's shim keeps runc state in /run/containerd/runc/$CTD_NS whatever the config says.
ctd_start() {
	CTD_NS=fastvmm-oci-$$
	CTD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fastvmm-ctd.$$.XXXXXX")
	cat >"$CTD_DIR/config.toml" <<TOML
version = 2
root = "$CTD_DIR/root"
state = "$CTD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTD_DIR/sock"
[ttrpc]
  address = "$CTD_DIR/sock.ttrpc"
[debug]
  address = ""
TOML
	containerd --config "$CTD_DIR/config.toml" >"$CTD_DIR/log" 2>&1 &
	CTD_PID=$!
	CTR=(ctr --address "$CTD_DIR/sock" --namespace "$CTD_NS")
	for _ in $(seq 100); do
		"${CTR[@]}" version >/dev/null 2>&1 && return 0
		kill -0 "$CTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "containerd did not start:" >&2
	tail -5 "$CTD_DIR/log" >&2
	return 1
}
ctd_stop() {
	[ -n "${CTD_PID:-}" ] || return 0
	kill "$CTD_PID" 2>/dev/null || true
	wait "$CTD_PID" 2>/dev/null || true
	CTD_PID=
	# Snapshots may be mounted (overlayfs) under root: unmount before removing.
	grep -o " $CTD_DIR/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$CTD_DIR"
	# What the shim and the runtime leave per namespace: the runtime root and parent cgroups.
	rmdir "/run/containerd/runc/$CTD_NS" 2>/dev/null || true
	for d in /sys/fs/cgroup/*/"$CTD_NS" /sys/fs/cgroup/"$CTD_NS"; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	return 0
}
