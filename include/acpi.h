/* include/acpi.h — ACPI tables built by fastvmm (boot/acpi.c) and the tiny AML encoder they use
 * (boot/aml.c).
 *
 * The tables describe a hardware-reduced ACPI machine (ACPI 6.x §4.1): RSDP → XSDT → FADT
 * (HW_REDUCED_ACPI, sleep control/status registers in port I/O, reset register = the i8042),
 * MADT (one LAPIC per vCPU, the IOAPIC), DSDT (one LNRO0005 virtio-mmio device per slot with
 * Memory32Fixed + Interrupt resources, and \_S5_ for poweroff). */
#ifndef FASTVMM_ACPI_H
#define FASTVMM_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"
#include "guest_mem.h"

/* ---- AML encoder (ACPI 6.x §20) ---- */
struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow; /* a write did not fit: the output is unusable */
};
void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
/* PkgLength (§20.2.4) for `content` bytes that follow it; the encoded value includes the
 * PkgLength bytes themselves. Writes 1-4 bytes to out, returns the count, 0 if too large. */
unsigned aml_pkglen(uint8_t out[4], size_t content);
/* NameString: "ABCD" (NameSeg, padded with '_' if shorter) or "\\ABCD" (root prefix). */
void aml_namestring(struct aml *a, const char *name);
/* Integer with the shortest encoding: ZeroOp, OneOp, Byte/Word/DWord/QWordPrefix. */
void aml_integer(struct aml *a, uint64_t v);
/* String: StringPrefix, ASCII, NUL. */
void aml_string(struct aml *a, const char *s);
/* EisaId("PNP0501") as a DWord integer. */
void aml_eisaid(struct aml *a, const char *id);
/* Name(name, ...): the value follows as the next term. */
void aml_name(struct aml *a, const char *name);
/* Open a PkgLength-delimited term: Scope, Device (ExtOp), Package, Buffer. aml_end() closes the
 * innermost one given its mark. */
size_t aml_scope_begin(struct aml *a, const char *name);
size_t aml_device_begin(struct aml *a, const char *name);
size_t aml_package_begin(struct aml *a, uint8_t nelems);
/* Method (NAME, nargs) { ... aml_end() } and Notify (TARGET, value). */
size_t aml_method_begin(struct aml *a, const char *name, uint8_t nargs);
void aml_notify(struct aml *a, const char *target, uint64_t value);
void aml_end(struct aml *a, size_t mark);
/* Buffer(){bytes}. */
void aml_buffer(struct aml *a, const void *bytes, size_t n);
/* Resource descriptors (§6.4) into buf; return their size. */
size_t aml_res_memory32_fixed(uint8_t *buf, bool writable, uint32_t base, uint32_t len);
size_t aml_res_irq_edge_high(uint8_t *buf, uint32_t gsi);    /* Extended Interrupt, 1 GSI */
size_t aml_res_io(uint8_t *buf, uint16_t port, uint8_t len); /* IO (Decode16, p, p, 1, len) */
size_t aml_res_end(uint8_t *buf);

/* ---- tables ---- */
struct acpi_mmio_dev {
	uint64_t base;
	uint32_t size, gsi;
};
uint8_t acpi_checksum(const uint8_t *p, size_t n);
/* Build all tables in [ACPI_START, BIOS_END) of guest RAM; *rsdp receives the RSDP's address. */
int boot_acpi(const struct guest_mem *gm, unsigned ncpus, const struct acpi_mmio_dev *devs,
              unsigned ndevs, uint64_t *rsdp, struct err *e);
/* The VM Generation ID (Microsoft's "Virtual Machine Generation ID" spec, Linux's
 * drivers/virt/vmgenid.c): 16 bytes at VMGENID_ADDR, described by \_SB.VGEN; a new value and
 * an edge on VMGENID_GSI (the Generic Event Device \_SB.GED0, whose _EVT notifies VGEN) tell
 * the guest it runs as a new copy (a clone of a snapshot). boot_acpi() writes a random one. */
int acpi_vmgenid_write(const struct guest_mem *gm);
/* Only the DSDT's AML body (after the 36-byte header), for tests. Returns its length or
 * -E2BIG. */
int acpi_dsdt_body(uint8_t *buf, size_t cap, const struct acpi_mmio_dev *devs, unsigned ndevs);

/* The FADT's sleep control/status registers as a port I/O device (devices/acpi_sleep.c). */
struct vm;
int acpi_sleep_init(struct vm *vm);

#endif
