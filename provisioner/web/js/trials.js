// SPDX-License-Identifier: LGPL-2.1-or-later
// A service's replicas, trials and cut-over (docs/provisioner.md "Replicas,
// trials and cut-over"): replicate it under a new address, try its chain (a
// TCP handshake through every device, run by the engines) and read each
// trial's report, cut it over to a replica whose chain passed.

import { api } from './api.js';
import { announce, clearError, errorBox, h, showError } from './dom.js';

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/* One engine's report: what each device did, and the hops in order. */
function engineReport(name, r) {
	const yes = (b) => h('span', { class: b ? 'state-up' : 'state-down', text: b ? 'yes' : 'no' });
	return h('div', { class: 'trial-engine', 'data-engine': name },
		h('h5', { text: `Engine ${name}: ${r.ok ? 'passed' : 'failed'}` +
			       (r['rtt-us'] !== undefined ? `, ${r['rtt-us']} µs` : '') }),
		r.reason ? h('p', { class: 'state-down', text: r.reason }) : '',
		(r.devices ?? []).length ? h('table', {},
			h('caption', { class: 'sr-only', text: `Devices tried by ${name}` }),
			h('thead', {}, h('tr', {}, ['device', 'SYN came back', 'SYN-ACK came back']
				.map((c) => h('th', { scope: 'col', text: c })))),
			h('tbody', {}, r.devices.map((d) => h('tr', { 'data-device': d.name },
				h('td', { text: d.name }), h('td', {}, yes(d.forward)),
				h('td', {}, yes(d.reply)))))) : '',
		(r.hops ?? []).length ? h('ol', { class: 'hops', 'aria-label': `Hops seen by ${name}` },
			r.hops.map((p) => h('li', { text: `${p.direction}: ${p.from} → ${p.to} ` +
							  `(+${p.us} µs)` }))) : '');
}

function trialView(t) {
	const engines = t.report?.engines ?? {};
	return h('article', { class: 'trial', 'data-trial': t.id, 'data-state': t.state },
		h('h4', { text: `Trial ${t.id}: port ${t.port}, ${t.state}` }),
		t.report?.reason ? h('p', { class: 'state-down', text: t.report.reason }) : '',
		Object.entries(engines).map(([name, r]) => engineReport(name, r)));
}

/*
 * The panel for service (an object as the API shows it); services are the
 * others it may be cut over from; changed() after a replica or a cut-over.
 */
export function trialsPanel(service, services, changed) {
	const err = errorBox(`err-trials-${service.id}`);
	const list = h('div', { 'aria-live': 'polite' });
	const name = h('input', { id: `rep-name-${service.id}`, 'data-field': 'name' });
	const address = h('input', { id: `rep-addr-${service.id}`, 'data-field': 'address' });
	const replicas = services.filter((s) => s.id !== service.id && s.customer === service.customer);
	const from = h('select', { id: `cut-from-${service.id}`, 'data-field': 'from' },
		replicas.map((s) => h('option', { value: s.id, text: `${s.name} (${s.address})` })));
	const panel = h('section', { class: 'panel',
				     'aria-label': `Replicas, trials and cut-over of ${service.name}` });

	const show = async () => {
		const all = await api('GET', 'trials');
		const mine = all.filter((t) => t.service === service.id).reverse();
		list.replaceChildren(...(mine.length ? mine.map(trialView)
			: [h('p', { class: 'muted', text: 'Not tried yet.' })]));
	};
	const act = (fn) => async () => {
		clearError(err, panel);
		try {
			await fn();
		} catch (e) {
			showError(err, panel, e);
		}
	};
	const tryIt = act(async () => {
		let t = await api('POST', `services/${service.id}/trials`, {});
		announce(`Trial ${t.id} of ${service.name} started`);
		/* the provisioner gives the engines at most 10 s */
		for (let i = 0; i < 60 && t.state === 'running'; i++) {
			await sleep(250);
			t = await api('GET', `trials/${t.id}`);
		}
		announce(`Trial ${t.id} of ${service.name} ${t.state}`);
		await show();
	});
	const replicate = act(async () => {
		const r = await api('POST', `services/${service.id}/replicate`,
				    { name: name.value, address: address.value });
		announce(`${service.name} replicated as ${r.name}`);
		changed();
	});
	const cutover = act(async () => {
		const r = replicas.find((s) => s.id === Number(from.value));
		await api('POST', `services/${service.id}/cutover`, { from: Number(from.value) });
		announce(`${service.name} cut over to the chain of ${r?.name}`);
		changed();
	});

	panel.append(
		h('h4', { text: `Replicas, trials and cut-over of ${service.name}` }), err,
		h('div', { class: 'grid' },
			h('div', { class: 'field' }, h('label', { for: name.id, text: 'Replica name' }), name),
			h('div', { class: 'field' }, h('label', { for: address.id, text: 'Replica address' }),
			  address)),
		h('button', { type: 'button', onclick: replicate }, 'Replicate'), ' ',
		h('button', { type: 'button', class: 'primary', onclick: tryIt }, `Try ${service.name}`),
		replicas.length ? h('div', { class: 'field' },
			h('label', { for: from.id, text: 'Cut over to the chain of' }), from,
			h('button', { type: 'button', onclick: cutover }, 'Cut over')) : '',
		list);
	show().catch((e) => showError(err, panel, e));
	return panel;
}
