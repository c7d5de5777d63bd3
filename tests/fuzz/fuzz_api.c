/* Fuzz target: the daemon's request parser and validator (vmm/api.c), what every API client
 * reaches first. Input: one byte choosing the method, the path up to a NUL, the JSON body
 * (the rest, possibly empty and not NUL-terminated: api_parse() takes a length). */
#include <stdlib.h>

#include "api.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", ""};
	if (size < 2)
		return 0;
	const char *method = methods[data[0] % ARRAY_SIZE(methods)];
	const uint8_t *p = data + 1, *end = data + size;
	const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
	if (!nul)
		return 0;
	char path[512];
	size_t plen = (size_t)(nul - p);
	if (plen >= sizeof(path))
		return 0;
	memcpy(path, p, plen);
	path[plen] = 0;
	size_t blen = (size_t)(end - nul - 1);
	/* A copy of exactly blen bytes on the heap, so ASan sees any read past the body. */
	char *body = blen ? malloc(blen) : NULL;
	if (blen && !body)
		return 0;
	if (blen)
		memcpy(body, nul + 1, blen);
	struct action a;
	char err[256];
	int r = api_parse(&a, method, path, body, blen, err, sizeof(err));
	if (r != 0 && r != 400 && r != 404 && r != 405 && r != 500)
		__builtin_trap(); /* only the statuses api.h promises */
	if (r != 0 && !memchr(err, 0, sizeof(err)))
		__builtin_trap();
	api_action_free(&a);
	free(body);
	return 0;
}
