// SPDX-License-Identifier: LGPL-2.1-or-later
// Issue 7, done means 3 (test_webui_traffic.py runs this against a
// provisioner that pushes to, and reads the tables of, a real loom-pkt-engine
// in the engine lab's namespaces): log in, build the chain shop (W:80 through
// the firewall fw to web1) in the forms, wait until the engine acknowledges
// the version, send real requests through the chain from the lab's client,
// and see the packet counts rise in the live statistics; save a screenshot.
// Exits non-zero with the reason on the first failed check; every wait is
// bounded.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { URL, PASSWORD, OUT, check, create, fill, login, run } from './ui_lib.mjs';

const LAB = JSON.parse(process.env.WEBUI_LAB); /* {client_ns, engine, address, fw_mac, web1_mac} */
const REQUESTS = 5;

/* The API as the test's own client: the push state is not in the UI. */
async function apiGet(token, path) {
	const res = await fetch(`${URL}api/v1/${path}`, { headers: { Authorization: `Bearer ${token}` } });
	return res.json();
}

async function waitAcked() {
	const res = await fetch(`${URL}api/v1/login`, { method: 'POST',
		body: JSON.stringify({ user: 'admin', password: PASSWORD }) });
	const { token } = await res.json();
	const { version } = await apiGet(token, 'versions/current');
	for (const end = Date.now() + 10000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
		const push = await apiGet(token, 'push');
		if (push.some((t) => t.acked === version))
			return version;
	}
	throw new Error(`the engine did not acknowledge version ${version} in 10 s`);
}

/* A figure of the statistics page: the text of a table cell, as a number. */
async function figure(row, cls) {
	return Number((await row.locator(`td.${cls}`).textContent()).replace(/,/g, ''));
}

run(async (page, problems) => {
	await page.goto(URL);
	await login(page, 'admin', PASSWORD);
	await page.getByRole('navigation', { name: 'Sections' }).waitFor();

	// the chain, through the forms: the lab's boxes, a package, the service
	await create(page, 'device-pools', 'device pool',
		     { name: 'fws', function: 'firewall', brand: 'nftables' }, 'fws');
	await create(page, 'device-pools', 'device pool',
		     { name: 'srvs', function: 'server', brand: 'nginx' }, 'srvs');
	await create(page, 'devices', 'device', { name: 'fw', pool: 'fws (#1)', segment: 'fw-link (#1)',
						  mac: LAB.fw_mac, address: '10.3.0.2', mode: 'alias' }, 'fw');
	await create(page, 'devices', 'device', { name: 'web1', pool: 'srvs (#2)', segment: 'apps (#2)',
						  mac: LAB.web1_mac, address: '10.4.0.11', mode: 'loopback' }, 'web1');
	await create(page, 'packages', 'package', { name: 'fw-web', functions: 'firewall, server' }, 'fw-web');
	await page.goto(`${URL}#/services`);
	await page.getByRole('button', { name: 'New service' }).click();
	await fill(page, { name: 'shop', customer: 'acme (#1)', package: 'fw-web (#1)', pool: 'public (#1)',
			   address: LAB.address, 'ports[0].port': '80', 'ports[0].protocol': 'tcp' });
	await page.getByLabel('Step 1: firewall').selectOption({ label: 'fw (10.3.0.2)' });
	await page.getByLabel('Step 2: server').selectOption({ label: 'web1 (10.4.0.11)' });
	await page.getByRole('button', { name: 'Create' }).click();
	await page.locator('figure[data-service="shop"] svg').waitFor();
	check(true, 'the chain shop built in the UI');
	const version = await waitAcked();
	check(true, `the engine acknowledged version ${version}`);

	// the engine's tables, live: the port appears once the push is applied
	await page.goto(`${URL}#/statistics`);
	const engine = page.locator(`section[data-instance="${LAB.engine}"]`);
	const port = engine.locator('tr[data-service="shop"][data-port="80"]');
	await port.waitFor({ timeout: 10000 });
	check(await port.locator('td.chain').textContent() === 'fw > web1', 'the chain in place is fw > web1');
	const fw = engine.locator('tr[data-device="fw"]');
	check(await fw.locator('td.state').textContent() === 'up', 'fw is up');
	const before = await figure(port, 'packets'), fwBefore = await figure(fw, 'packets');

	// real traffic through the chain, from the lab's client
	for (let i = 0; i < REQUESTS; i++) {
		const body = execFileSync('ip', ['netns', 'exec', LAB.client_ns, 'curl', '-s', '-m', '3',
						 `http://${LAB.address}:80/`], { timeout: 8000, encoding: 'utf8' });
		check(body.includes('hello from web1'), `request ${i + 1} answered by web1 through the chain`);
	}
	// each request is at least a handshake, a request and a close from the client
	await page.waitForFunction(([min]) => {
		const cell = document.querySelector('tr[data-service="shop"][data-port="80"] td.packets');
		return cell && Number(cell.textContent.replace(/,/g, '')) >= min;
	}, [before + REQUESTS * 3], { timeout: 8000 });
	const after = await figure(port, 'packets');
	check(after >= before + REQUESTS * 3, `the service port counted the traffic (${before} -> ${after} packets)`);
	check(await figure(fw, 'packets') > fwBefore, 'fw\'s packet count rose');
	// the chart drew the port's rate over a few polls, above zero for the
	// traffic (a point above the time axis)
	const title = `Packets/s per service port, ${LAB.engine}`;
	const chart = engine.locator(`figure[data-chart="${title}"]`);
	await page.waitForFunction((t) => {
		const fig = document.querySelector(`figure[data-chart="${t}"]`);
		const points = fig?.querySelector('polyline')?.getAttribute('points').split(' ') ?? [];
		const base = Math.max(...[...fig?.querySelectorAll('line.axis') ?? []]
			.map((l) => Number(l.getAttribute('y1'))));
		return points.length >= 3 && points.some((p) => Number(p.split(',')[1]) < base - 1);
	}, title, { timeout: 8000 });
	check(await chart.getByText(/^port shop :80: /).isVisible(), 'the chart has the port\'s series');
	await page.screenshot({ path: join(OUT, 'webui-traffic.png'), fullPage: true });
	check(problems.length === 0, `no script error or CSP violation (${problems.join('; ')})`);
}, 90);
