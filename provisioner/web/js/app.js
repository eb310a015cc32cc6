// SPDX-License-Identifier: LGPL-2.1-or-later
// The single-page UI: log in, then one view per section, chosen by the URL's
// fragment (#/services), so reload and the back button work and the server
// serves one page.

import { login, currentSession, endSession, isProvider, setSessionEndHandler } from './api.js';
import { h, showError, errorBox } from './dom.js';
import { CUSTOMER_RESOURCES } from './resources.js';
import { crudView } from './crud.js';
import { servicesView } from './services.js';
import { statsView } from './stats.js';
import { versionsView } from './versions.js';

/* The sections in the order of the menu; null: a resource's generic view. */
const SECTIONS = [
	['services', 'Services', servicesView],
	['customers', 'Customers', null],
	['device-pools', 'Device pools', null],
	['devices', 'Devices', null],
	['packages', 'Packages', null],
	['virtual-services', 'Virtual services', null],
	['acls', 'ACLs', null],
	['versions', 'Versions', versionsView],
	['statistics', 'Statistics', statsView],
	['interfaces', 'Interfaces', null],
	['segments', 'Segments', null],
	['ip-pools', 'IP pools', null],
	['nat-pools', 'NAT pools', null],
	['users', 'Users', null],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let leave = null; /* the current view's clean-up (stops polling) */

function allowed(id) {
	return isProvider() || CUSTOMER_RESOURCES.includes(id) || id === 'statistics';
}

function loginView(message) {
	const err = errorBox('err-login');
	const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
	const password = h('input', { id: 'login-password', name: 'password', type: 'password',
				      autocomplete: 'current-password', required: true });
	const form = h('form', { class: 'panel login', 'aria-labelledby': 'h-login' },
		h('h2', { id: 'h-login', text: 'Log in' }),
		message ? h('p', { class: 'muted', text: message }) : null, err,
		h('div', { class: 'field' }, h('label', { for: 'login-user', text: 'User' }), user),
		h('div', { class: 'field' }, h('label', { for: 'login-password', text: 'Password' }), password),
		h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Log in')));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		try {
			await login(user.value, password.value);
			if (!location.hash || location.hash === '#/login')
				location.hash = '#/services';
			route();
		} catch (e) {
			showError(err, form, e);
			password.select();
		}
	});
	main.replaceChildren(form);
	user.focus();
}

function drawChrome(s) {
	nav.hidden = !s;
	document.getElementById('who').hidden = !s;
	if (!s)
		return;
	document.getElementById('who-name').textContent =
		`${s.user} (${s.role}${s.customer ? `, customer #${s.customer}` : ''})`;
	const here = location.hash.slice(2);
	nav.replaceChildren(...SECTIONS.filter(([id]) => allowed(id)).map(([id, title]) =>
		h('a', { href: `#/${id}`, 'aria-current': id === here ? 'page' : null, text: title })));
}

function route() {
	leave?.();
	leave = null;
	const s = currentSession();
	drawChrome(s);
	if (!s)
		return loginView();
	const id = location.hash.slice(2);
	const section = SECTIONS.find(([sid]) => sid === id && allowed(sid));
	if (!section) {
		location.replace('#/services');
		return;
	}
	const [, title, view] = section;
	document.title = `${title} · Loom provisioner`;
	main.replaceChildren();
	leave = view ? view(main) : (crudView(main, id), null);
	main.focus();
}

setSessionEndHandler((message) => {
	leave?.();
	leave = null;
	drawChrome(null);
	loginView(message);
});
document.getElementById('logout').addEventListener('click', () => endSession('You have logged out.'));
window.addEventListener('hashchange', route);
route();
