// SPDX-License-Identifier: LGPL-2.1-or-later
// Live statistics: the API polled every POLL_MS, charts redrawn each time.
// The API has no traffic counters yet (docs/webui.md names the endpoint
// this view needs); until then it charts what the API does have: the
// definitions and how long the provisioner takes to answer.

import { api, isProvider } from './api.js';
import { h, showError, clearError, errorBox } from './dom.js';
import { lineChart } from './chart.js';

const POLL_MS = 2000;
const KEEP = 90; /* samples: three minutes */

export function statsView(root) {
	const err = errorBox('err-stats');
	const charts = h('div', { class: 'charts', 'aria-live': 'off' });
	const series = {};
	let timer = null, stopped = false;

	const push = (name, t, v) => {
		const s = (series[name] ??= []);
		s.push({ t, v });
		if (s.length > KEEP)
			s.shift();
	};
	const pick = (...names) => names.filter((n) => series[n]).map((n) => ({ name: n, values: series[n] }));

	async function poll() {
		timer = null;
		if (stopped)
			return;
		if (!document.hidden) {
			const t = Date.now(), start = performance.now();
			try {
				const [services, vs, devices, versions] = await Promise.all([
					api('GET', 'services'), api('GET', 'virtual-services'),
					isProvider() ? api('GET', 'devices') : null,
					isProvider() ? api('GET', 'versions') : null]);
				push('API round trip', t, performance.now() - start);
				push('services', t, services.length);
				push('virtual services', t, vs.length);
				push('backends', t, vs.reduce((n, v) => n + v.backends.length, 0));
				if (devices)
					push('devices', t, devices.length);
				if (versions)
					push('version', t, versions[0]?.version ?? 0);
				clearError(err);
				charts.replaceChildren(
					lineChart('Definitions', pick('services', 'virtual services', 'backends', 'devices')),
					lineChart('Current version', pick('version')),
					lineChart('API round trip', pick('API round trip'), ' ms'));
			} catch (e) {
				showError(err, null, e);
			}
		}
		if (!stopped)
			timer = setTimeout(poll, POLL_MS);
	}

	root.append(h('section', { 'aria-labelledby': 'h-stats' },
		h('h2', { id: 'h-stats', text: 'Statistics' }),
		h('p', { class: 'muted', text: `Updated every ${POLL_MS / 1000} s. Traffic counters per service ` +
			 'and device health appear here once the API serves them.' }),
		err, charts));
	poll();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
