#!/usr/bin/env bash
# tests/oci/t_runtime.sh — the runtime's command line on its own, driven the way containerd's
# shim and conmon drive it (a subreaper collects the container's exit status).
set -u
. "$(dirname "$(readlink -f "$0")")/lib.sh"
G=$GUESTS
O="$OCI --root $ROOT"
need_kvm # bad bundles, the pod sandbox and the engines' error paths: t_bundle.sh, t_ctr.sh...

# --- lifecycle: create → created, start → the guest runs, its exit status is the container's
B=$TMP/hello
bundle "$B" "$(cfg '["/hello.elf"]')" "$G/hello.elf"
reap life "$O create --bundle $B --pid-file $TMP/pid c1 && $O state c1 >$TMP/st1 && $O start c1 && sleep 0.3 && $O state c1 >$TMP/st2"
expect_out life 'Hello from fastvmm guest'
expect_status life 0
expect_out life '"status": "created"' "$TMP/st1"
expect_out life "\"pid\": $(cat "$TMP/pid" 2>/dev/null || echo none)," "$TMP/st1"
expect_out life '"status": "stopped"' "$TMP/st2"
oci life-del delete c1
expect_rc life-del 0
expect_empty_root life-del

B=$TMP/code
bundle "$B" "$(cfg '["/exitcode.elf","exit=7"]')" "$G/exitcode.elf"
reap code "$O create --bundle $B c2 && $O start c2"
expect_out code 'exitcode guest: exiting'
expect_status code 7
oci code-del delete c2

# --- run: create + start + wait + delete in the foreground
oci run run --bundle "$TMP/code" r0
expect_rc run 7
expect_out run 'exitcode guest: exiting'
expect_empty_root run

# --- signals: TERM stops the VM cleanly (128+15), KILL at once (128+9)
B=$TMP/hang
bundle "$B" "$(cfg '["/hang.elf"]')" "$G/hang.elf"
reap term "$O create --bundle $B c3 && $O start c3 && sleep 0.3 && $O state c3 >$TMP/st3 && $O kill c3 TERM"
expect_out term 'hang guest: waiting forever'
expect_out term-running '"status": "running"' "$TMP/st3"
expect_status term 143
reap kill "$O delete c3 && $O create --bundle $B c3 && $O start c3 && sleep 0.2 && $O kill --all c3 SIGKILL"
expect_status kill 137
reap created-kill "$O delete c3 && $O create --bundle $B c3 && $O kill c3 9"
expect_status created-kill 137
reap created-term "$O delete c3 && $O create --bundle $B c3 && $O kill c3 TERM"
expect_status created-term 143
oci kill-stopped kill c3 TERM
expect_rc kill-stopped 1
expect_err kill-stopped 'not running'
oci kill-del delete c3

# --- delete refuses a live container without --force; --force kills it
reap force "$O create --bundle $B c4 && $O start c4 && ! $O delete c4 2>$TMP/del.err && $O delete --force c4"
expect_out force-refused 'cannot delete a container that is running' "$TMP/del.err"
expect_status force 137
expect_empty_root force
oci force-missing delete --force nosuch
expect_rc force-missing 0
oci missing delete nosuch
expect_rc missing 1
expect_err missing 'nosuch: does not exist'

# --- two creates racing for one id: exactly one wins, the loser leaves the winner alone
B=$TMP/hello
reap race "$O create --bundle $B r1 2>$TMP/ra & $O create --bundle $B r1 2>$TMP/rb & wait; $O start r1"
n=$(cat "$TMP/ra" "$TMP/rb" | grep -c 'already exists')
if [ "$n" -eq 1 ]; then ok "race: one create lost with 'already exists'"; else not_ok "race: $n losers" "$TMP/ra" "$TMP/rb"; fi
expect_status race 0
oci race-del delete r1
expect_empty_root race

# --- a console on --console-socket: the pty master passed with SCM_RIGHTS
B=$TMP/tty
bundle "$B" "$(cfg '["/hello.elf"]' '"linux":{}' | sed 's/"cwd"/"terminal":true,"cwd"/')" "$G/hello.elf"
python3 "$HELPER" console "$TMP/cs.sock" "$TMP/cs.out" &
hp=$!
for _ in $(seq 50); do [ -S "$TMP/cs.sock" ] && break; sleep 0.05; done
reap tty "$O create --bundle $B --console-socket $TMP/cs.sock t1 && $O start t1"
wait "$hp"
expect_out tty '^pty /dev/pts/' "$TMP/cs.out"
expect_out tty 'Hello from fastvmm guest' "$TMP/cs.out"
expect_status tty 0
oci tty-del delete t1
oci tty-missing create --bundle "$B" t2
expect_err tty-missing 'no --console-socket'
expect_empty_root tty-missing

