/* Fuzz target: the command line. Input: NUL-separated arguments (at most 64). */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[8192];
	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	char *argv[66] = {"fastvmm"};
	int argc = 1;
	for (char *p = buf; p <= buf + size && argc < 65;) {
		argv[argc++] = p;
		p += strlen(p) + 1;
	}
	argv[argc] = NULL;
	struct cli c;
	struct err e;
	config_parse(&c, argc, argv, &e);
	return 0;
}
