# Sandbox boot tests (issue 12): while a guest runs, every thread of fastvmm (and of a batch
# instance, and the batch launcher once all instances are forked) is under a seccomp filter,
# with NO_NEW_PRIVS and no capability; a denied system call stops the VM with a line naming it.
. "$(dirname "$0")/lib.sh"

img=$TMP/sb.img
head -c $((1 << 20)) /dev/zero >"$img"

# status_of PID FIELD : FIELD of every thread of PID, one per line.
status_of() {
	local t
	for t in /proc/"$1"/task/*; do
		sed -n "s/^$2:[[:space:]]*//p" "$t/status" 2>/dev/null
	done
}

# shared_bytes PID : bytes of shared anonymous memory (the batch records) PID maps.
shared_bytes() {
	local range perms off dev ino path s=0
	while read -r range perms off dev ino path; do
		[ "$perms" = rw-s ] && [ "${path%% *}" = /dev/zero ] || continue
		s=$((s + 0x${range#*-} - 0x${range%-*}))
	done </proc/"$1"/maps
	echo "$s"
}

# wait_ready FILE : until the hang guest has printed its line (≤ 10 s).
wait_ready() {
	local i
	for i in $(seq 100); do
		grep -q 'waiting forever' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# check_confined NAME PID MIN_THREADS
check_confined() {
	local n seccomp nnp cap
	n=$(ls /proc/"$2"/task | wc -l)
	seccomp=$(status_of "$2" Seccomp | sort -u | tr '\n' ' ')
	nnp=$(status_of "$2" NoNewPrivs | sort -u | tr '\n' ' ')
	cap=$(status_of "$2" CapEff | sort -u | tr '\n' ' ')
	capbnd=$(status_of "$2" CapBnd | sort -u | tr '\n' ' ')
	if [ "$n" -ge "$3" ]; then ok "$1: $n threads"; else not_ok "$1: $n threads, want >= $3"; fi
	if [ "$seccomp" = "2 " ]; then ok "$1: Seccomp 2 on every thread"; else not_ok "$1: Seccomp '$seccomp'"; fi
	if [ "$nnp" = "1 " ]; then ok "$1: NoNewPrivs 1 on every thread"; else not_ok "$1: NoNewPrivs '$nnp'"; fi
	if [ "$cap" = "0000000000000000 " ]; then ok "$1: CapEff 0 on every thread"; else not_ok "$1: CapEff '$cap'"; fi
	if [ "$(id -u)" -ne 0 ] || [ "$capbnd" = "0000000000000000 " ]; then ok "$1: CapBnd empty"; else not_ok "$1: CapBnd '$capbnd'"; fi
}

# One VM: main thread (vCPU 0), vCPU 1, the I/O thread and the watchdog.
"$FASTVMM" --kernel "$GUESTS/hang.elf" --cpus 2 --disk "$img" --timeout 20 \
	>"$TMP/sb1.out" 2>"$TMP/sb1.err" </dev/null &
pid=$!
if wait_ready "$TMP/sb1.out"; then
	check_confined "single VM" "$pid" 4
else
	not_ok "single VM: the hang guest never printed" "$TMP/sb1.out" "$TMP/sb1.err"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# --no-sandbox: no filter (what the flag is for).
"$FASTVMM" --kernel "$GUESTS/hang.elf" --no-sandbox --timeout 20 >"$TMP/sb2.out" 2>&1 </dev/null &
pid=$!
if wait_ready "$TMP/sb2.out" && [ "$(status_of "$pid" Seccomp | sort -u)" = 0 ]; then
	ok "--no-sandbox: Seccomp 0"
else
	not_ok "--no-sandbox: Seccomp '$(status_of "$pid" Seccomp | sort -u | tr '\n' ' ')'" "$TMP/sb2.out"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# Batch: the launcher (once every instance is forked) and each instance.
"$FASTVMM" --kernel "$GUESTS/hang.elf" -n 2 --console --timeout 20 \
	>"$TMP/sb3.out" 2>"$TMP/sb3.err" </dev/null &
pid=$!
wait_lines 2 'waiting forever' "$TMP/sb3.out"
if [ "$(grep -c 'waiting forever' "$TMP/sb3.out")" -ge 2 ]; then
	check_confined "batch launcher" "$pid" 1
	kids=$(cat /proc/"$pid"/task/*/children)
	k=0
	want=$((2 * 4096))
	got=$(shared_bytes "$pid")
	if [ "$got" -eq "$want" ]; then ok "batch launcher: one record slot per instance ($got bytes shared)"; else not_ok "batch launcher: $got bytes of shared records, want $want"; fi
	for c in $kids; do
		check_confined "batch instance $k" "$c" 1
		# Nothing of the launcher's or of other instances: no signalfd, only the notes'
		# write end, only its own record slot (so it cannot forge another's record).
		fds=$(ls -l /proc/"$c"/fd 2>/dev/null | sed -n 's/.* -> //p')
		if printf '%s\n' "$fds" | grep -q signalfd; then not_ok "batch instance $k: holds the launcher's signalfd"; else ok "batch instance $k: no signalfd"; fi
		nsock=$(printf '%s\n' "$fds" | grep -c '^socket:')
		if [ "$nsock" -eq 1 ]; then ok "batch instance $k: one note endpoint"; else not_ok "batch instance $k: $nsock sockets: $(echo $fds)"; fi
		got=$(shared_bytes "$c")
		if [ "$got" -eq 4096 ]; then ok "batch instance $k: only its own record slot"; else not_ok "batch instance $k: $got bytes of shared records mapped"; fi
		k=$((k + 1))
	done
	if [ "$k" -eq 2 ]; then ok "batch: 2 instance processes"; else not_ok "batch: $k instance processes"; fi
else
	not_ok "batch: the guests never printed" "$TMP/sb3.out" "$TMP/sb3.err"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# A denied system call, made by the test hook on each role's thread: one line naming it,
# status 159, and the guest did not go on (no exit-port status).
for role in vmm vcpu io; do
	FASTVMM_TEST_DENIED_SYSCALL=$role run "denied-$role" --kernel "$GUESTS/hang.elf" --cpus 2 \
		--disk "$img" --timeout 20
	expect_rc "denied syscall on the $role thread" 159
	expect_err "denied syscall on the $role thread" \
		"^fastvmm: sandbox: $role thread made a denied system call: socket \(nr 41\); stopping the VM$"
done
FASTVMM_TEST_DENIED_SYSCALL=vcpu run denied-batch --kernel "$GUESTS/hang.elf" --cpus 2 -n 2 --quiet --timeout 20
expect_rc "denied syscall in a batch instance" 1
expect_err "denied syscall in a batch instance" "sandbox: vcpu thread made a denied system call: socket"
expect_out "denied syscall in a batch instance" "exited with status 159 without a record"

# A batch large enough that the report's qsort() asks the kernel for the RAM size (sysinfo):
# the confined launcher must be allowed to finish its report.
run bigbatch --kernel "$GUESTS/hello.elf" -n 300 --quiet
expect_rc "confined launcher reports a batch of 300" 0
expect_out "confined launcher reports a batch of 300" '^300/300 ok'

finish
