// SPDX-License-Identifier: LGPL-2.1-or-later
// Live statistics: GET /api/v1/statistics (the engines' service ports and
// devices, the managers' services, read from their shared-memory tables)
// polled every POLL_MS. Counters become rates between two polls for the
// charts; the tables show the totals, each device's state and each port's
// chain in place. A table the provisioner could not read says why in its
// place, and the rest is still drawn.

import { api } from './api.js';
import { h, showError, clearError, errorBox } from './dom.js';
import { lineChart } from './chart.js';

const POLL_MS = 1000;
const KEEP = 180; /* samples: three minutes */

/* Per series, the last counter seen and the rates derived from it. */
function rates() {
	const last = new Map(), series = new Map();
	return {
		/* a counter's value at t; the rate since the previous poll joins its series */
		add(name, t, value) {
			const prev = last.get(name);
			last.set(name, { t, value });
			if (!prev || t <= prev.t || value < prev.value) /* first sample, or a restart */
				return;
			const s = series.get(name) ?? [];
			s.push({ t, v: ((value - prev.value) * 1000) / (t - prev.t) });
			if (s.length > KEEP)
				s.shift();
			series.set(name, s);
		},
		pick(names) {
			return names.filter((n) => series.has(n)).map((n) => ({ name: n, values: series.get(n) }));
		},
	};
}

const num = (v) => (v === undefined || v === null ? '—' : Number(v).toLocaleString('en-US'));

function table(caption, cols, rows) {
	return h('table', { class: 'stats' },
		h('caption', { class: 'sr-only', text: caption }),
		h('thead', {}, h('tr', {}, cols.map(([label, right]) =>
			h('th', { scope: 'col', class: right ? 'num' : null, text: label })))),
		h('tbody', {}, rows));
}

function deviceState(d) {
	if (d.state === 'down' && d['alternate-in-place'])
		return [`down, ${d.alternate} in place`, 'state-alt'];
	return [d.state, d.state === 'up' ? 'state-up' : 'state-down'];
}

function engineView(e, t, r) {
	const title = `Engine ${e.instance}`;
	if (e.error)
		return h('section', { class: 'panel', 'data-instance': e.instance },
			h('h3', { text: title }), h('p', { class: 'error', text: e.error }));
	const ports = e.chains.map((c) => ({ ...c, key: `${c.service} :${c.port}` }));
	for (const p of ports)
		r.add(`port ${p.key}`, t, p.packets ?? 0);
	const devices = e.devices ?? [];
	for (const d of devices)
		r.add(`device ${d.name}`, t, d.packets ?? 0);
	const portRows = ports.map((p) => h('tr', { 'data-service': p.service, 'data-port': p.port },
		h('th', { scope: 'row', text: p.service }), h('td', { text: `${p.address} ${p.protocol} ${p.port}` +
			(p['port-high'] !== p.port ? `-${p['port-high']}` : '') }),
		p.chain !== undefined ? h('td', { class: 'chain', text: p.chain || '—' }) : null,
		h('td', { class: 'num packets', text: num(p.packets) }),
		h('td', { class: 'num bytes', text: num(p.bytes) })));
	const devRows = devices.map((d) => {
		const [state, cls] = deviceState(d);
		return h('tr', { 'data-device': d.name },
			h('th', { scope: 'row', text: d.name }),
			h('td', { class: `state ${cls}`, text: state }),
			h('td', { class: 'num', text: d.probed ? `${num(d['rtt-us'])} µs` : 'not probed' }),
			h('td', { class: 'num packets', text: num(d.packets) }),
			h('td', { class: 'num bytes', text: num(d.bytes) }));
	});
	const hasChain = ports.some((p) => p.chain !== undefined);
	return h('section', { class: 'panel', 'data-instance': e.instance },
		h('h3', { text: title }),
		h('p', { class: 'muted', text: `definitions version ${e['definitions-version']}` +
			(e.statistics ? '' : '; no statistics segment: no packet counts') }),
		h('div', { class: 'charts' },
			lineChart(`Packets/s per service port, ${e.instance}`, r.pick(ports.map((p) => `port ${p.key}`)), '/s'),
			devices.length ? lineChart(`Packets/s per device, ${e.instance}`,
				r.pick(devices.map((d) => `device ${d.name}`)), '/s') : null),
		h('h4', { text: 'Service ports' }),
		ports.length ? table(`Service ports of ${e.instance}`,
			[['Service'], ['Address, protocol, port'], ...(hasChain ? [['Chain in place']] : []),
			 ['Packets', true], ['Bytes', true]], portRows)
			: h('p', { class: 'muted', text: 'No service port.' }),
		devices.length ? [h('h4', { text: 'Devices' }), table(`Devices of ${e.instance}`,
			[['Device'], ['State'], ['Probe round trip', true], ['Packets', true], ['Bytes', true]],
			devRows)] : null);
}

function managerView(m, t, r) {
	const title = `Service manager ${m.instance}`;
	if (m.error)
		return h('section', { class: 'panel', 'data-instance': m.instance },
			h('h3', { text: title }), h('p', { class: 'error', text: m.error }));
	for (const s of m.services)
		r.add(`decided ${s.name}`, t, s.decided);
	const rows = m.services.map((s) => h('tr', { 'data-service': s.name },
		h('th', { scope: 'row', text: s.name }), h('td', { text: s.virtual ?? s.type }),
		h('td', { class: 'num decided', text: num(s.decided) }),
		h('td', { class: 'num', text: num(s.answered) }),
		h('td', { class: 'num', text: num(s.dropped) }),
		h('td', { class: 'num', text: num(s.active_flows) }),
		h('td', { text: s.backends.map((b) => `${b.endpoint} ${b.up ? 'up' : 'down'} ` +
			`(${num(b.decided)} decided)`).join(', ') || '—' })));
	return h('section', { class: 'panel', 'data-instance': m.instance },
		h('h3', { text: title }),
		h('div', { class: 'charts' },
			lineChart(`New flows/s per service, ${m.instance}`,
				r.pick(m.services.map((s) => `decided ${s.name}`)), '/s')),
		m.services.length ? table(`Services of ${m.instance}`,
			[['Service'], ['Virtual'], ['Decided', true], ['Answered', true], ['Dropped', true],
			 ['Active flows', true], ['Backends']], rows)
			: h('p', { class: 'muted', text: 'No service.' }));
}

export function statsView(root) {
	const err = errorBox('err-stats');
	const body = h('div', { 'aria-live': 'off' });
	const r = rates();
	let timer = null, stopped = false;

	async function poll() {
		timer = null;
		if (stopped)
			return;
		if (!document.hidden) {
			try {
				const doc = await api('GET', 'statistics');
				const t = Date.now();
				clearError(err);
				const parts = [...doc.engines.map((e) => engineView(e, t, r)),
					       ...doc.managers.map((m) => managerView(m, t, r))];
				body.replaceChildren(...(parts.length ? parts : [h('p', { class: 'muted',
					text: 'The provisioner reads no daemon\'s tables (its configuration\'s ' +
					      'statistics: list is empty).' })]));
			} catch (e) {
				showError(err, null, e);
			}
		}
		if (!stopped)
			timer = setTimeout(poll, POLL_MS);
	}

	root.append(h('section', { 'aria-labelledby': 'h-stats' },
		h('h2', { id: 'h-stats', text: 'Statistics' }),
		h('p', { class: 'muted', text: `Live from the daemons' tables, updated every ${POLL_MS / 1000} s.` }),
		err, body));
	poll();
	return () => {
		stopped = true;
		clearTimeout(timer);
	};
}
