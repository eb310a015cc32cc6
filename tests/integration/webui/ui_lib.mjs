// SPDX-License-Identifier: LGPL-2.1-or-later
// What the browser tests share: Chromium launched headless by Playwright with
// a fresh profile, script errors and CSP violations collected, checks that
// say what they checked, logging in, and creating objects through the forms.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const URL = process.env.WEBUI_URL;
export const PASSWORD = process.env.WEBUI_PASSWORD;
export const OUT = process.env.WEBUI_OUTPUT ?? '.';
const CHROMIUM = process.env.WEBUI_CHROMIUM ?? '/usr/bin/chromium';

export function check(cond, what) {
	if (!cond)
		throw new Error(`check failed: ${what}`);
	console.log(`ok: ${what}`);
}

/* Open section, press "New <one>", fill fields (by data-field), create, wait for the row. */
export async function create(page, section, one, fields, name, more) {
	await page.goto(`${URL}#/${section}`);
	await page.getByRole('button', { name: `New ${one}` }).click();
	await fill(page, fields);
	await more?.();
	await page.getByRole('button', { name: 'Create' }).click();
	await page.locator('tbody td', { hasText: new RegExp(`^${name}$`) }).first().waitFor();
}

/* Fill the inputs named by their data-field in a form (or a page's first form). */
export async function fill(scope, fields) {
	const form = scope.goto ? scope.locator('form.panel').first() : scope;
	for (const [field, value] of Object.entries(fields)) {
		const input = form.locator(`[data-field="${field}"]`);
		if (await input.evaluate((el) => el.tagName === 'SELECT'))
			await input.selectOption({ label: value });
		else
			await input.fill(value);
	}
}

/* The names in a chain diagram, client to server. */
export async function chain(locator) {
	return locator.locator('g.node').evaluateAll((gs) => gs.map((g) => g.dataset.name));
}

export async function login(page, user, password) {
	await page.getByLabel('User').fill(user);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Log in' }).click();
}

/*
 * Run test(page, problems) in a fresh headless Chromium, within limit_s;
 * problems collects script errors and console errors (a CSP violation is
 * one). Exits non-zero with the reason on the first failure.
 */
export function run(test, limit_s) {
	const watchdog = setTimeout(() => {
		console.error(`timed out after ${limit_s} s`);
		process.exit(2);
	}, limit_s * 1000);
	(async () => {
		const profile = mkdtempSync(join(tmpdir(), 'webui-chromium-'));
		// Playwright passes --headless and --user-data-dir itself (a fresh profile)
		const context = await chromium.launchPersistentContext(profile, {
			executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 900 },
			args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			       '--disable-component-update', '--disable-sync', '--no-first-run'],
		});
		try {
			const page = context.pages()[0] ?? await context.newPage();
			const problems = [];
			page.setDefaultTimeout(8000);
			page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
			page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
			page.on('dialog', (d) => d.accept());
			await test(page, problems);
		} finally {
			await context.close();
			rmSync(profile, { recursive: true, force: true });
		}
	})().then(() => clearTimeout(watchdog), (e) => {
		console.error(e.stack ?? String(e));
		process.exit(1);
	});
}
