# Batch mode (issue 4): N instances, one process each; the report, logs, failures, signals.
# No timed assertions: only what happened.
. "$(dirname "$0")/lib.sh"

# -n 30 of hello: all ok, 30 log files holding the greeting, the report on stdout.
LOGS=$TMP/logs30
run hello30 -n 30 --log-dir "$LOGS"
expect_rc "-n 30 hello" 0
expect_out "-n 30 hello" '^30/30 ok, 30 launched'
expect_out "-n 30 hello" '^failures: none$'
expect_out "-n 30 hello" '^first_run +30 '
n=$(grep -lx 'Hello from fastvmm guest' "$LOGS"/vm-*.log 2>/dev/null | wc -l)
if [ "$n" -eq 30 ]; then ok "-n 30 hello: 30 log files hold the greeting"; else not_ok "-n 30 hello: $n log files hold the greeting" "$OUT" "$ERR"; fi
[ -f "$LOGS/vm-0.log" ] && [ -f "$LOGS/vm-29.log" ] && ok "-n 30 hello: vm-0.log .. vm-29.log" || not_ok "-n 30 hello: log names" "$OUT"

# The default log directory is announced, and holds the logs; a silent guest leaves none.
run deflog -n 2
expect_rc "default log dir" 0
d=$(sed -n 's|^consoles: \(.*\)/vm-<i>.log$|\1|p' "$OUT")
if [ -n "$d" ] && [ "$(cat "$d"/vm-*.log | grep -c Hello)" -eq 2 ]; then ok "default log dir $d holds 2 logs"; else not_ok "default log dir" "$OUT"; fi
[ -n "$d" ] && rm -rf "$d"
export TMPDIR=$TMP/tmpdir
mkdir -p "$TMPDIR"
run silent -n 3 --kernel "$GUESTS/null.elf"
expect_rc "-n 3 null" 0
if [ -z "$(ls -A "$TMPDIR")" ]; then ok "-n 3 null: no console output, no directory left"; else not_ok "-n 3 null left $(ls "$TMPDIR")" "$OUT"; fi
run quiet -n 3 --quiet
expect_rc "-n 3 --quiet" 0
if [ -z "$(ls -A "$TMPDIR")" ] && ! grep -q '^consoles:' "$OUT"; then ok "-n 3 --quiet: consoles discarded, no directory"; else not_ok "-n 3 --quiet left $(ls "$TMPDIR")" "$OUT"; fi
unset TMPDIR

# --console: every line prefixed with its instance.
run console -n 4 --console
expect_rc "--console" 0
for i in 0 1 2 3; do expect_out "--console" "^\[$i\] Hello from fastvmm guest$"; done

# --json: one well-formed document with the schema README documents.
run json -n 5 --kernel "$GUESTS/hello-pvh.elf" --json --parallel 2
expect_rc "--json" 0
expect_lines "--json is one line" 1 "$OUT"
# (jq: a real JSON parser, also in the nested harness's L1, which has no python3; jq has one
# number type, so the grep checks that the times are written as floats, with a fraction)
if jq -e '
	(.wall_us | type == "number" and . > 0) and
	(.instances | length == 5) and .parallel == 2 and
	(.instances | to_entries | all(.key as $i | .value |
		.id == $i and .ok == true and .exit_status == 0 and
		(.stages as $s | ["kvm_open", "vm_create", "memory", "irqchip", "first_run", "ready", "exit"] |
			all(. as $k | $s[$k] | type == "number")) and
		.stages.first_run <= .stages.ready and .stages.ready <= .stages.exit and
		.ready_source == "boot_timer")) and
	.summary.ok == 5 and .summary.failed == 0 and
	(.summary.stages_us.exit | has("p50") and has("p90") and has("p99") and has("max"))' "$OUT" >/dev/null &&
	grep -qE '"wall_us":[0-9]+\.[0-9]+[,}]' "$OUT" &&
	! grep -oE '"stages":\{[^}]*\}' "$OUT" | grep -qE ':-?[0-9]+[,}]'
then ok "--json parses and has the schema"; else not_ok "--json schema" "$OUT" "$ERR"; fi

# One crashing instance among healthy ones ends only itself; the batch fails.
run crash1 -n 6 --kernel "$GUESTS/exitcode.elf" --cmdline "id={id} crash=3" --json
expect_rc "one crash among 6" 1
if jq -e '
	([.instances[] | select(.ok | not) | .id] == [3]) and
	.instances[3].outcome == "crashed" and .instances[3].exit_status == 125 and
	.summary.failures == {"crashed": 1}' "$OUT" >/dev/null
then ok "one crash among 6: only vm 3 failed, as crashed"; else not_ok "one crash among 6" "$OUT" "$ERR"; fi

