// SPDX-License-Identifier: LGPL-2.1-or-later
// A service chain as an SVG diagram: client -> each device in the order
// traffic crosses them -> server. The text alternative says the same.

import { svg } from './dom.js';

const W = 124, H = 56, GAP = 36, PAD = 8;

/* steps: [{name, sub, missing}] in traffic order; title names the chain. */
export function chainDiagram(title, steps) {
	const nodes = [{ name: 'client', sub: '', end: true }, ...steps,
		       { name: 'server', sub: '', end: true }];
	const width = PAD * 2 + nodes.length * W + (nodes.length - 1) * GAP;
	const words = nodes.map((n) => (n.sub ? `${n.name} (${n.sub})` : n.name)).join(' → ');
	const el = svg('svg', {
		class: 'diagram', role: 'img', viewBox: `0 0 ${width} ${H + PAD * 2}`,
		width, height: H + PAD * 2, 'aria-label': `${title}: ${words}`,
	}, svg('title', { text: `${title}: ${words}` }));
	nodes.forEach((n, i) => {
		const x = PAD + i * (W + GAP);
		const cls = ['node', n.end ? 'end' : 'step', n.missing ? 'missing' : ''].join(' ').trim();
		el.append(svg('g', { class: cls, 'data-name': n.name },
			svg('rect', { x, y: PAD, width: W, height: H, rx: 6 }),
			svg('text', { x: x + W / 2, y: PAD + (n.sub ? 24 : 33), 'text-anchor': 'middle', text: n.name }),
			n.sub ? svg('text', { class: 'sub', x: x + W / 2, y: PAD + 42, 'text-anchor': 'middle', text: n.sub }) : null));
		if (i) {
			const x0 = x - GAP + 2, x1 = x - 8, y = PAD + H / 2;
			el.append(svg('line', { class: 'arrow', x1: x0, y1: y, x2: x1, y2: y }),
				  svg('polygon', { class: 'head', points: `${x1},${y - 5} ${x - 1},${y} ${x1},${y + 5}` }));
		}
	});
	return el;
}

/*
 * A service's steps in traffic order: the package's step i is served by
 * devices[i]; order (if not empty) lists the steps in traffic order.
 */
export function serviceSteps(service, pkg, devices) {
	const n = pkg?.functions.length ?? service.devices.length;
	const order = service.order?.length ? service.order : [...Array(n).keys()];
	return order.map((step) => {
		const id = service.devices[step];
		const dev = devices.find((d) => d.id === id);
		const fn = pkg?.functions[step] ?? '';
		if (dev)
			return { name: dev.name, sub: fn ? `${fn} · ${dev.address}` : dev.address };
		/* a customer admin may not read devices: the id is all there is */
		if (id)
			return { name: `device #${id}`, sub: fn };
		return { name: `step ${step}`, sub: fn ? `${fn}: no device` : 'no device', missing: true };
	});
}
