// SPDX-License-Identifier: LGPL-2.1-or-later
// Services: built from a package (one device per step, of the step's
// function), the chain reordered with buttons or by dragging, drawn as it
// will carry traffic, and the service's ACLs, replicas, trials and cut-over
// beside it.

import { h } from './dom.js';
import { crudView, resourceForm } from './crud.js';
import { chainDiagram, serviceSteps } from './diagram.js';
import { trialsPanel } from './trials.js';

function identity(n) {
	return [...Array(n).keys()];
}

/* The chain part of the editor: a device per step, and the traffic order. */
function chainEditor(refs, service) {
	const pools = refs['device-pools'] ?? [], all = refs.devices ?? [], packages = refs.packages ?? [];
	let pkg = null, devices = [], order = [];
	const picks = h('div', { class: 'grid' });
	const list = h('ol', { class: 'chain-order', 'aria-label': 'Traffic order' });
	const preview = h('div', { 'aria-live': 'polite' });
	const fnOf = (dev) => pools.find((p) => p.id === dev.pool)?.function;
	let dragged = null;

	const move = (from, to) => {
		if (to < 0 || to >= order.length)
			return;
		order.splice(to, 0, ...order.splice(from, 1));
		draw();
		list.children[to]?.querySelector(to > from ? '.down' : '.up')?.focus();
	};
	const draw = () => {
		list.replaceChildren(...order.map((step, pos) => {
			const dev = all.find((d) => d.id === devices[step]);
			const what = `${pkg.functions[step]}: ${dev ? dev.name : 'no device chosen'}`;
			const li = h('li', { draggable: 'true', 'data-step': step },
				h('span', { class: 'what', text: `${pos + 1}. ${what}` }),
				h('button', { type: 'button', class: 'up', disabled: pos === 0,
					      'aria-label': `Move ${what} earlier`, onclick: () => move(pos, pos - 1) }, '↑ Up'),
				h('button', { type: 'button', class: 'down', disabled: pos === order.length - 1,
					      'aria-label': `Move ${what} later`, onclick: () => move(pos, pos + 1) }, '↓ Down'));
			li.addEventListener('dragstart', (ev) => {
				dragged = pos;
				li.classList.add('dragging');
				ev.dataTransfer.effectAllowed = 'move';
				ev.dataTransfer.setData('text/plain', String(pos));
			});
			li.addEventListener('dragend', () => li.classList.remove('dragging'));
			li.addEventListener('dragover', (ev) => ev.preventDefault());
			li.addEventListener('drop', (ev) => {
				ev.preventDefault();
				if (dragged !== null && dragged !== pos)
					move(dragged, pos);
				dragged = null;
			});
			return li;
		}));
		preview.replaceChildren(chainDiagram('Chain preview',
			serviceSteps({ devices, order }, pkg, all)));
	};
	const setPackage = (id) => {
		pkg = packages.find((p) => p.id === id) ?? null;
		const n = pkg?.functions.length ?? 0;
		const keep = service && service.package === id;
		devices = keep ? [...service.devices] : Array(n).fill(undefined);
		order = keep && service.order.length ? [...service.order] : identity(n);
		picks.replaceChildren(...(pkg?.functions ?? []).map((fn, step) => {
			const id = `step-${step}`;
			const sel = h('select', { id, 'data-field': `devices[${step}]` },
				h('option', { value: '', text: '— choose —' }),
				all.filter((d) => fnOf(d) === fn)
					.map((d) => h('option', { value: d.id, text: `${d.name} (${d.address})` })));
			sel.value = devices[step] ?? '';
			sel.addEventListener('change', () => {
				devices[step] = sel.value ? Number(sel.value) : undefined;
				draw();
					});
			return h('div', { class: 'field' },
				 h('label', { for: id, text: `Step ${step + 1}: ${fn}` }), sel);
		}));
		if (pkg) {
			draw();
		} else {
			list.replaceChildren();
			preview.replaceChildren(h('p', { class: 'muted', text: 'Choose a package to build the chain.' }));
		}
	};
	const el = h('fieldset', { class: 'field', 'data-field': 'devices', tabindex: '-1' },
		h('legend', { text: 'Chain' }), picks,
		h('h4', { text: 'Order traffic takes (drag, or use the buttons)' }), h('div', { 'data-field': 'order', tabindex: '-1' }, list),
		preview);
	return {
		el, setPackage,
		get: () => ({
			devices: devices.map((d) => d ?? null),
			order: order.every((s, i) => s === i) ? [] : order,
		}),
	};
}

function serviceForm(service, refs, done, services) {
	const chain = chainEditor(refs, service);
	const form = resourceForm('services', service, refs, { done, extra: chain });
	const pkgSel = form.querySelector('[data-field="package"]');
	pkgSel.addEventListener('change', () => chain.setPackage(Number(pkgSel.value)));
	chain.setPackage(service?.package);
	if (!service)
		return form;
	const acls = h('div', { class: 'panel' });
	crudView(acls, 'acls', {
		heading: 'h4', title: `ACLs of ${service.name}`,
		fixed: { service: service.id }, filter: (a) => a.service === service.id,
	});
	return h('div', {}, form, acls, trialsPanel(service, services, () => done(true)));
}

function diagrams(services, refs) {
	if (!services.length)
		return '';
	return h('section', { 'aria-labelledby': 'h-chains' },
		h('h3', { id: 'h-chains', text: 'Chains' }),
		services.map((s) => {
			const pkg = refs.packages.find((p) => p.id === s.package);
			return h('figure', { class: 'chain', 'data-service': s.name },
				h('figcaption', { text: `${s.name} (${s.address})` }),
				chainDiagram(`Chain of ${s.name}`, serviceSteps(s, pkg, refs.devices)));
		}));
}

export function servicesView(root) {
	let shown = [];
	crudView(root, 'services', {
		refs: ['devices', 'device-pools'],
		editor: (obj, refs, done) => serviceForm(obj, refs, done, shown),
		after: (services, refs) => {
			shown = services;
			return diagrams(services, refs);
		},
	});
}
