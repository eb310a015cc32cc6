// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The rt_ handle: open, the control thread's processing step, close.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "rt-internal.h"

#define RT_BUF_SIZE (64 * 1024)

static void cfg_defaults(struct rt_cfg *c, const struct rt_cfg *in)
{
	if (in)
		*c = *in;
	else
		memset(c, 0, sizeof(*c));
	if (!c->batch)
		c->batch = 512;
	if (!c->publish_delay_ms)
		c->publish_delay_ms = 20;
	if (!c->resolve_interval_ms)
		c->resolve_interval_ms = 1000;
	if (!c->resolve_queue)
		c->resolve_queue = 1024;
	if (c->resolve_queue > (1u << 20))
		c->resolve_queue = 1u << 20;
	if (!c->rcvbuf)
		c->rcvbuf = 4u << 20;
}

static int table_new(struct rt_table **out, const struct rt_cfg *cfg)
{
	struct rt_table *rt = aligned_alloc(LOOM_CACHELINE,
					    (sizeof(*rt) + LOOM_CACHELINE - 1) &
						    ~(size_t)(LOOM_CACHELINE - 1));

	if (!rt)
		return -ENOMEM;
	memset(rt, 0, sizeof(*rt));
	cfg_defaults(&rt->cfg, cfg);
	rt_model_init(&rt->m);
	for (int i = 0; i < RT_CTR_MAX; i++)
		atomic_init(&rt->ctr[i], 0);
	for (int i = 0; i < RT_RL_SLOTS; i++)
		atomic_init(&rt->rl[i], 0);
	int r = rt_resolve_init(rt);

	if (r < 0) {
		free(rt);
		return r;
	}
	*out = rt;
	return 0;
}

int rt_open_offline(struct rt_table **out, const struct rt_cfg *cfg)
{
	struct rt_table *rt;
	int r = table_new(&rt, cfg);

	if (r < 0)
		return r;
	rt->offline = true;
	r = rt_publish(rt);
	if (r < 0) {
		rt_close(rt);
		return r;
	}
	*out = rt;
	return 0;
}

int rt_open(struct rt_table **out, const struct rt_cfg *cfg)
{
	struct rt_table *rt;
	int r = table_new(&rt, cfg);

	if (r < 0)
		return r;
	rt->buf_size = RT_BUF_SIZE;
	rt->buf = malloc(rt->buf_size);
	if (!rt->buf)
		r = -ENOMEM;
	if (r == 0)
		r = rt_nl_open(rt);
	if (r == 0)
		r = rt_nl_dump_all(rt);
	if (r == 0)
		r = rt_publish(rt);
	if (r < 0) {
		rt_close(rt);
		return log_debug_errno(r, "rt: open");
	}
	*out = rt;
	return 0;
}

void rt_close(struct rt_table *rt)
{
	if (!rt)
		return;
	struct rt_view *v = rt->view;

	rcu_assign_pointer(rt->view, NULL);
	/* synchronize_rcu() and rcu_barrier() must not run while the calling
	 * QSBR thread counts as a reader: step offline around them. */
	bool online = rcu_read_ongoing();

	if (online)
		rcu_thread_offline();
	synchronize_rcu();
	rcu_barrier(); /* the garbage call_rcu() still holds */
	if (online)
		rcu_thread_online();
	rt_view_free_now(v);
	rt_nl_close(rt);
	rt_model_clear(rt);
	rt_resolve_fini(rt);
	free(rt->buf);
	free(rt);
}

int rt_fd(const struct rt_table *rt)
{
	return rt->ev_nl ? mnl_socket_get_fd(rt->ev_nl) : -1;
}

int rt_process(struct rt_table *rt)
{
	bool drained = true;
	int r = 0;

	if (!rt->offline)
		r = rt_nl_read_events(rt, rt->cfg.batch, &drained);
	if (r < 0)
		return r;
	/* Requests go out after the events: a notification that the entry
	 * became reachable makes a queued request moot, but it is harmless. */
	unsigned sent = rt_resolve_drain(rt, rt->cfg.batch);
	bool more_req = sent == rt->cfg.batch;

	if (rt->dirty_fib || rt->dirty_links || rt->dirty_neigh) {
		/*
		 * Publish when the burst is over, or when it has lasted
		 * long enough; a big route table's build then costs at most
		 * about a fifth of the control thread under sustained churn.
		 */
		uint64_t delay = rt->cfg.publish_delay_ms;
		uint64_t build_ms = rt->fib_build_us / 1000;

		if (rt->dirty_fib && build_ms * 4 > delay)
			delay = build_ms * 4;
		if (drained || rt_now_ms() - rt->dirty_since_ms >= delay) {
			r = rt_publish(rt);
			if (r < 0)
				return r;
		}
	}
	return !drained || more_req || rt->dirty_fib || rt->dirty_links || rt->dirty_neigh;
}
