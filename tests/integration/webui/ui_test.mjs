// SPDX-License-Identifier: LGPL-2.1-or-later
// The web UI in Debian's Chromium, driven by Playwright (test_webui.py runs
// this against a real loom-provisioner): log in, show an API error on its
// field, create device pools, devices, a package and a service chain through
// the forms, reorder the chain, check its diagram, replicate it, try it and
// be refused a cut-over without a passed trial, roll back and forward in
// Versions, see the statistics view, save screenshots. Exits non-zero with
// the reason on the first failed check; every wait is bounded.
import { join } from 'node:path';
import { URL, PASSWORD, OUT, check, create, fill, chain, login, run } from './ui_lib.mjs';

run(async (page, problems) => {
	await page.goto(URL);
	await login(page, 'admin', 'wrong-password');
	await page.getByRole('alert').filter({ hasText: 'unauthorized' }).waitFor();
	check(true, 'a wrong password shows the API\'s 401 error');
	// the API's 401 is expected here: the browser logs it as a failed resource
	problems.length = 0;
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.getByRole('navigation', { name: 'Sections' }).waitFor();
	check(await page.getByText('admin (provider-admin)').isVisible(), 'logged in as admin');

	await create(page, 'customers', 'customer', { name: 'acme' }, 'acme');
	await create(page, 'ip-pools', 'IP pool', { name: 'public', prefix: '198.51.100.0/24' }, 'public');
	await create(page, 'device-pools', 'device pool',
		     { name: 'firewalls', function: 'firewall', brand: 'acme-fw' }, 'firewalls');
	await create(page, 'device-pools', 'device pool',
		     { name: 'sensors', function: 'ids', brand: 'acme-ids' }, 'sensors');

	// an invalid value: the API's error, shown on the field it names
	await page.goto(`${URL}#/devices`);
	await page.getByRole('button', { name: 'New device' }).click();
	await fill(page, { name: 'fw1', pool: 'firewalls (#1)', mac: '01:00:5e:00:00:01',
			   address: '10.1.0.11', mode: 'nat' });
	await page.getByRole('button', { name: 'Create' }).click();
	const alert = page.locator('form.panel [role="alert"]');
	await alert.filter({ hasText: 'invalid-value' }).waitFor();
	check((await alert.textContent()).includes('not a unicast MAC'), 'the API\'s message is shown');
	check(await page.locator('[data-field="mac"]').getAttribute('aria-invalid') === 'true',
	      'the field the error names is marked invalid');
	problems.length = 0; /* the 422 as a failed resource */
	await fill(page, { mac: '02:00:00:00:00:01' });
	await page.getByRole('button', { name: 'Create' }).click();
	await page.locator('tbody td', { hasText: /^fw1$/ }).waitFor();
	await create(page, 'devices', 'device', { name: 'ids1', pool: 'sensors (#2)', mac: '02:00:00:00:00:02',
						  address: '10.1.0.12', mode: 'alias' }, 'ids1');
	await create(page, 'packages', 'package', { name: 'guarded', functions: 'firewall, ids' }, 'guarded');

	// the service: built from the package, a device per step, then reordered
	await page.goto(`${URL}#/services`);
	await page.getByRole('button', { name: 'New service' }).click();
	await fill(page, { name: 'web', customer: 'acme (#1)', package: 'guarded (#1)', pool: 'public (#1)',
			   address: '198.51.100.10', 'ports[0].port': '80', 'ports[0].protocol': 'tcp' });
	await page.getByLabel('Step 1: firewall').selectOption({ label: 'fw1 (10.1.0.11)' });
	await page.getByLabel('Step 2: ids').selectOption({ label: 'ids1 (10.1.0.12)' });
	const preview = page.getByRole('img', { name: /^Chain preview/ });
	check(JSON.stringify(await chain(preview)) === '["client","fw1","ids1","server"]',
	      'the preview follows the package order');
	await page.getByRole('button', { name: 'Move ids: ids1 earlier' }).click();
	check(JSON.stringify(await chain(preview)) === '["client","ids1","fw1","server"]',
	      'the preview follows the new order');
	const order = page.getByRole('list', { name: 'Traffic order' });
	await order.locator('li').nth(1).dragTo(order.locator('li').nth(0));
	check(JSON.stringify(await chain(preview)) === '["client","fw1","ids1","server"]',
	      'dragging a step reorders the chain');
	await page.getByRole('button', { name: 'Move firewall: fw1 later' }).click();
	check(JSON.stringify(await chain(preview)) === '["client","ids1","fw1","server"]',
	      'and the buttons reorder it back');
	await page.screenshot({ path: join(OUT, 'webui-service-editor.png'), fullPage: true });
	await page.getByRole('button', { name: 'Create' }).click();
	const diagram = page.locator('figure[data-service="web"] svg');
	await diagram.waitFor();
	check(JSON.stringify(await chain(diagram)) === '["client","ids1","fw1","server"]',
	      'the service\'s diagram shows its devices in traffic order');
	check((await diagram.getAttribute('aria-label')).includes('client → ids1 (ids · 10.1.0.12) → fw1'),
	      'the diagram has a text alternative');
	await page.screenshot({ path: join(OUT, 'webui-services.png'), fullPage: true });

	// the service's ACLs, edited beside it
	await page.getByRole('button', { name: 'Edit web' }).click();
	const acls = page.getByRole('region', { name: 'ACLs of web' });
	await acls.getByRole('button', { name: 'New ACL rule' }).click();
	await fill(page.locator('form.panel').last(), { position: '10', action: 'deny', protocol: 'tcp',
							source: '192.0.2.0/24', port: '22' });
	await acls.getByRole('button', { name: 'Create' }).click();
	await acls.locator('tbody td', { hasText: '192.0.2.0/24' }).waitFor();
	check(true, 'an ACL rule added to the service');

	// a replica under a new address; a trial (this provisioner has no engine,
	// so it fails and says why); a cut-over refused for want of a passed trial
	const trials = page.getByRole('region', { name: 'Replicas, trials and cut-over of web', exact: true });
	await trials.getByLabel('Replica name').fill('web-v2');
	await trials.getByLabel('Replica address').fill('198.51.100.20');
	await trials.getByRole('button', { name: 'Replicate' }).click();
	await page.locator('figure[data-service="web-v2"]').waitFor();
	check(true, 'the replica appears with its own chain diagram');
	await page.getByRole('button', { name: 'Edit web-v2' }).click();
	const mine = page.getByRole('region', { name: 'Replicas, trials and cut-over of web-v2', exact: true });
	await mine.getByRole('button', { name: 'Try web-v2' }).click();
	const failed = mine.locator('article.trial[data-state="failed"]');
	await failed.waitFor();
	check((await failed.textContent()).includes('no engine is provisioned'),
	      'a trial without an engine fails and says why');
	await page.getByRole('button', { name: 'Cancel' }).first().click();
	await page.getByRole('button', { name: 'Edit web', exact: true }).click();
	await trials.getByLabel('Cut over to the chain of').selectOption({ label: 'web-v2 (198.51.100.20)' });
	await trials.getByRole('button', { name: 'Cut over' }).click();
	await trials.getByRole('alert').filter({ hasText: 'conflict' }).waitFor();
	check((await trials.getByRole('alert').textContent()).includes('failed'),
	      'a cut-over to a replica whose trial failed is refused, with the reason');
	problems.length = 0; /* the 409 as a failed resource */
	await page.screenshot({ path: join(OUT, 'webui-trials.png'), fullPage: true });
	await page.getByRole('button', { name: 'Cancel' }).first().click();

	// a virtual service with two backends
	await create(page, 'virtual-services', 'virtual service', { name: 'www', address: '203.0.113.10',
		protocol: 'tcp', port: '80', algorithm: 'wrr', 'backends[0].address': '10.2.0.1',
		'backends[0].port': '8080', 'backends[0].weight': '3' }, 'www', async () => {
		await page.getByRole('button', { name: 'Add backend' }).click();
		await fill(page, { 'backends[1].address': '10.2.0.2', 'backends[1].port': '8080' });
	});
	check(await page.getByText('10.2.0.1:8080 ×3, 10.2.0.2:8080').isVisible(),
	      'the virtual service shows its backends');

	// versions: back to before the service, then forward to it again
	await page.goto(`${URL}#/versions`);
	const created = page.locator('tr', { hasText: 'create services 1' });
	const v = Number(await created.getAttribute('data-version'));
	await page.getByRole('button', { name: `Roll back to version ${v - 1}` }).click();
	await page.locator('tbody tr').first().filter({ hasText: `rollback to ${v - 1}` }).waitFor();
	await page.goto(`${URL}#/services`);
	await page.getByText('No service yet.').waitFor();
	check(true, `a rollback to version ${v - 1} removes the service`);
	await page.goto(`${URL}#/versions`);
	await page.getByRole('button', { name: `Roll back to version ${v}` }).click();
	await page.locator('tbody tr').first().filter({ hasText: `rollback to ${v}` }).waitFor();
	await page.goto(`${URL}#/services`);
	await page.locator('figure[data-service="web"]').waitFor();
	check(true, `a rollback to version ${v} brings it back`);

	// statistics: this provisioner reads no daemon's tables (test_webui_traffic.py
	// has an engine), and the view says so rather than failing
	await page.goto(`${URL}#/statistics`);
	await page.getByText('The provisioner reads no daemon\'s tables').waitFor();
	check(true, 'the statistics view explains an empty configuration');
	await page.screenshot({ path: join(OUT, 'webui-statistics.png'), fullPage: true });

	// a customer admin sees its own service, and only the sections its role may use
	await create(page, 'users', 'user', { name: 'carol', password: 'carols-password',
					     role: 'customer-admin', customer: 'acme (#1)' }, 'carol');
	check(problems.length === 0, `no script error or CSP violation (${problems.join('; ')})`);
	await page.getByRole('button', { name: 'Log out' }).click();
	await login(page, 'carol', 'carols-password');
	const nav = page.getByRole('navigation', { name: 'Sections' });
	await nav.waitFor();
	const sections = JSON.stringify(await nav.getByRole('link').allTextContents());
	check(sections === '["Services","Virtual services","ACLs","Statistics"]',
	      `a customer admin's sections (${sections})`);
	const own = page.locator('figure[data-service="web"] svg');
	await own.waitFor();
	check(JSON.stringify(await chain(own)) === '["client","device #2","device #1","server"]',
	      'its chain, by device id (devices are the provider\'s)');
	// the provider's lists it may not read are 403s the browser logs; nothing else may fail
	check(problems.every((p) => p.includes('403')), `no other error (${problems.join('; ')})`);
}, 60);
