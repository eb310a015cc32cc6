// SPDX-License-Identifier: LGPL-2.1-or-later
// Forms built from a resource's field table (resources.js). The API is the
// one validator: values go to it as typed (a number only where the text is
// one), so a bad value comes back as the API's own error, on its field.

import { h } from './dom.js';

let uid = 0;

function label(f, id) {
	return h('label', { for: id }, f.label ?? f.name,
		 f.required ? ' *' : '', f.hint ? h('span', { class: 'hint', text: ` ${f.hint}` }) : null);
}

/* A select's choices; the current value stays one even if the role cannot read its list. */
function optionsOf(f, refs, value) {
	if (f.type === 'enum')
		return f.options.map((o) => ({ value: o, text: o }));
	const list = (refs[f.ref] ?? []).map((o) => ({ value: String(o.id), text: `${o.name ?? ''} (#${o.id})` }));
	if (value !== null && value !== undefined && !list.some((o) => o.value === String(value)))
		list.push({ value: String(value), text: `#${value}` });
	return list;
}

function scalar(f, value, refs, path) {
	const id = `f${++uid}`;
	let input;
	if (f.type === 'enum' || f.type === 'ref') {
		const blank = f.type === 'enum' ? '— default —' : f.required ? '— choose —' : '— none —';
		input = h('select', { id, name: path, 'data-field': path },
			  f.required && f.type === 'enum' ? null : h('option', { value: '', text: blank }),
			  optionsOf(f, refs, value).map((o) => h('option', { value: o.value, text: o.text })));
		input.value = value === null || value === undefined ? '' : String(value);
	} else {
		input = h('input', {
			id, name: path, 'data-field': path,
			type: f.type === 'password' ? 'password' : 'text',
			inputmode: f.type === 'int' ? 'numeric' : null,
			autocomplete: f.type === 'password' ? 'new-password' : 'off',
			placeholder: f.placeholder,
		});
		input.value = value === null || value === undefined ? ''
			: f.type === 'list' ? value.join(', ') : String(value);
	}
	const get = () => {
		const v = input.value.trim();
		if (v === '')
			return undefined;
		if (f.type === 'int' || f.type === 'ref')
			return /^-?\d+$/.test(v) ? Number(v) : v;
		if (f.type === 'list')
			return v.split(',').map((s) => s.trim()).filter((s) => s);
		return f.type === 'password' ? input.value : v;
	};
	return { el: h('div', { class: 'field' }, label(f, id), input), get, input };
}

/* A list of objects (backends, ports): one row of inputs each, add and remove. */
function rows(f, value, refs, path) {
	const list = h('div', { class: 'rows', 'data-field': path, tabindex: '-1' });
	const items = [];
	const renumber = () => items.forEach((it, i) => {
		for (const [k, sub] of Object.entries(it.subs)) {
			sub.input.dataset.field = `${path}[${i}].${k}`;
			sub.input.name = sub.input.dataset.field;
		}
		it.remove.setAttribute('aria-label', `Remove ${f.one} ${i + 1}`);
	});
	const add = (v) => {
		const subs = {};
		for (const sf of f.fields)
			subs[sf.name] = scalar(sf, v?.[sf.name], refs, '');
		const it = { subs };
		it.remove = h('button', {
			type: 'button', class: 'danger',
			onclick: () => { items.splice(items.indexOf(it), 1); it.row.remove(); renumber(); },
		}, 'Remove');
		it.row = h('div', { class: 'row' }, Object.values(subs).map((s) => s.el), it.remove);
		items.push(it);
		list.append(it.row);
		renumber();
	};
	for (const v of value ?? [])
		add(v);
	const el = h('fieldset', { class: 'field' }, h('legend', { text: `${f.label ?? f.name}${f.required ? ' *' : ''}` }),
		     list, h('button', { type: 'button', onclick: () => add() }, `Add ${f.one}`));
	const get = () => items.map((it) => {
		const o = {};
		for (const [k, sub] of Object.entries(it.subs)) {
			const v = sub.get();
			if (v !== undefined)
				o[k] = v;
		}
		return o;
	});
	if (!value?.length && f.required)
		add();
	return { el, get };
}

/*
 * Inputs for fields (leaving out those in fixed) with obj's values; get()
 * returns the body: every field with a value, fixed ones as given.
 */
export function fieldSet(fields, obj, refs, fixed = {}) {
	const made = fields.filter((f) => !(f.name in fixed))
		.map((f) => [f.name, (f.type === 'rows' ? rows : scalar)(f, obj?.[f.name], refs, f.name)]);
	return {
		el: h('div', { class: 'grid' }, made.map(([, m]) => m.el)),
		get() {
			const body = { ...fixed };
			for (const [name, m] of made) {
				const v = m.get();
				if (v !== undefined)
					body[name] = v;
			}
			return body;
		},
	};
}

/* The text a table shows for a field's value. */
export function showValue(f, v, refs) {
	if (v === null || v === undefined)
		return '';
	if (f.type === 'ref') {
		const o = (refs[f.ref] ?? []).find((x) => x.id === v);
		return o ? o.name ?? `#${v}` : `#${v}`;
	}
	if (f.type === 'list')
		return v.join(', ');
	if (f.type === 'rows')
		return v.map(f.show).join(', ');
	return String(v);
}
