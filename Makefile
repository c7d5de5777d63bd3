# fastvmm — `make` builds, `make test` tests, `make bench` benchmarks, `make install` installs.
CC      ?= gcc
PREFIX  ?= /usr/local
VERSION := 0.1.0
B       := build
# V=1 shows the commands.
Q       := $(if $(V),,@)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-missing-field-initializers
# OPT and SAN are the knobs (CFLAGS given on the command line would drop the includes).
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  += $(OPT) $(SAN) -std=gnu11 $(WARN) -Iinclude -D_GNU_SOURCE -DFASTVMM_VERSION='"$(VERSION)"' \
           -DFASTVMM_GUESTDIR='"$(PREFIX)/share/fastvmm/guests"' -MMD -MP
LDLIBS  += -lpthread -luring -lseccomp
# The daemon (fastvmm serve): HTTP by libmicrohttpd, JSON by jansson (docs/api.md says why).
LDLIBS  += -lmicrohttpd -ljansson
# The fastvmm binary is linked statically: no ld.so work at exec (0.38 ms of a 0.9 ms process
# start here) and nothing to copy into the nested harness's L1. Sanitizer builds cannot be.
STATIC  ?= $(if $(SAN),,-static)

# Guests: freestanding, no FPU/SSE (this host's KVM emulates ring-0 code and lacks SSE).
GCC_GUEST := gcc
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie \
           -fno-stack-protector -fno-asynchronous-unwind-tables -mgeneral-regs-only \
           -mno-red-zone -mcmodel=small -nostdlib -static -no-pie
GUEST_LDFLAGS := -Wl,-T,guests/guest.ld -Wl,--build-id=none -Wl,-z,max-page-size=4096 \
           -Wl,-z,noexecstack