# --- annotations and resources
B=$TMP/ann
bundle "$B" "$(cfg '["ignored"]' '"annotations":{"org.fastvmm.kernel":"/boot/k.elf","org.fastvmm.cmdline":"exit=42","org.fastvmm.mem":"16M","org.fastvmm.cpus":"2"}')" "$G/exitcode.elf=/boot/k.elf"
reap ann "$O create --bundle $B a1 && $O start a1"
expect_status ann 42
oci ann-del delete a1
B=$TMP/envk
bundle "$B" "$(cfg '["x"]' '"linux":{}' | sed 's|"args"|"env":["PATH=/bin","FASTVMM_KERNEL=/exitcode.elf","FASTVMM_CMDLINE=exit=5"],"args"|')" "$G/exitcode.elf"
reap env "$O create --bundle $B e1 && $O start e1"
expect_status env-knobs 5
oci env-del delete e1
B=$TMP/spec-vm
bundle "$B" "$(cfg '["x"]' "\"vm\":{\"kernel\":{\"path\":\"$G/exitcode.elf\",\"parameters\":[\"exit=3\"]}}")"
reap spec-vm "$O create --bundle $B v1 && $O start v1"
expect_status spec-vm 3
oci spec-vm-del delete v1

# --- disks from the rootfs: cow by default (the image is unchanged), :rw writes it, :ro refuses
B=$TMP/disk
disk_run() { # NAME MODE
	$O delete k1 2>/dev/null
	rm -rf "$B"
	bundle "$B" "$(cfg '["/blk_rw.elf","console=ttyS0","sector=77"]' "\"annotations\":{\"org.fastvmm.disks\":\"/img/d.img$2\"}")" "$G/blk_rw.elf"
	mkdir -p "$B/rootfs/img" && truncate -s 4M "$B/rootfs/img/d.img"
	reap "$1" "$O create --bundle $B k1 && $O start k1"
}
disk_run disk-cow ""
expect_out disk-cow 'wrote, flushed and verified sector 77'
expect_status disk-cow 0
if [ -z "$(tr -d '\0' <"$B/rootfs/img/d.img" | head -c1)" ]; then ok "disk-cow: the image in the rootfs is untouched"; else not_ok "disk-cow: the image was written"; fi
disk_run disk-rw ":rw"
expect_status disk-rw 0
if [ -n "$(dd if="$B/rootfs/img/d.img" bs=512 skip=77 count=1 2>/dev/null | tr -d '\0' | head -c1)" ]; then ok "disk-rw: sector 77 written in the image"; else not_ok "disk-rw: sector 77 is empty"; fi
disk_run disk-ro ":ro"
expect_out disk-ro 'write status 1'
expect_status disk-ro 3
$O delete k1

# --- cgroups: linux.cgroupsPath joined, the memory limit = guest RAM + VMM overhead
CG=fastvmm-oci-test-$$
if [ -d /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/$CG" 2>/dev/null; then
	rmdir "/sys/fs/cgroup/memory/$CG"
	B=$TMP/cg
	bundle "$B" "$(cfg '["/hang.elf"]' "\"linux\":{\"cgroupsPath\":\"/$CG/c\",\"resources\":{\"memory\":{\"limit\":67108864},\"cpu\":{\"quota\":150000,\"period\":100000}}}")" "$G/hang.elf"
	oci cg create --bundle "$B" --pid-file "$TMP/cg.pid" g1
	expect_rc cg 0
	lim=$(cat "/sys/fs/cgroup/memory/$CG/c/memory.limit_in_bytes" 2>/dev/null)
	if [ "$lim" = $((96 * 1024 * 1024)) ]; then ok "cgroup: memory limit 64 MiB + 32 MiB overhead"; else not_ok "cgroup: memory limit '$lim'"; fi
	q=$(cat "/sys/fs/cgroup/cpu/$CG/c/cpu.cfs_quota_us" 2>/dev/null)
	if [ "$q" = 150000 ]; then ok "cgroup: cpu quota"; else not_ok "cgroup: cpu quota '$q'"; fi
	if grep -qx "$(cat "$TMP/cg.pid")" "/sys/fs/cgroup/memory/$CG/c/cgroup.procs"; then ok "cgroup: the VM process is in it"; else not_ok "cgroup: the VM process is not in it"; fi
	oci cg-del delete --force g1
	if [ ! -e "/sys/fs/cgroup/memory/$CG/c" ]; then ok "cgroup: removed by delete"; else not_ok "cgroup: left behind"; fi
	for d in /sys/fs/cgroup/*/"$CG"; do rmdir "$d" 2>/dev/null; done
else
	echo "# skip cgroup checks: /sys/fs/cgroup/memory is not writable here"
fi
expect_empty_root end
finish
