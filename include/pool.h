/* include/pool.h — a template's warm pool, bookkeeping only (vmm/pool.c; pure, unit-tested).
 *
 * An entry is one waiting instance process (vmm/serve.c forks it): PREPARING until it sends
 * NOTE_PREPARED (built up to the moment before its first KVM_RUN), then READY to be taken. A
 * taken entry leaves the pool; the daemon refills up to `target` off the request path. */
#ifndef FASTVMM_POOL_H
#define FASTVMM_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum pool_state { POOL_PREPARING = 1, POOL_READY };

struct pool_entry {
	int slot;   /* the daemon's instance slot */
	pid_t pid;  /* the waiting process */
	int ctl_fd; /* write end of its control pipe */
	enum pool_state state;
	uint64_t seq; /* order of readiness: the oldest ready entry is taken first */
};

struct pool {
	unsigned target; /* warm VMs wanted */
	unsigned n, cap; /* entries in e[] */
	struct pool_entry *e;
	uint64_t seq;
	unsigned failed_in_row; /* entries that died before PREPARED, since the last success */
	/* Counters for /metrics. */
	uint64_t hits, misses, refills, failures;
};

/* target warm VMs (0: no pool). -ENOMEM. */
int pool_init(struct pool *p, unsigned target);
void pool_free(struct pool *p);
/* How many entries to start now: target - entries, 0 once POOL_GIVE_UP entries in a row died
 * before becoming ready (a template that cannot build; pool_reset_failures() retries). */
#define POOL_GIVE_UP 3
unsigned pool_deficit(const struct pool *p);
unsigned pool_count(const struct pool *p, enum pool_state st);
/* A new PREPARING entry. -ENOSPC if the pool already holds target entries. */
int pool_add(struct pool *p, int slot, pid_t pid, int ctl_fd);
/* The entry of slot is ready. -ENOENT if no such entry. */
int pool_prepared(struct pool *p, int slot);
/* Take the oldest READY entry into *out (it leaves the pool); false if none (a miss, when
 * the pool has a target). */
bool pool_take(struct pool *p, struct pool_entry *out);
/* Remove slot's entry (its process died, or the pool is being emptied) into *out; counts a
 * failure if it was still PREPARING. false if slot is not in this pool. */
bool pool_remove(struct pool *p, int slot, struct pool_entry *out);
/* Find slot's entry; NULL if absent. */
struct pool_entry *pool_find(struct pool *p, int slot);

#endif
