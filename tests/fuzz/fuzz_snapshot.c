/* Fuzz target: the snapshot state parser (vmm/snapshot_format.c), what --restore DIR and a
 * daemon template from a snapshot read first. Input: one byte choosing the header's version
 * (bit 0: 1 or 2) and whether the checksums are made right (bit 1 clear: they are, so the
 * fuzzer reaches the sections instead of stopping at the CRC), then the body. A state that
 * decodes must encode again and decode to the same bytes. */
#include <stdlib.h>

#include "fuzz.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	size_t body = size - 1, len = 32 + body;
	uint8_t *buf = malloc(len);
	if (!buf)
		return 0;
	uint32_t version = data[0] & 1 ? 2 : 1, flags = 0, crc;
	uint64_t blen = body;
	memcpy(buf, SNAP_MAGIC, 8);
	memcpy(buf + 8, &version, 4);
	memcpy(buf + 12, &flags, 4);
	memcpy(buf + 16, &blen, 8);
	memcpy(buf + 32, data + 1, body);
	crc = data[0] & 2 ? 0 : crc32c(0, buf + 32, body);
	memcpy(buf + 24, &crc, 4);
	crc = data[0] & 2 ? 0 : crc32c(0, buf, 28);
	memcpy(buf + 28, &crc, 4);
	struct snapshot s;
	struct err e;
	if (snapshot_decode(&s, buf, len, "fuzz/state", &e) == 0) {
		uint8_t *out;
		size_t olen;
		if (snapshot_encode(&s, &out, &olen) == 0) {
			struct snapshot d;
			if (snapshot_decode(&d, out, olen, "fuzz/state", &e) != 0)
				__builtin_trap(); /* what we wrote, we must read */
			snapshot_free(&d);
			free(out);
		}
		snapshot_free(&s);
	} else if (!memchr(e.msg, 0, sizeof(e.msg)) || strchr(e.msg, '\n')) {
		__builtin_trap(); /* one line */
	}
	free(buf);
	return 0;
}
