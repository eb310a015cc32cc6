// SPDX-License-Identifier: LGPL-2.1-or-later
// Versions of the definitions, newest first; any can be shown and rolled
// back to (which makes a new version equal to it).

import { api } from './api.js';
import { h, announce, showError, clearError, errorBox } from './dom.js';

export function versionsView(root) {
	const err = errorBox('err-versions');
	const body = h('tbody');
	const doc = h('div');

	const show = async (v) => {
		try {
			const full = await api('GET', `versions/${v.version}`);
			const pre = h('pre', { class: 'doc', tabindex: '0', 'aria-label': `Version ${v.version}` },
				      JSON.stringify(full.document, null, 2));
			doc.replaceChildren(h('h3', { text: `Version ${v.version}: ${v.change}` }), pre);
			pre.focus();
		} catch (e) {
			showError(err, null, e);
		}
	};
	const rollback = async (v) => {
		if (!confirm(`Make a new version equal to version ${v.version} (${v.change})?`))
			return;
		clearError(err);
		try {
			const made = await api('POST', `versions/${v.version}/rollback`);
			announce(`rolled back to ${v.version}: now version ${made.version}`);
			refresh();
		} catch (e) {
			showError(err, null, e);
		}
	};
	async function refresh() {
		try {
			const list = await api('GET', 'versions');
			body.replaceChildren(...list.map((v, i) => h('tr', { 'data-version': v.version },
				h('td', { text: v.version }),
				h('td', { text: new Date(v.created * 1000).toLocaleString() }),
				h('td', { text: v.author }), h('td', { text: v.change }),
				h('td', { class: 'actions' },
				  h('button', { type: 'button', onclick: () => show(v), 'aria-label': `Show version ${v.version}` }, 'Show'),
				  ' ',
				  i === 0 ? h('span', { class: 'muted', text: 'current' })
					  : h('button', { type: 'button', onclick: () => rollback(v),
							  'aria-label': `Roll back to version ${v.version}` }, 'Roll back')))));
		} catch (e) {
			showError(err, null, e);
		}
	}
	root.append(h('section', { 'aria-labelledby': 'h-versions' },
		h('h2', { id: 'h-versions', text: 'Versions' }), err,
		h('table', {}, h('caption', { class: 'sr-only', text: 'Versions, newest first' }),
		  h('thead', {}, h('tr', {}, ['version', 'created', 'author', 'change'].map((t) => h('th', { scope: 'col', text: t })),
				   h('th', { scope: 'col' }, h('span', { class: 'sr-only', text: 'actions' })))),
		  body),
		doc));
	refresh();
}