LIB_SRC := $(filter-out vmm/main.c,$(wildcard vmm/*.c)) $(wildcard devices/*.c) $(wildcard boot/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
GUESTS  := hello null exitcode crash hang sse echo blk_rw acpi_off net_echo evil_virtio irq
GUESTS  += pic_pit
GUESTS  += count
GUEST_ELFS := $(GUESTS:%=$(B)/guests/%.elf) $(GUESTS:%=$(B)/guests/%-pvh.elf)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

all: $(B)/fastvmm $(B)/fastvmm-oci $(GUEST_ELFS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The sandbox names a denied system call from this table (vmm/sandbox.c).
$(B)/gen/syscall_names.h:
	@mkdir -p $(dir $@)
	$(Q)echo '#include <sys/syscall.h>' | $(CC) -E -dM - | \
		sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$$/[\2] = "\1",/p' >$@
$(B)/obj/vmm/sandbox.o: $(B)/gen/syscall_names.h $(B)/gen/seccomp_bpf.h
$(B)/obj/vmm/sandbox.o: CFLAGS += -I$(B)/gen
# Every role's seccomp filter, compiled once at build time by libseccomp (vmm/gen/sandbox_gen.c,
# a host tool, so never sanitized itself) for this tree's sanitizer setting: a VM then loads
# them instead of compiling them (~1 ms each, 2-3 per VM, before its first instruction).
$(B)/gen/sandbox_gen: vmm/gen/sandbox_gen.c vmm/sandbox.c vmm/log.c include/sandbox.h \
		$(B)/gen/syscall_names.h
	$(Q)$(CC) -O1 -std=gnu11 $(WARN) -Iinclude -I$(B)/gen -D_GNU_SOURCE -DSANDBOX_GENERATOR \
		-o $@ vmm/gen/sandbox_gen.c vmm/sandbox.c vmm/log.c -lseccomp
$(B)/gen/seccomp_bpf.h: $(B)/gen/sandbox_gen
	$(Q)$< $(if $(SAN),sanitizer) >$@.tmp && mv $@.tmp $@

$(B)/libfastvmm.a: $(LIB_OBJ)
	$(Q)ar rcs $@ $^

# Debian's libmicrohttpd.a is built with HTTPS and refers to GnuTLS, whose static archive in
# turn needs libp11-kit and libunistring, which Debian ships only as shared objects. The API
# is a Unix socket with no TLS, so the static binary links vmm/static/notls.c (the GnuTLS
# entry points libmicrohttpd names, all failing) instead of GnuTLS.
NOTLS   := $(if $(STATIC),$(B)/obj/vmm/static/notls.o)
$(B)/fastvmm: $(B)/obj/vmm/main.o $(B)/libfastvmm.a $(NOTLS)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(SAN) $(STATIC) -o $@ $^ $(LDLIBS)

# The OCI runtime entry point: the same binary, dispatched on its name (vmm/main.c).
$(B)/fastvmm-oci: $(B)/fastvmm
	$(Q)ln -sf fastvmm $@

$(B)/guests/%.o: guests/%.c guests/guest.h guests/virtio_guest.h guests/apic_guest.h include/layout.h
	@mkdir -p $(dir $@)
	$(Q)$(GCC_GUEST) $(GUEST_CFLAGS) -c -o $@ $<
$(B)/guests/%.o: guests/%.S
	@mkdir -p $(dir $@)
	$(Q)$(GCC_GUEST) $(GUEST_CFLAGS) -c -o $@ $<
$(B)/guests/%-pvh.elf: $(B)/guests/%.o $(B)/guests/entry.o $(B)/guests/start_pvh.o guests/guest.ld
	@echo '  GUEST   $@'
	$(Q)$(GCC_GUEST) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -Wl,-e,_start32 -o $@ \
		$(B)/guests/start_pvh.o $(B)/guests/entry.o $<
$(B)/guests/%.elf: $(B)/guests/%.o $(B)/guests/entry.o $(B)/guests/start64.o guests/guest.ld
	@echo '  GUEST   $@'
	$(Q)$(GCC_GUEST) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ \
		$(B)/guests/start64.o $(B)/guests/entry.o $<
.PRECIOUS: $(B)/guests/%.o

# ---- tests ----
$(B)/tests/%: tests/unit/%.c $(B)/libfastvmm.a
	@mkdir -p $(dir $@)
	@echo '  TEST    $@'
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(B)/libfastvmm.a $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

boot-test: all
	tests/boot/run.sh $(B)/fastvmm $(B)/guests

# The same unit and boot tests under AddressSanitizer + UBSan, in their own build tree, with
# the OCI runtime's tests but the install one (which would install that tree); then that build
# inside the nested harness's L1 for the own-guest, serve, snapshot and one Linux and OSv
# scenario, and the OCI runtime's CLI (the only sanitized guest runs on a host without
# /dev/kvm, where the boot tests skip).
SAN_NESTED ?= ^(own-.*|split-own-irq.*|kernel-own-irq|split-virtio-blk-acpi|osv-hello|osv-serve-pool|snapshot-osv-clones|snapshot-serve-own|snapshot-serve-running)$$
sanitize:
	$(MAKE) B=$(B)/san OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		OCI_ONLY='bundle|runtime|ctr|podman' OCI_NO_NESTED=1 unit boot-test test-oci
	NESTED_FASTVMM=$(B)/san/fastvmm NESTED_GUESTS=$(B)/san/guests NESTED_ONLY='$(SAN_NESTED)' \
		tests/nested/run.sh
	NESTED_FASTVMM=$(B)/san/fastvmm NESTED_GUESTS=$(B)/san/guests NESTED_ONLY='^(oci-runtime|oci-linux-stop)$$' \
		NESTED_SCENARIOS=tests/nested/scenarios-oci tests/nested/run.sh

test-nested: all
	tests/nested/run.sh

# The OCI runtime (vmm/oci*.c) under real engines: the CLI alone, containerd + ctr, podman,
# make install into a scratch prefix. OCI_ONLY=REGEX picks scripts (tests/oci/run.sh).
# Then its nested scenarios (tests/nested/scenarios-oci: the CLI and containerd inside L1,
# booting guests on L1's KVM, which hosts without /dev/kvm need), in an L1 of their own.
OCI_ONLY ?=
test-oci: all
	OCI_ONLY='$(OCI_ONLY)' tests/oci/run.sh $(B)/fastvmm $(B)/guests
	$(if $(OCI_NO_NESTED),,NESTED_SCENARIOS=tests/nested/scenarios-oci \
		NESTED_FASTVMM=$(B)/fastvmm NESTED_GUESTS=$(B)/guests tests/nested/run.sh)

# Parse-and-place against Debian's real kernel (bzImage and the vmlinux inside it), fetched
# and cached by the nested harness's kernel step.
$(B)/tests/debian_kernel: tests/unit/debian_kernel.c $(B)/libfastvmm.a
	@mkdir -p $(dir $@)
	@echo '  TEST    $@'
	$(Q)$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(B)/libfastvmm.a $(LDLIBS) -lcmocka

test-debian-kernel: all $(B)/tests/debian_kernel
	@set -e; paths=$$(NESTED_PREPARE_ONLY=1 tests/nested/run.sh | sed -n 's/^nested-kernel: //p'); \
	test -n "$$paths" || { echo "test-debian-kernel: could not fetch the Debian kernel" >&2; exit 1; }; \
	$(B)/tests/debian_kernel $$paths

test: deps all unit test-debian-kernel boot-test test-oci sanitize test-nested
	@echo "make test: all suites passed"

bench: all
	tests/bench/run.sh

# Host-side virtio-blk throughput (issue 5), in-process: no guest, so no emulation cost.
$(B)/bench/%: tests/bench/%.c $(B)/libfastvmm.a
	@mkdir -p $(dir $@)
	@echo '  BENCH   $@'
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(B)/libfastvmm.a $(LDLIBS)
bench-virtio: $(B)/bench/virtio_blk_bench
	$(B)/bench/virtio_blk_bench
bench: bench-virtio

# ---- fuzzing (issue 12): one libFuzzer target per guest- or file-facing parser ----
# Adding a target: tests/fuzz/fuzz_NAME.c, and NAME here.
FUZZ_TARGETS := kernel virtqueue mmio_blk mmio_net boot_info cli api snapshot oci
FUZZ_TIME    ?= 600
FUZZ_SMOKE_TIME ?= 10
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(B)/bin/fuzz_%)
# The library in its own tree, instrumented for coverage (fuzzer-no-link) and sanitizers.
fuzz-build:
	$(MAKE) B=$(B)/fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins
fuzz-bins: $(FUZZ_BINS)
$(B)/bin/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h $(B)/libfastvmm.a
	@mkdir -p $(dir $@)
	@echo '  FUZZ    $@'
	$(Q)$(CC) $(CFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< $(B)/libfastvmm.a $(LDLIBS)
# Seeds from the tests' own inputs (built guests, tests/fuzz/seeds.sh), then a run of each.
fuzz fuzz-smoke: T = $(if $(filter fuzz-smoke,$@),$(FUZZ_SMOKE_TIME),$(FUZZ_TIME))
fuzz fuzz-smoke: fuzz-build all
	tests/fuzz/run.sh $(B)/fuzz/bin $(B)/guests $(B)/fuzz/corpus $(T) $(FUZZ_TARGETS)

# ---- soak and faults (issue 12): SOAK_N launches, SOAK_KILLS interrupted batches ----
SOAK_N     ?= 1000
SOAK_KILLS ?= 20
soak: all
	SOAK_N=$(SOAK_N) SOAK_KILLS=$(SOAK_KILLS) tests/soak/run.sh $(B)/fastvmm $(B)/guests
# The short form make test runs.
soak-ci: all
	SOAK_N=120 SOAK_KILLS=6 tests/soak/run.sh $(B)/fastvmm $(B)/guests
test: fuzz-smoke soak-ci

# fastvmm serve under load (issue 8): warm pool vs cold vs a process per request.
bench-serve: all $(B)/bench/serve_load
	tests/bench/serve.sh $(B)
bench: bench-serve

# ctr run / podman run → guest ready, fastvmm against runc and the engines' own overhead.
bench-oci: all
	tests/bench/oci_bench.sh $(B)
bench: bench-oci

deps:
	@tests/deps.sh

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $(shell git ls-files '*.c' '*.h')

install: all
	install -Dm755 $(B)/fastvmm $(DESTDIR)$(PREFIX)/bin/fastvmm
	ln -sf fastvmm $(DESTDIR)$(PREFIX)/bin/fastvmm-oci
	install -d $(DESTDIR)$(PREFIX)/share/fastvmm/guests
	install -m644 $(GUEST_ELFS) $(DESTDIR)$(PREFIX)/share/fastvmm/guests/
	install -Dm644 fastvmm.1 $(DESTDIR)$(PREFIX)/share/man/man1/fastvmm.1

clean:
	rm -rf $(B)

.PHONY: soak soak-ci fuzz fuzz-smoke fuzz-build fuzz-bins all unit boot-test sanitize test test-nested test-oci test-debian-kernel bench bench-virtio bench-serve bench-oci deps format format-check install clean
-include $(shell find $(B)/obj $(B)/tests -name '*.d' 2>/dev/null)
