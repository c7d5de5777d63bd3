/* vmm/pool.c — warm pool bookkeeping (include/pool.h). A handful of entries per template:
 * plain arrays and linear scans; the processes themselves are vmm/serve.c's business. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

int pool_init(struct pool *p, unsigned target)
{
	memset(p, 0, sizeof(*p));
	p->target = target;
	p->cap = target;
	if (target && !(p->e = calloc(target, sizeof(*p->e))))
		return -ENOMEM;
	return 0;
}

void pool_free(struct pool *p)
{
	free(p->e);
	memset(p, 0, sizeof(*p));
}

unsigned pool_deficit(const struct pool *p)
{
	if (p->failed_in_row >= POOL_GIVE_UP || p->n >= p->target)
		return 0;
	return p->target - p->n;
}

unsigned pool_count(const struct pool *p, enum pool_state st)
{
	unsigned c = 0;
	for (unsigned i = 0; i < p->n; i++)
		c += p->e[i].state == st;
	return c;
}

int pool_add(struct pool *p, int slot, pid_t pid, int ctl_fd)
{
	if (p->n >= p->cap)
		return -ENOSPC;
	p->e[p->n++] = (struct pool_entry){slot, pid, ctl_fd, POOL_PREPARING, 0};
	p->refills++;
	return 0;
}

struct pool_entry *pool_find(struct pool *p, int slot)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->e[i].slot == slot)
			return &p->e[i];
	return NULL;
}

int pool_prepared(struct pool *p, int slot)
{
	struct pool_entry *e = pool_find(p, slot);
	if (!e)
		return -ENOENT;
	if (e->state != POOL_READY) {
		e->state = POOL_READY;
		e->seq = ++p->seq;
		p->failed_in_row = 0;
	}
	return 0;
}

static void drop(struct pool *p, unsigned i, struct pool_entry *out)
{
	if (out)
		*out = p->e[i];
	p->e[i] = p->e[--p->n];
}

bool pool_take(struct pool *p, struct pool_entry *out)
{
	unsigned best = p->n;
	for (unsigned i = 0; i < p->n; i++)
		if (p->e[i].state == POOL_READY && (best == p->n || p->e[i].seq < p->e[best].seq))
			best = i;
	if (best == p->n) {
		if (p->target)
			p->misses++;
		return false;
	}
	drop(p, best, out);
	p->hits++;
	return true;
}

bool pool_remove(struct pool *p, int slot, struct pool_entry *out)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->e[i].slot != slot)
			continue;
		if (p->e[i].state == POOL_PREPARING) {
			p->failures++;
			p->failed_in_row++;
		}
		drop(p, i, out);
		return true;
	}
	return false;
}
