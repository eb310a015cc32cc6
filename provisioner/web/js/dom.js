// SPDX-License-Identifier: LGPL-2.1-or-later
// Building DOM nodes: text always goes in as text (never as HTML), so a name
// from the API cannot become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
	for (const [k, v] of Object.entries(attrs ?? {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else if (k === 'text')
			el.textContent = v;
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat(Infinity))
		if (c !== null && c !== undefined && c !== false)
			el.append(c instanceof Node ? c : String(c));
	return el;
}

/* h('button', {class: 'primary', onclick: f}, 'Save') */
export function h(tag, attrs, ...children) {
	return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
	return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/* Say something to screen readers and sighted users alike, briefly. */
let statusTimer;
export function announce(text) {
	const st = document.getElementById('status');
	st.textContent = text;
	clearTimeout(statusTimer);
	statusTimer = setTimeout(() => { st.textContent = ''; }, 4000);
}

/*
 * An API error shown in box, and the input its field names marked invalid
 * and focused: the field is a path into the body ("backends[2].weight"),
 * matched against the inputs' data-field, then its first part ("backends").
 */
export function showError(box, form, e) {
	box.replaceChildren();
	box.hidden = false;
	for (const el of form?.querySelectorAll('[aria-invalid]') ?? [])
		el.removeAttribute('aria-invalid');
	box.append(h('code', { text: e.code ?? 'error' }), `: ${e.message}`);
	if (e.field)
		box.append(' ', h('span', { class: 'muted', text: `(field ${e.field})` }));
	const field = e.field && form && (
		form.querySelector(`[data-field="${CSS.escape(e.field)}"]`) ??
		form.querySelector(`[data-field="${CSS.escape(e.field.split(/[.[]/)[0])}"]`));
	if (field) {
		field.setAttribute('aria-invalid', 'true');
		field.setAttribute('aria-describedby', box.id);
		field.focus();
	} else {
		box.focus();
	}
}

export function errorBox(id) {
	return h('div', { class: 'error', id, role: 'alert', tabindex: '-1', hidden: true });
}

export function clearError(box, form) {
	box.hidden = true;
	box.replaceChildren();
	for (const el of form?.querySelectorAll('[aria-invalid]') ?? [])
		el.removeAttribute('aria-invalid');
}
