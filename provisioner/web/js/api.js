// SPDX-License-Identifier: LGPL-2.1-or-later
// The REST API (docs/api.md) and the session: the UI's only way to data.
// The token lives in sessionStorage: it survives a reload, not the tab.

const KEY = 'loom.session';

/* An API error as the API states it: {"error": {code, message, field}}. */
export class ApiError extends Error {
	constructor(status, code, message, field) {
		super(message);
		this.status = status;
		this.code = code;
		this.field = field ?? null;
	}
}

let session = JSON.parse(sessionStorage.getItem(KEY) || 'null');
let onSessionEnd = () => {};

export function currentSession() {
	if (session && session.expires * 1000 <= Date.now())
		endSession('Your session has expired; log in again.');
	return session;
}

export function isProvider() {
	return session?.role === 'provider-admin';
}

/* Called with a message when a token stops working (401) or on log-out. */
export function setSessionEndHandler(fn) {
	onSessionEnd = fn;
}

export function endSession(message) {
	session = null;
	sessionStorage.removeItem(KEY);
	onSessionEnd(message);
}

export async function api(method, path, body) {
	const headers = { Accept: 'application/json' };
	if (body !== undefined)
		headers['Content-Type'] = 'application/json';
	if (session)
		headers.Authorization = `Bearer ${session.token}`;
	let res;
	try {
		res = await fetch(`/api/v1/${path}`, {
			method, headers, cache: 'no-store',
			body: body === undefined ? undefined : JSON.stringify(body),
		});
	} catch (e) {
		throw new ApiError(0, 'unreachable', `cannot reach the provisioner (${e.message})`);
	}
	const text = await res.text();
	let doc = null;
	try {
		doc = text ? JSON.parse(text) : null;
	} catch {
		/* not JSON: reported below from the status alone */
	}
	if (res.ok)
		return doc;
	const err = doc?.error ?? {};
	const e = new ApiError(res.status, err.code ?? `http-${res.status}`,
			       err.message ?? res.statusText, err.field);
	if (res.status === 401 && path !== 'login')
		endSession(`The provisioner ended the session: ${e.message}`);
	throw e;
}

export async function login(user, password) {
	const doc = await api('POST', 'login', { user, password });
	session = { ...doc, user };
	sessionStorage.setItem(KEY, JSON.stringify(session));
	return session;
}
