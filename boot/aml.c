/* boot/aml.c — just enough AML (ACPI 6.x §20.2) for fastvmm's DSDT: names, integers,
 * strings, packages, buffers, scopes and devices. Output goes into a caller's buffer; an
 * overflow is sticky and reported, never a write past the end. */
#include <string.h>

#include "acpi.h"
#include "cc.h"

#define AML_ZERO          0x00
#define AML_ONE           0x01
#define AML_NAME_OP       0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP      0x10
#define AML_BUFFER_OP     0x11
#define AML_PACKAGE_OP    0x12
#define AML_METHOD_OP     0x14
#define AML_NOTIFY_OP     0x86
#define AML_EXT_OP        0x5b
#define AML_DEVICE_OP     0x82 /* after AML_EXT_OP */
#define AML_ROOT_CHAR     0x5c

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->len = 0;
	a->cap = cap;
	a->overflow = false;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

unsigned aml_pkglen(uint8_t out[4], size_t content)
{
	for (unsigned n = 1; n <= 4; n++) {
		size_t total = content + n;
		size_t max = n == 1 ? 0x3f : (1ULL << (4 + 8 * (n - 1))) - 1;
		if (total > max)
			continue;
		if (n == 1) {
			out[0] = (uint8_t)total;
		} else {
			out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
			for (unsigned i = 1; i < n; i++)
				out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
		}
		return n;
	}
	return 0;
}

static void nameseg(struct aml *a, const char *s)
{
	char seg[4] = {'_', '_', '_', '_'};
	for (int i = 0; i < 4 && s[i]; i++)
		seg[i] = s[i];
	aml_bytes(a, seg, 4);
}

void aml_namestring(struct aml *a, const char *name)
{
	if (name[0] == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		name++;
	}
	nameseg(a, name);
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n;
	if (v == 0 || v == 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
		return;
	}
	if (v <= 0xff) {
		b[0] = AML_BYTE_PREFIX, n = 1;
	} else if (v <= 0xffff) {
		b[0] = AML_WORD_PREFIX, n = 2;
	} else if (v <= 0xffffffff) {
		b[0] = AML_DWORD_PREFIX, n = 4;
	} else {
		b[0] = AML_QWORD_PREFIX, n = 8;
	}
	for (size_t i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n + 1);
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_eisaid(struct aml *a, const char *id)
{
	/* "PNP0501": three letters of 5 bits (A = 1), then four hex digits; stored big-endian in
	 * a little-endian DWord (ACPI 6.x §19.6.35, EISAID macro). */
	uint32_t v = 0;
	for (int i = 0; i < 3; i++)
		v = (v << 5) | (uint32_t)((id[i] - 0x40) & 0x1f);
	for (int i = 3; i < 7; i++) {
		char c = id[i];
		v = (v << 4) | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	/* v = vendor:15 | product:16 in bits 30..0; the byte order is MSB first. */
	aml_integer(a, ((v >> 24) & 0xff) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) |
	                       ((v << 24) & 0xff000000u));
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
}

/* The PkgLength is written by aml_end(); 4 bytes are reserved here and the contents moved
 * down once their size (and so the PkgLength's own size) is known. */
static size_t begin(struct aml *a)
{
	size_t mark = a->len;
	aml_bytes(a, "\0\0\0\0", 4);
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	if (a->overflow || mark + 4 > a->len)
		return;
	size_t content = a->len - mark - 4;
	uint8_t pl[4];
	unsigned n = aml_pkglen(pl, content);
	if (!n) {
		a->overflow = true;
		return;
	}
	memmove(a->buf + mark + n, a->buf + mark + 4, content);
	memcpy(a->buf + mark, pl, n);
	a->len = mark + n + content;
}

size_t aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_SCOPE_OP);
	size_t m = begin(a);
	aml_namestring(a, name);
	return m;
}

size_t aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_OP);
	aml_byte(a, AML_DEVICE_OP);
	size_t m = begin(a);
	aml_namestring(a, name);
	return m;
}

size_t aml_method_begin(struct aml *a, const char *name, uint8_t nargs)
{
	aml_byte(a, AML_METHOD_OP);
	size_t m = begin(a);
	aml_namestring(a, name);
	aml_byte(a, nargs & 7); /* MethodFlags: ArgCount, not serialized, SyncLevel 0 */
	return m;
}

void aml_notify(struct aml *a, const char *target, uint64_t value)
{
	aml_byte(a, AML_NOTIFY_OP);
	aml_namestring(a, target);
	aml_integer(a, value);
}

size_t aml_package_begin(struct aml *a, uint8_t nelems)
{
	aml_byte(a, AML_PACKAGE_OP);
	size_t m = begin(a);
	aml_byte(a, nelems);
	return m;
}

void aml_buffer(struct aml *a, const void *bytes, size_t n)
{
	aml_byte(a, AML_BUFFER_OP);
	size_t m = begin(a);
	aml_integer(a, n);
	aml_bytes(a, bytes, n);
	aml_end(a, m);
}

size_t aml_res_memory32_fixed(uint8_t *buf, bool writable, uint32_t base, uint32_t len)
{
	buf[0] = 0x86; /* large item, Memory32Fixed */
	put_le16(buf + 1, 9);
	buf[3] = writable ? 1 : 0;
	put_le32(buf + 4, base);
	put_le32(buf + 8, len);
	return 12;
}

size_t aml_res_irq_edge_high(uint8_t *buf, uint32_t gsi)
{
	buf[0] = 0x89; /* large item, Extended Interrupt */
	put_le16(buf + 1, 6);
	buf[3] = 0x03; /* consumer, edge, active-high, exclusive */
	buf[4] = 1;    /* one interrupt */
	put_le32(buf + 5, gsi);
	return 9;
}

size_t aml_res_io(uint8_t *buf, uint16_t port, uint8_t len)
{
	buf[0] = 0x47; /* small item, I/O port, length 7 */
	buf[1] = 1;    /* 16-bit decode */
	put_le16(buf + 2, port);
	put_le16(buf + 4, port);
	buf[6] = 1; /* alignment */
	buf[7] = len;
	return 8;
}

size_t aml_res_end(uint8_t *buf)
{
	buf[0] = 0x79; /* small item, End Tag */
	buf[1] = 0;    /* checksum 0: "treated as correct" (§6.4.2.9) */
	return 2;
}
