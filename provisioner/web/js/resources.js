// SPDX-License-Identifier: LGPL-2.1-or-later
// Every resource of the API as a table of fields (docs/api.md): the forms,
// the tables and the references between them are built from these.

const PROTOCOLS = ['tcp', 'udp'];

export const RESOURCES = {
	customers: {
		title: 'Customers', one: 'customer',
		fields: [
			{ name: 'name', required: true },
			{ name: 'description' },
		],
	},
	'device-pools': {
		title: 'Device pools', one: 'device pool',
		fields: [
			{ name: 'name', required: true },
			{ name: 'function', required: true, hint: 'firewall, ids, vpn, ...' },
			{ name: 'brand', required: true },
		],
	},
	devices: {
		title: 'Devices', one: 'device',
		fields: [
			{ name: 'name', required: true },
			{ name: 'pool', type: 'ref', ref: 'device-pools', required: true },
			{ name: 'segment', type: 'ref', ref: 'segments' },
			{ name: 'mac', label: 'MAC', required: true, placeholder: '02:00:00:00:00:01' },
			{ name: 'address', required: true },
			{ name: 'mode', type: 'enum', options: ['loopback', 'alias', 'nat'], required: true },
			{ name: 'alternate', type: 'ref', ref: 'devices', hint: 'takes over when this one fails' },
			{ name: 'out_segment', label: 'second arm segment', type: 'ref', ref: 'segments',
			  hint: 'a router or firewall that hands packets back on its other side' },
			{ name: 'out_mac', label: 'second arm MAC', placeholder: '02:00:00:00:00:02',
			  hint: 'if not the MAC above' },
		],
	},
	packages: {
		title: 'Service packages', one: 'package',
		fields: [
			{ name: 'name', required: true },
			{ name: 'description' },
			{ name: 'functions', type: 'list', required: true, hint: 'in traffic order, comma-separated' },
		],
	},
	services: {
		title: 'Services', one: 'service',
		fields: [
			{ name: 'name', required: true },
			{ name: 'customer', type: 'ref', ref: 'customers', required: true },
			{ name: 'package', type: 'ref', ref: 'packages', required: true },
			{ name: 'pool', label: 'service IP pool', type: 'ref', ref: 'ip-pools', required: true },
			{ name: 'address', label: 'service IP', required: true },
			{
				name: 'ports', type: 'rows', one: 'port', required: true,
				fields: [
					{ name: 'protocol', type: 'enum', options: PROTOCOLS, required: true },
					{ name: 'port', type: 'int', required: true },
					{ name: 'port_end', label: 'to port', type: 'int' },
				],
				show: (p) => `${p.protocol}/${p.port}${p.port_end ? `-${p.port_end}` : ''}`,
			},
		],
	},
	acls: {
		title: 'ACLs', one: 'ACL rule',
		fields: [
			{ name: 'service', type: 'ref', ref: 'services', required: true },
			{ name: 'position', type: 'int', required: true, hint: 'rules apply in ascending position' },
			{ name: 'action', type: 'enum', options: ['allow', 'deny'], required: true },
			{ name: 'protocol', type: 'enum', options: ['any', 'tcp', 'udp', 'icmp'] },
			{ name: 'source', hint: 'client prefix; empty: any' },
			{ name: 'port', type: 'int' },
			{ name: 'port_end', label: 'to port', type: 'int' },
			{ name: 'interface', type: 'ref', ref: 'interfaces', hint: 'empty: every ingress' },
		],
	},
	'virtual-services': {
		title: 'Virtual services', one: 'virtual service',
		fields: [
			{ name: 'name', required: true },
			{ name: 'customer', type: 'ref', ref: 'customers', hint: "empty: the provider's" },
			{ name: 'address', required: true },
			{ name: 'protocol', type: 'enum', options: PROTOCOLS, required: true },
			{ name: 'port', type: 'int', required: true },
			{ name: 'algorithm', type: 'enum', options: ['rr', 'wrr', 'wlc', 'maglev'] },
			{ name: 'persistence_s', label: 'persistence (s)', type: 'int' },
			{ name: 'health', label: 'health check', type: 'enum', options: ['none', 'tcp', 'http'] },
			{ name: 'health_interval_ms', label: 'check interval (ms)', type: 'int' },
			{ name: 'health_timeout_ms', label: 'check timeout (ms)', type: 'int' },
			{ name: 'health_path', label: 'check path', hint: 'http only' },
			{ name: 'client_domains', type: 'list', hint: 'client prefixes; empty: every client' },
			{
				name: 'backends', type: 'rows', one: 'backend', required: true,
				fields: [
					{ name: 'address', required: true },
					{ name: 'port', type: 'int', required: true },
					{ name: 'weight', type: 'int' },
				],
				show: (b) => `${b.address}:${b.port}${b.weight !== 1 ? ` ×${b.weight}` : ''}`,
			},
		],
	},
	interfaces: {
		title: 'Interfaces', one: 'interface',
		fields: [{ name: 'name', required: true }, { name: 'description' }],
	},
	segments: {
		title: 'Segments', one: 'segment',
		fields: [
			{ name: 'name', required: true },
			{ name: 'interface', type: 'ref', ref: 'interfaces', required: true },
			{ name: 'prefix', required: true },
			{ name: 'vlan', label: 'VLAN', type: 'int' },
		],
	},
	'ip-pools': {
		title: 'Service IP pools', one: 'IP pool',
		fields: [
			{ name: 'name', required: true },
			{ name: 'interface', type: 'ref', ref: 'interfaces' },
			{ name: 'prefix', required: true },
		],
	},
	'nat-pools': {
		title: 'NAT pools', one: 'NAT pool',
		fields: [
			{ name: 'name', required: true },
			{ name: 'prefix', required: true },
			{ name: 'port_min', type: 'int' },
			{ name: 'port_max', type: 'int' },
			{ name: 'inside', type: 'list', hint: 'inside prefixes, comma-separated' },
		],
	},
	users: {
		title: 'Users', one: 'user',
		fields: [
			{ name: 'name', required: true },
			{ name: 'password', type: 'password', hint: 'write-only; empty keeps it' },
			{ name: 'role', type: 'enum', options: ['provider-admin', 'customer-admin'], required: true },
			{ name: 'customer', type: 'ref', ref: 'customers' },
		],
	},
};

/* What a customer admin may use (docs/api.md, Roles). */
export const CUSTOMER_RESOURCES = ['services', 'acls', 'virtual-services'];
