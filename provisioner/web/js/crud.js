// SPDX-License-Identifier: LGPL-2.1-or-later
// One view for any resource: its list as a table, a form to create or
// replace (PUT) one, delete with confirmation; errors as the API words them.

import { api } from './api.js';
import { h, announce, showError, clearError, errorBox } from './dom.js';
import { fieldSet, showValue } from './forms.js';
import { RESOURCES } from './resources.js';

/* The lists the fields refer to, by URL; one the role may not read is empty. */
export async function loadRefs(urls) {
	const refs = {};
	await Promise.all([...new Set(urls)].map(async (u) => {
		try {
			refs[u] = await api('GET', u);
		} catch (e) {
			if (e.status !== 403)
				throw e;
			refs[u] = [];
		}
	}));
	return refs;
}

export function refUrls(fields) {
	return fields.filter((f) => f.type === 'ref').map((f) => f.ref);
}

/*
 * The form that creates (obj null) or replaces obj; done(saved) closes it.
 * extra: more inputs ({el, get} like a fieldSet) whose values join the body.
 */
export function resourceForm(url, obj, refs, { fixed = {}, done, extra }) {
	const res = RESOURCES[url];
	const set = fieldSet(res.fields, obj, refs, fixed);
	const err = errorBox(`err-${url}-form`);
	const title = obj ? `Edit ${res.one} ${obj.name ?? `#${obj.id}`}` : `New ${res.one}`;
	const form = h('form', { class: 'panel', 'aria-label': title, novalidate: true },
		       h('h3', { text: title }), err, set.el, extra?.el,
		       h('div', { class: 'buttons' },
			 h('button', { type: 'submit', class: 'primary' }, obj ? 'Save' : 'Create'),
			 h('button', { type: 'button', onclick: () => done(null) }, 'Cancel')));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearError(err, form);
		const body = { ...set.get(), ...extra?.get() };
		try {
			const saved = obj ? await api('PUT', `${url}/${obj.id}`, body)
					  : await api('POST', url, body);
			announce(`${res.one} ${saved.name ?? `#${saved.id}`} saved`);
			done(saved);
		} catch (e) {
			showError(err, form, e);
		}
	});
	return form;
}

/*
 * The view of resource url in root. opts: heading level, fixed (fields set
 * by the context, e.g. an ACL's service), filter (which rows to show),
 * editor (a form of its own), after (what follows the table).
 */
export function crudView(root, url, opts = {}) {
	const res = RESOURCES[url];
	const fixed = opts.fixed ?? {};
	const shown = res.fields.filter((f) => !(f.name in fixed) && f.type !== 'password');
	const err = errorBox(`err-${url}-list`);
	const slot = h('div');
	const body = h('tbody');
	const after = h('div');
	let refs = {};

	const close = (saved) => {
		slot.replaceChildren();
		if (saved)
			refresh();
	};
	const edit = async (obj) => {
		await loaded; /* the form's choices come from the lists the table needs too */
		const form = opts.editor ? opts.editor(obj, refs, close)
			: resourceForm(url, obj, refs, { fixed, done: close });
		slot.replaceChildren(form);
		form.querySelector('input, select')?.focus();
	};
	const remove = async (obj) => {
		if (!confirm(`Delete ${res.one} ${obj.name ?? `#${obj.id}`}?`))
			return;
		clearError(err);
		try {
			await api('DELETE', `${url}/${obj.id}`);
			announce(`${res.one} ${obj.name ?? `#${obj.id}`} deleted`);
			refresh();
		} catch (e) {
			showError(err, null, e);
		}
	};
	const row = (o) => h('tr', { 'data-id': o.id },
		h('td', { text: o.id }),
		shown.map((f) => h('td', { text: showValue(f, o[f.name], refs) })),
		h('td', { class: 'actions' },
		  h('button', { type: 'button', onclick: () => edit(o), 'aria-label': `Edit ${o.name ?? `#${o.id}`}` }, 'Edit'),
		  ' ',
		  h('button', { type: 'button', class: 'danger', onclick: () => remove(o),
				'aria-label': `Delete ${o.name ?? `#${o.id}`}` }, 'Delete')));

	async function refresh() {
		try {
			const [list, r] = await Promise.all([api('GET', url), loadRefs(refUrls(res.fields).concat(opts.refs ?? []))]);
			refs = r;
			const rows = list.filter(opts.filter ?? (() => true));
			body.replaceChildren(...rows.map(row));
			if (!rows.length)
				body.append(h('tr', {}, h('td', { colspan: shown.length + 2, class: 'muted', text: `No ${res.one} yet.` })));
			after.replaceChildren(opts.after ? opts.after(rows, refs) : '');
		} catch (e) {
			showError(err, null, e);
		}
	}

	const heading = opts.heading ?? 'h2';
	root.append(h('section', { 'aria-labelledby': `h-${url}` },
		h(heading, { id: `h-${url}`, text: opts.title ?? res.title }),
		h('button', { type: 'button', class: 'primary', onclick: () => edit(null) }, `New ${res.one}`),
		err, slot,
		h('table', {},
		  h('caption', { class: 'sr-only', text: opts.title ?? res.title }),
		  h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'id' }),
				   shown.map((f) => h('th', { scope: 'col', text: f.label ?? f.name })),
				   h('th', { scope: 'col' }, h('span', { class: 'sr-only', text: 'actions' })))),
		  body),
		after));
	const loaded = refresh();
	return { refresh };
}
