// SPDX-License-Identifier: LGPL-2.1-or-later
#include <unistd.h>

#include "common/workers.h"

unsigned loom_workers_default(unsigned max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 && (unsigned long)n <= max ? (unsigned)n : 1;
}

int loom_workers_start(pthread_t *threads, unsigned n, void *(*fn)(void *), void *args,
		       size_t stride, atomic_bool *stop)
{
	for (unsigned i = 0; i < n; i++) {
		int r = pthread_create(&threads[i], NULL, fn, (char *)args + i * stride);

		if (r) {
			loom_workers_join(threads, i, stop);
			return -r;
		}
	}
	return 0;
}

void loom_workers_join(pthread_t *threads, unsigned n, atomic_bool *stop)
{
	atomic_store(stop, true);
	for (unsigned i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
}
