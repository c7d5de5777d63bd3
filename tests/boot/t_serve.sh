# tests/boot/t_serve.sh — `fastvmm serve` on this host's /dev/kvm: the API through its Unix
# socket (tests/boot/serve_client.c: plain requests, and raw, slow, flooding and keep-alive
# clients; JSON checked with jq), asserting on what the guests did (exit codes, console text,
# a disk sector). POSIX sh: it runs as it is under the nested harness's busybox in L1
# (own-t-serve), where prepare.d/boot-suites.sh puts the client at /bin/fvserveclient.
. "$(dirname "$0")/lib.sh"
CLIENT=$(command -v fvserveclient) ||
	{ ${CC:-cc} -std=gnu11 -O2 -o "$TMP/serve_client" "$(dirname "$0")/serve_client.c" &&
		CLIENT=$TMP/serve_client; } || {
	not_ok "no HTTP client: tests/boot/serve_client.c did not build"
	finish
	exit
}
command -v jq >/dev/null || {
	not_ok "jq is needed for the JSON checks (tests/deps.sh)"
	finish
	exit
}
SOCK=$TMP/api.sock
DPID=

# start_daemon ARGS... : fastvmm serve on $SOCK, stderr to $TMP/daemon.log; waits for the
# socket.
start_daemon() {
	rm -f "$SOCK"
	"$FASTVMM" serve --socket "$SOCK" "$@" 2>"$TMP/daemon.log" &
	DPID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.05
	done
	not_ok "daemon did not create its socket" "$TMP/daemon.log"
	return 1
}

# stop_daemon : SIGTERM, wait (bounded); sets DRC.
stop_daemon() {
	kill -TERM "$DPID" 2>/dev/null
	DRC=0
	for _ in $(seq 100); do
		alive "$DPID" || break
		sleep 0.05
	done
	alive "$DPID" && kill -KILL "$DPID" 2>/dev/null && DRC=999
	wait "$DPID" 2>/dev/null
	rc=$?
	[ "$DRC" = 0 ] && DRC=$rc
}

# api METHOD PATH [BODY] : sets CODE and BODY (file $TMP/body).
api() {
	CODE=$("$CLIENT" "$SOCK" req -m 30 -o "$TMP/body" "$@")
	BODY=$TMP/body
}

# jget FILTER [FILE] : a jq filter over the JSON document; strings raw, the rest compact
# JSON (true, [true,7], ["ec","hello"]).
jget() {
	jq -rc "$1" "${2:-$BODY}" 2>/dev/null
}

# expect_code NAME WANT : the last api call's HTTP status.
expect_code() {
	if [ "$CODE" = "$2" ]; then ok "$1: HTTP $2"; else not_ok "$1: HTTP $CODE, want $2" "$BODY"; fi
}

# expect_json NAME EXPR WANT
expect_json() {
	local got
	got=$(jget "$2")
	if [ "$got" = "$3" ]; then ok "$1: $2 = $3"; else not_ok "$1: $2 = '$got', want '$3'" "$BODY"; fi
}

# expect_body NAME REGEX
expect_body() {
	if grep -qE -- "$2" "$BODY"; then ok "$1: body has /$2/"; else not_ok "$1: body lacks /$2/" "$BODY"; fi
}