# --ready: the first console line matching the pattern; a pattern never seen fails the instance.
run readyok -n 2 --kernel "$GUESTS/hello.elf" --ready '^Hello' --json
expect_rc "--ready seen" 0
run readyno -n 2 --kernel "$GUESTS/hello.elf" --ready '^never$'
expect_rc "--ready never seen" 1
expect_out "--ready never seen" 'no-ready-line 2'
run readybad -n 2 --ready '('
expect_rc "--ready bad regex" 2
expect_err "--ready bad regex" '^fastvmm: --ready: .\(.: '
expect_lines "--ready bad regex: one line" 1 "$ERR"

# --plot: well-formed SVG with one row per instance.
run plot -n 4 --plot "$TMP/p.svg"
expect_rc "--plot" 0
# Well-formed XML (xmllint, else Python's parser) and four row groups. Neither is in the
# nested harness's L1 (libxml2 alone would carry 30 MB of ICU into it): there it is skipped.
rows=""
if command -v xmllint >/dev/null; then
	rows=$(xmllint --xpath 'count(//*[local-name()="g"][@class="row"])' "$TMP/p.svg") || rows=bad
elif command -v python3 >/dev/null; then
	rows=$(python3 -c '
import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
print(len([g for g in d.getElementsByTagName("g") if g.getAttribute("class") == "row"]))' "$TMP/p.svg") || rows=bad
fi
case $rows in
"")
	skip "--plot: well-formed SVG, 4 rows" "neither xmllint nor python3 here"
	n=$(grep -c '<g class="row"' "$TMP/p.svg")
	if [ "$n" -eq 4 ]; then ok "--plot: 4 row groups (grep)"; else not_ok "--plot: $n row groups (grep)" "$TMP/p.svg"; fi
	;;
4) ok "--plot: well-formed SVG, 4 rows" ;;
*) not_ok "--plot SVG ($rows rows)" "$TMP/p.svg" ;;
esac

# Bad -n / --parallel: one line, exit 2, nothing launched.
for args in "-n 0" "-n -1" "-n 100000" "-n abc" "-n 3 --parallel 0" "--parallel 2"; do
	run badn $args
	expect_rc "$args" 2
	expect_lines "$args: one line" 1 "$ERR"
	expect_err "$args" '^fastvmm: (-n|--parallel): '
done
run badlog -n 2 --log-dir /proc/nope/x
expect_rc "--log-dir unusable" 2
expect_err "--log-dir unusable" '^fastvmm: --log-dir: '

# hang_batch N LOGDIR OUT ERR : N instances of hang.elf in the background (their launcher's
# pid in L, its stdout in OUT and stderr in ERR); returns once LOGDIR holds N logs, or after 10 s.
hang_batch() {
	"$FASTVMM" -n "$1" --kernel "$GUESTS/hang.elf" --log-dir "$2" >"$3" 2>"$4" </dev/null &
	L=$!
	for _ in $(seq 100); do
		[ "$(ls "$2" 2>/dev/null | wc -l)" -eq "$1" ] && break
		sleep 0.1
	done
}

# SIGTERM mid-batch: every child killed and reaped, the partial report, non-zero status.
hang_batch 4 "$TMP/hanglogs" "$TMP/term.out" "$TMP/term.err"
pids=$(children_of $L)
kids=$(echo $pids | wc -w)
kill -TERM $L
rc=0
wait $L || rc=$?
# The launcher is gone: a survivor would have been re-parented, so look for the pids themselves.
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
[ "$kids" -eq 4 ] && ok "SIGTERM: 4 instances were running" || not_ok "SIGTERM: $kids instances running before the signal" "$TMP/term.out"
[ "$rc" -eq 143 ] && ok "SIGTERM: exit status 143" || not_ok "SIGTERM: exit status $rc" "$TMP/term.out" "$TMP/term.err"
if [ -z "$left" ]; then ok "SIGTERM: no child process left"; else not_ok "SIGTERM: processes left: $left"; fi
expect_out "SIGTERM partial report" '^0/4 ok, 4 launched' "$TMP/term.out"
expect_out "SIGTERM partial report" '^failures: interrupted 4$' "$TMP/term.out"

# The launcher dies without a chance to clean up (SIGKILL): its children die with it
# (PR_SET_PDEATHSIG). A dead child may linger as a zombie of init for a moment; a live one fails.
hang_batch 3 "$TMP/killlogs" /dev/null /dev/null
pids=$(children_of $L)
{
	kill -KILL $L
	wait $L
} 2>/dev/null
wait_gone "$pids" 100
if [ -n "$pids" ] && [ -z "$ALIVE" ]; then ok "launcher SIGKILLed: its instances die too"; else not_ok "launcher SIGKILLed: instances alive:$ALIVE (of: $pids)"; fi

finish