# wait_pool NAME READY : poll GET /templates/NAME until READY warm VMs (5 s at most).
wait_pool() {
	for _ in $(seq 100); do
		api GET "/templates/$1"
		[ "$(jget .pool.ready)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

children() { # the daemon's child processes
	cat /proc/"$DPID"/task/*/children 2>/dev/null | wc -w
}
nfds() { ls /proc/"$DPID"/fd 2>/dev/null | wc -l; }
nsocks() { ls -l /proc/"$DPID"/fd 2>/dev/null | grep -c 'socket:'; }
# alive PID : a process that exists and is not a zombie (orphans' zombies may wait for a
# PID 1 that does not reap them here).
alive() {
	local st
	st=$(awk '/^State:/ {print $2}' /proc/"$1"/status 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# ---- command line ----
run help serve --help
expect_rc "serve --help" 0
expect_out "serve --help" '--socket PATH'
run nosock serve
expect_rc "serve without --socket" 2
expect_err "serve without --socket" '^fastvmm: serve: --socket PATH is required$'
run badopt serve --socket "$SOCK" --max-vms 0
expect_rc "serve --max-vms 0" 2
expect_err "serve --max-vms 0" "^fastvmm: serve: --max-vms: '0' is out of range$"
echo notasocket >"$TMP/file"
run notsock serve --socket "$TMP/file"
expect_rc "serve --socket on a regular file" 2
expect_err "serve --socket on a regular file" 'exists and is not a socket$'

start_daemon --max-vms 24 --conn-timeout 2 --max-body 4K || { finish; exit; }
mode=$(stat -c %a "$SOCK")
if [ "$mode" = 600 ]; then ok "socket mode 0600"; else not_ok "socket mode $mode"; fi
run second serve --socket "$SOCK"
expect_rc "a second daemon on a live socket" 2
expect_err "a second daemon on a live socket" 'another daemon is serving it$'
fds0=$(nfds)
socks0=$(nsocks)

# ---- templates ----
api PUT /templates/hello "{\"kernel\": \"$GUESTS/hello.elf\", \"mem\": \"16M\"}"
expect_code "PUT hello" 201
expect_json "PUT hello" .format elf64-linux
api GET /templates/hello
expect_code "GET /templates/hello" 200
expect_json "GET /templates/hello" .mem 16777216
api PUT /templates/ec "{\"kernel\": \"$GUESTS/exitcode.elf\", \"mem\": 16, \"pool\": 2}"
expect_code "PUT ec (pool 2)" 201
api GET /templates
expect_json "GET /templates" '[.[].name] | sort' '["ec","hello"]'

# ---- cold launch: console text and exit status ----
api POST /vms '{"template": "hello", "wait": "exit"}'
expect_code "cold hello" 201
expect_json "cold hello" .pooled false
expect_json "cold hello" '[.outcome, .exit_status]' '["exited",0]'
expect_json "cold hello: timed from the request" '.timings_ms | 0 < .kvm_open and .kvm_open <= .first_run and .first_run <= .exit' true
id=$(jget .id)
api GET "/vms/$id/console"
expect_code "GET console" 200
expect_body "console of the cold hello" '^Hello from fastvmm guest$'

# ---- warm pool: the patched command line reaches the guest ----
if wait_pool ec 2; then ok "pool ec: 2 warm VMs"; else not_ok "pool ec never filled" "$BODY" "$TMP/daemon.log"; fi
api POST /vms '{"template": "ec", "cmdline_append": "exit=7", "wait": "exit"}'
expect_code "pooled ec exit=7" 201
expect_json "pooled ec exit=7" '[.pooled, .exit_status]' '[true,7]'
expect_json "pooled: no build stage on the request path" '.timings_ms | [has("vcpus"), has("first_run")]' '[false,true]'
api POST /vms '{"template": "ec", "cmdline_append": "exit=9", "wait": "ready"}'
expect_json "second pooled ec exit=9, wait ready" '[.pooled, (.state == "ready" or .state == "exited")]' '[true,true]'
id9=$(jget .id)
sleep 0.3
api GET "/vms/$id9"
expect_json "GET /vms/$id9 later" '[.state, .exit_status]' '["exited",9]'
if wait_pool ec 2; then ok "pool ec refilled to 2"; else not_ok "pool ec not refilled" "$BODY"; fi

# An empty pool falls back to a cold launch, and the metrics say so.
api PUT /templates/ec1 "{\"kernel\": \"$GUESTS/exitcode.elf\", \"mem\": \"16M\", \"pool\": 1}"
wait_pool ec1 1
$CLIENT "$SOCK" burst 4 '{"template": "ec1", "cmdline_append": "exit=3"}' >"$TMP/burst"
n201=$(jq -s '[.[] | select(.status == 201)] | length' "$TMP/burst")
cold=$(jq -s '[.[] | select(.reply.pooled == false)] | length' "$TMP/burst")
warm=$(jq -s '[.[] | select(.reply.pooled == true)] | length' "$TMP/burst")
if [ "$n201" = 4 ] && [ "$warm" -ge 1 ] && [ "$cold" -ge 1 ]; then ok "burst of 4 on a pool of 1: $warm warm, $cold cold"; else not_ok "burst: $n201 created, $warm warm, $cold cold" "$TMP/burst"; fi
sleep 0.3
api GET /metrics
expect_body "metrics: pool misses counted" '^fastvmm_pool_misses_total [1-9]'
expect_body "metrics: cold launches counted" '^fastvmm_launches_total\{path="cold"\} [1-9]'
expect_body "metrics: pooled launches counted" '^fastvmm_launches_total\{path="pool"\} [1-9]'
expect_body "metrics: a first_run histogram" '^fastvmm_request_to_first_run_seconds_bucket\{path="pool",le="\+Inf"\} [1-9]'
expect_body "metrics: pool memory" '^fastvmm_memory_bytes\{process="pool"\} [1-9]'
# The burst asked for no wait: its VMs may still be running (slowly, under sanitizers).
for _ in $(seq 200); do
	api GET /vms
	[ "$(jget '[.[] | select(.template == "ec1") | .state == "exited"] | all')" = true ] && break
	sleep 0.05
done
expect_json "every burst VM exited 3" '[.[] | select(.template == "ec1") | .exit_status == 3] | all' true

# ---- a disk byte: cold rw and pooled cow ----
img=$TMP/disk.img
truncate -s 4M "$img"
api PUT /templates/blk "{\"kernel\": \"$GUESTS/blk_rw.elf\", \"mem\": \"16M\", \"cmdline\": \"console=ttyS0\", \"disks\": [{\"path\": \"$img\"}], \"timeout_ms\": 30000}"
expect_code "PUT blk" 201
api POST /vms '{"template": "blk", "cmdline_append": "sector=77", "wait": "exit"}'
expect_json "blk_rw through the API" .exit_status 0
got=$(dd if="$img" bs=512 skip=77 count=1 2>/dev/null | head -c 19)
if [ "$got" = FASTVMM-BLK-PATTERN ]; then ok "blk_rw: the pattern is in sector 77 of the file"; else not_ok "blk_rw: sector 77 holds '$got'"; fi
before=$(sha256sum <"$img")
api PUT /templates/blkcow "{\"kernel\": \"$GUESTS/blk_rw.elf\", \"mem\": \"16M\", \"disks\": [{\"path\": \"$img\", \"cow\": true}], \"pool\": 1}"
wait_pool blkcow 1
api POST /vms '{"template": "blkcow", "cmdline_append": "sector=200", "wait": "exit"}'
expect_json "pooled blk_rw on a cow disk" '[.pooled, .exit_status]' '[true,0]'
id=$(jget .id)
api GET "/vms/$id/console"
expect_body "pooled cow: the guest verified its write" 'verified sector 200$'
if [ "$before" = "$(sha256sum <"$img")" ]; then ok "cow: base image unchanged"; else not_ok "cow: base image changed"; fi

# ---- a crashing guest harms only itself ----
api PUT /templates/crash "{\"kernel\": \"$GUESTS/crash.elf\", \"mem\": \"16M\", \"pool\": 1}"
wait_pool crash 1
api POST /vms '{"template": "crash", "wait": "exit"}'
expect_json "crash guest" '[.outcome, .exit_status]' '["crashed",125]'
api POST /vms '{"template": "hello", "wait": "exit"}'
expect_json "the daemon serves on after a crash" .exit_status 0

# ---- concurrent clients ----
cpids=
for i in $(seq 1 12); do
	t=ec
	[ $((i % 3)) = 0 ] && t=hello
	"$CLIENT" "$SOCK" req -m 30 POST /vms "{\"template\": \"$t\", \"cmdline_append\": \"exit=$i\", \"wait\": \"exit\"}" \
		>"$TMP/conc.$i" &
	cpids="$cpids $!"
done
for p in $cpids; do wait "$p"; done
wait_ok=0
for i in $(seq 1 12); do
	want=$i
	[ $((i % 3)) = 0 ] && want=0
	[ "$(jget .exit_status "$TMP/conc.$i")" = "$want" ] && wait_ok=$((wait_ok + 1))
done
if [ "$wait_ok" = 12 ]; then ok "12 concurrent clients: every VM exited with its own status"; else not_ok "concurrent: $wait_ok of 12 right" "$TMP"/conc.*; fi

# ---- bad input ----
api PUT /templates/bad '{"kernel": '
expect_code "malformed JSON" 400
expect_body "malformed JSON" '"error": ?"body: malformed JSON'
api PUT /templates/bad "{\"kernel\": \"$GUESTS/hello.elf\", \"kernal\": 1}"
expect_code "unknown field" 400
expect_body "unknown field" "unknown field 'kernal'"
api PUT /templates/bad "{\"kernel\": \"$GUESTS/hello.elf\", \"cpus\": \"2\"}"
expect_code "wrong type" 400
expect_body "wrong type" 'cpus: must be an integer'
api PUT /templates/bad '[1, 2]'
expect_code "body not an object" 400
api PUT /templates/bad "{\"kernel\": \"$GUESTS/hello.elf\", \"disks\": [{\"path\": \"$img\", \"ro\": true, \"cow\": true}]}"
expect_code "ro and cow" 400
# A disk that is not a regular file or block device: refused at PUT for the CLI's reason
# (--disk), not accepted and then failing every launch of the template.
api PUT /templates/bad "{\"kernel\": \"$GUESTS/hello.elf\", \"disks\": [{\"path\": \"$TMP\"}]}"
expect_code "a directory as a disk" 400
expect_body "a directory as a disk" "disks: $TMP: not a regular file or block device"
mkfifo "$TMP/fifo"
api PUT /templates/bad "{\"kernel\": \"$GUESTS/hello.elf\", \"disks\": [{\"path\": \"$TMP/fifo\", \"cow\": true}], \"pool\": 1}"
expect_code "a FIFO as a disk" 400
expect_body "a FIFO as a disk" "disks: $TMP/fifo: not a regular file or block device"
api POST /vms '{"template": "hello", "wait": "forever"}'
expect_code "bad wait" 400
api POST /vms '{"template": "../etc"}'
expect_code "bad template name" 400
big="{\"kernel\": \"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
api PUT /templates/big "$big"
expect_code "body over --max-body 4K" 413
CODE=$("$CLIENT" "$SOCK" req -m 10 -o "$TMP/body" -c PUT /templates/big "$big")
expect_code "chunked body over --max-body" 413
# A missing or bad kernel: rejected at PUT with the same line as the CLI.
for k in "$TMP/nonexistent.elf" "$TMP/file"; do
	run cli --kernel "$k"
	line=$(sed -n 's/^fastvmm: //p' "$ERR" | head -1)
	api PUT /templates/badk "{\"kernel\": \"$k\"}"
	expect_code "PUT a bad kernel ($(basename "$k"))" 400
	if [ -n "$line" ] && [ "$(jget .error)" = "$line" ]; then ok "bad kernel: the same reason as the CLI ($line)"; else not_ok "bad kernel: '$(jget .error)' vs CLI '$line'" "$BODY"; fi
done
api GET /templates/badk
expect_code "a rejected template does not exist" 404
api POST /vms '{"template": "nosuch"}'
expect_code "unknown template" 404
api GET /vms/999999
expect_code "unknown VM id" 404
api GET /vms/abc
expect_code "malformed VM id" 404
# An escaped NUL does not cut the path short: /templates/x%00y is not template "x", nor
# /vms/1%00x VM 1 (the cold hello above).
api PUT "/templates/x%00y" "{\"kernel\": \"$GUESTS/hello.elf\"}"
expect_code "PUT a template name with %00 in it" 404
api GET /templates/x
expect_code "no template 'x' made from 'x%00y'" 404
api GET "/vms/1%00x"
expect_code "a VM id with %00 in it" 404
api GET /nothing
expect_code "unknown path" 404
api DELETE /metrics
expect_code "wrong method" 405
out=$($CLIENT "$SOCK" raw 'GARBAGE\r\n\r\n')
case $out in 400*|closed*) ok "malformed HTTP: '$out'" ;; *) not_ok "malformed HTTP: '$out'" ;; esac
out=$($CLIENT "$SOCK" raw 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' | head -1)
case $out in 400*|closed*) ok "malformed Content-Length: '$(echo "$out" | cut -c1-40)'" ;; *) not_ok "malformed Content-Length: '$out'" ;; esac
api GET /metrics
expect_code "the daemon serves on after malformed HTTP" 200

# A template deleted while it has warm VMs: they go, requests for it get 404.
api PUT /templates/gone "{\"kernel\": \"$GUESTS/hang.elf\", \"mem\": \"16M\", \"pool\": 2}"
wait_pool gone 2
pre=$(children)
api DELETE /templates/gone
expect_code "DELETE a template with warm VMs" 204
api POST /vms '{"template": "gone"}'
expect_code "POST for a deleted template" 404
sleep 0.3
post=$(children)
if [ "$post" -eq $((pre - 2)) ]; then ok "the deleted template's 2 warm processes are gone"; else not_ok "children $pre -> $post after DELETE"; fi

# A slow client is cut at --conn-timeout while others are served.
$CLIENT "$SOCK" slow 6 >"$TMP/slow" &
slowpid=$!
sleep 0.2
api GET /templates
expect_code "served while a slow client stalls" 200
wait $slowpid
if grep -q '^closed after [0-3]\.' "$TMP/slow"; then ok "slow client closed by the daemon ($(cat "$TMP/slow"))"; else not_ok "slow client: $(cat "$TMP/slow")"; fi

# A client that disconnects while waiting: its VM runs on and keeps its record.
api PUT /templates/hang "{\"kernel\": \"$GUESTS/hang.elf\", \"mem\": \"16M\"}"
"$CLIENT" "$SOCK" req -m 0.5 POST /vms '{"template": "hang", "wait": "exit", "timeout_ms": 1000}' >/dev/null
sleep 1.5
api GET /vms
expect_json "the abandoned VM kept its record" '[.[] | select(.template == "hang") | [.outcome, .exit_status]]' '[["timeout",124]]'

# DELETE a running VM.
api POST /vms '{"template": "hang", "wait": "running"}'
expect_json "hang guest: wait running" '.state == "running" or .state == "ready"' true
id=$(jget .id)
pid=$(jget .pid)
api DELETE "/vms/$id"
expect_code "DELETE a running VM" 204
sleep 0.3
api GET "/vms/$id"
expect_code "GET a deleted VM" 404
if alive "$pid"; then not_ok "the deleted VM's process $pid still runs"; else ok "the deleted VM's process is gone"; fi


# --max-vms: one more is a 503.
for i in $(seq 24); do api POST /vms '{"template": "hang", "timeout_ms": 20000}'; done
api POST /vms '{"template": "hang"}'
expect_code "over --max-vms" 503
expect_body "over --max-vms" 'max-vms'

# Nothing leaked: with every template deleted, the daemon holds the descriptors it started
# with and one more for each VM still running: that VM's control socket (PUT
# /vms/{id}/snapshot orders go through it; vmm/serve.c closes it when the VM exits). The 24
# hang VMs above (20 s timeouts) are still running.
api GET /templates
for t in $(jget '[.[].name] | join(" ")'); do api DELETE "/templates/$t"; done
sleep 0.2
api GET /vms
nrun=$(jget '[.[] | select(.state != "exited")] | length')
fds1=$(nfds)
socks1=$(nsocks)
api GET /vms
nrun2=$(jget '[.[] | select(.state != "exited")] | length')
if [ "$nrun" = "$nrun2" ] && [ "$nrun" -ge 24 ] && [ "$fds1" -eq $((fds0 + nrun)) ] &&
	[ "$socks1" -eq $((socks0 + nrun)) ]; then
	ok "daemon descriptors: $fds0 at start, $fds1 with every template deleted and $nrun VMs running (their sockets)"
else
	not_ok "daemon descriptors $fds0 -> $fds1 (sockets $socks0 -> $socks1) with $nrun (then $nrun2) VMs running, want $nrun more"
	ls -l /proc/"$DPID"/fd | sed 's/^/#   /' | head -40
fi

# ---- SIGTERM with 24 VMs running and a warm pool: everything stops, nothing left ----
api PUT /templates/ec "{\"kernel\": \"$GUESTS/exitcode.elf\", \"mem\": 16, \"pool\": 2}"
wait_pool ec 2
kids=$(cat /proc/"$DPID"/task/*/children)
stop_daemon
if [ "$DRC" = 0 ]; then ok "SIGTERM: the daemon exits 0"; else not_ok "SIGTERM: daemon status $DRC" "$TMP/daemon.log"; fi
[ -e "$SOCK" ] && not_ok "SIGTERM: the socket is still there" || ok "SIGTERM: socket removed"
left=0
for k in $kids; do alive "$k" && left=$((left + 1)); done
if [ "$left" = 0 ]; then ok "SIGTERM: none of its $(echo $kids | wc -w) instances is left"; else not_ok "SIGTERM: $left instances left"; fi

# ---- a daemon killed outright: its instances die with it; a new one takes the socket ----
start_daemon || { finish; exit; }
api PUT /templates/hang "{\"kernel\": \"$GUESTS/hang.elf\", \"mem\": \"16M\", \"pool\": 2}"
api POST /vms '{"template": "hang", "wait": "running"}'
wait_pool hang 2
kids=$(cat /proc/"$DPID"/task/*/children)
{
	kill -KILL "$DPID"
	wait "$DPID"
} 2>/dev/null
sleep 0.5
left=0
for k in $kids; do alive "$k" && left=$((left + 1)); done
if [ "$left" = 0 ]; then ok "SIGKILLed daemon: no orphan instances"; else not_ok "SIGKILLed daemon: $left orphans"; fi
start_daemon || { finish; exit; }
api GET /vms
expect_json "a restarted daemon on the stale socket" . '[]'
# 1,000 connections at once, on a daemon with the default --conn-timeout (10 s): under the
# earlier daemon's 2 s a connection the loaded daemon had not read for 2 s was closed as idle
# (11 of 1000, ASan build in L1).
out=$($CLIENT "$SOCK" flood 1000 /templates)
case $out in "200=1000 "*) ok "1000 connections at once: $out" ;; *) not_ok "1000 connections: $out" ;; esac
api GET /metrics
expect_code "serving after 1000 connections" 200
# ---- docs/openapi.yaml against the daemon: every route it lists is served, and each of its
# paths answers 405 to every method it does not list (so no route is served undocumented) ----
spec=$(dirname "$(readlink -f "$0")")/../../docs/openapi.yaml
routes=$(awk '/^paths:/ {p = 1; next} /^[a-z]/ {p = 0} p && /^  \// {sub(":$", "", $1); path = $1}
	p && /^    (get|put|post|delete|patch|head):/ {sub(":$", "", $1); print toupper($1), path}' "$spec")
nroutes=$(echo "$routes" | grep -c .)
bad=
for path in $(echo "$routes" | awk '{print $2}' | sort -u); do
	url=$(echo "$path" | sed 's/{name}/nosuch/; s/{id}/999999/')
	for m in GET PUT POST DELETE PATCH; do
		api "$m" "$url" '{"x": 1}'
		listed=$(echo "$routes" | grep -cx "$m $path")
		if [ "$listed" = 1 ]; then
			# served: the router took it (a 404 for the missing object is not "no such resource")
			if [ "$CODE" = 405 ] || grep -q 'no such resource\|is not a' "$BODY"; then bad="$bad $m:$path($CODE)"; fi
		elif [ "$CODE" != 405 ]; then
			bad="$bad unlisted-$m:$path($CODE)"
		fi
	done
done
if [ "$nroutes" -ge 10 ] && [ -z "$bad" ]; then ok "openapi.yaml: its $nroutes routes are served, nothing else on its paths"; else not_ok "openapi.yaml vs the daemon ($nroutes routes):$bad"; fi

# ---- a template from a snapshot (issue 9): its VMs are the snapshot's clones, restored
# ahead of time in the warm pool (or on request), each continuing from the saved count ----
SN=$TMP/serve-snap
"$FASTVMM" --kernel "$GUESTS/count.elf" --cmdline "to=12 snap=5" --snapshot "$SN" \
	--snapshot-at exit-port --snapshot-then stop -q >/dev/null 2>"$TMP/serve-snap.err"
api PUT /templates/cnt "{\"snapshot\": \"$SN\", \"pool\": 2, \"timeout_ms\": 20000}"
expect_code "template from a snapshot" 201
expect_json "template from a snapshot: what it restores" '[.snapshot, .irqchip, .mem, .cpus]' "[\"$SN\",\"split\",134217728,1]"
for _ in $(seq 200); do # restores under a loaded host: up to 10 s
	api GET /templates/cnt
	[ "$(jget .pool.ready)" = 2 ] && break
	sleep 0.05
done
expect_json "snapshot template: 2 restored clones wait in the pool" .pool.ready 2
for n in 1 2; do
	api POST /vms '{"template": "cnt", "wait": "exit"}'
	expect_code "snapshot clone $n" 201
	expect_json "snapshot clone $n: from the pool, exit status 0" '[.pooled, .outcome, .exit_status]' '[true,"exited",0]'
	cid=$(jget .id)
	api GET "/vms/$cid/console"
	expect_body "snapshot clone $n: knows its id" "^snapshot point: clone $cid\$"
	expect_body "snapshot clone $n: continues from the saved count" '^count=6$'
	expect_body "snapshot clone $n: counts to the end" '^count=12$'
	if grep -qE '^count=[1-5]$' "$BODY"; then not_ok "snapshot clone $n recounted" "$BODY"; else ok "snapshot clone $n: does not recount 1-5"; fi
done
api PUT /templates/cntcold "{\"snapshot\": \"$SN\"}"
expect_code "snapshot template without a pool" 201
api POST /vms '{"template": "cntcold", "wait": "exit"}'
expect_json "cold snapshot clone: restored on request, exit status 0" '[.pooled, .exit_status, (.timings_ms | has("snapshot_map"))]' '[false,0,true]'
cid=$(jget .id)
api GET "/vms/$cid/console"
expect_body "cold snapshot clone continues from the saved count" '^count=6$'
api POST /vms "{\"snapshot\": \"$SN\", \"wait\": \"exit\", \"timeout_ms\": 20000}"
expect_json "one-off clone, POST /vms {snapshot}: restored, exit status 0" '[.template, .pooled, .exit_status]' '["",false,0]'
cid=$(jget .id)
api GET "/vms/$cid/console"
expect_body "one-off clone knows its id" "^snapshot point: clone $cid\$"
expect_body "one-off clone continues from the saved count" '^count=6$'
api POST /vms "{\"snapshot\": \"$TMP/nosnap\"}"
expect_code "one-off clone of a missing snapshot" 400
expect_body "one-off clone of a missing snapshot names the file" "$TMP/nosnap/state: No such file"
api POST /vms '{"template": "cnt", "cmdline_append": "x=1"}'
expect_code "cmdline_append to a snapshot's clone" 400
expect_body "cmdline_append to a snapshot's clone says why" "cmdline_append: not for template 'cnt', a snapshot's clones"
# Hostile snapshots: refused at PUT with the --restore line, no VM built.
mkdir -p "$TMP/badsnap" && cp "$SN/state" "$SN/memory" "$TMP/badsnap/" && truncate -s 100 "$TMP/badsnap/state"
api PUT /templates/bad "{\"snapshot\": \"$TMP/badsnap\", \"pool\": 1}"
expect_code "truncated snapshot" 400
expect_body "truncated snapshot: one line naming the file" "\"snapshot: $TMP/badsnap/state: truncated"
api PUT /templates/bad "{\"snapshot\": \"$TMP/nosnap\"}"
expect_code "missing snapshot" 400
expect_body "missing snapshot names the file" "$TMP/nosnap/state: No such file"
api PUT /templates/bad "{\"snapshot\": \"$SN\", \"mem\": 64}"
expect_code "snapshot with mem" 400
api GET /templates/bad
expect_code "no template left by a refused snapshot" 404
api DELETE /templates/cnt
api DELETE /templates/cntcold

# ---- the sandbox (on by default): the daemon, a pooled instance before and after release ----
# filters PID : how many seccomp filters the process's main thread runs under.
filters() { sed -n 's/^Seccomp_filters:[[:space:]]*//p' /proc/"$1"/status 2>/dev/null; }
dfilt=$(filters "$DPID")
nthreads=0 confined=0
for st in /proc/"$DPID"/task/*/status; do
	nthreads=$((nthreads + 1))
	grep -q '^Seccomp:[[:space:]]*2' "$st" && confined=$((confined + 1))
done
# One thread (docs/api.md: the daemon forks its instances, which must not inherit another
# thread's locks), confined.
if [ "$dfilt" = 1 ] && [ "$confined" = "$nthreads" ] && [ "$nthreads" = 1 ]; then
	ok "sandbox: the daemon runs under its serve filter (its one thread confined)"
else
	not_ok "sandbox: daemon filters '$dfilt', $confined of $nthreads threads confined"
fi
api PUT /templates/sbx "{\"kernel\": \"$GUESTS/hang.elf\", \"mem\": \"16M\", \"pool\": 1}"
wait_pool sbx 1
warm=$(cat /proc/"$DPID"/task/*/children | tr " " "\n" | grep . | tail -1)
echo "# pooled instance: pid $warm"
wf=$(filters "$warm")
api POST /vms '{"template": "sbx", "wait": "running"}'
expect_json "sandbox: the pooled instance is released" .pooled true
rf=$(filters "$warm")
if [ "$wf" = 1 ] && [ "${rf:-0}" -ge 2 ]; then
	ok "sandbox: a pooled instance waits under the inherited filter ($wf) and runs confined ($rf)"
else
	not_ok "sandbox: pooled instance filters waiting '$wf', running '$rf'"
fi
api DELETE "/vms/$(jget .id)"
stop_daemon
# A denied system call in the daemon: one clear line, exit 159 (128 + SIGSYS).
FASTVMM_TEST_DENIED_SYSCALL=serve start_daemon
wait "$DPID" 2>/dev/null
DRC=$?
if [ "$DRC" = 159 ] && grep -q '^fastvmm: sandbox: serve thread made a denied system call: socket (nr [0-9]*); stopping the daemon$' "$TMP/daemon.log"; then
	ok "sandbox: a denied call in the daemon is one line naming it, exit 159"
else
	not_ok "sandbox: denied call: daemon status $DRC" "$TMP/daemon.log"
fi
rm -f "$SOCK"
# The connection cap: beyond --max-connections a clear 503, never a hang; serving goes on.
start_daemon --max-connections 50 || { finish; exit; }
out=$($CLIENT "$SOCK" flood 400 /templates)
n503=$(echo "$out" | sed -n 's/.*503=\([0-9]*\).*/\1/p')
case $out in *" other=0 "*) ;; *) n503=x ;; esac
if [ "${n503:-0}" != x ] && [ "${n503:-0}" -ge 1 ]; then ok "over --max-connections 50: 503s, nothing else ($out)"; else not_ok "over --max-connections: $out"; fi
# Serving goes on once the flood is gone. The flood's connections the daemon had not yet
# accepted are still in its listen backlog when the client closes them; while it accepts
# and drops them it is over the cap again and a new request may get its 503 too (seen under
# ASan in L1): ask until it answers, 30 s at most.
for _ in $(seq 60); do
	api GET /metrics
	[ "$CODE" = 200 ] && break
	sleep 0.5
done
expect_code "after the flood, GET /metrics" 200
expect_body "rejected connections counted" '^fastvmm_connections_rejected_total [1-9]'
stop_daemon
start_daemon || { finish; exit; }
stop_daemon
finish
