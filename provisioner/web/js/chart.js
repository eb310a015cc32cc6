// SPDX-License-Identifier: LGPL-2.1-or-later
// A small SVG line chart for live figures: the last samples of a few
// series on one time axis, a legend, and the latest values as a table for
// screen readers.

import { h, svg } from './dom.js';

const W = 480, H = 180, L = 44, R = 8, T = 8, B = 22;

/* series: [{name, values: [{t: ms, v}]}], every series sampled at the same t. */
export function lineChart(title, series, unit = '') {
	const all = series.flatMap((s) => s.values);
	const max = Math.max(1, ...all.map((p) => p.v)) * 1.1;
	const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
	const span = Math.max(1, t1 - t0);
	const x = (t) => L + ((t - t0) / span) * (W - L - R);
	const y = (v) => T + (1 - v / max) * (H - T - B);
	const fmt = (v) => (v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1));
	const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title },
		[0, 0.5, 1].map((f) => [
			svg('line', { class: 'gridline', x1: L, x2: W - R, y1: y(max * f / 1.1), y2: y(max * f / 1.1) }),
			svg('text', { x: L - 4, y: y(max * f / 1.1) + 4, 'text-anchor': 'end', text: fmt(max * f / 1.1) }),
		]),
		svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }),
		svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
		svg('text', { x: L, y: H - 6, text: all.length ? `${Math.round(span / 1000)} s ago` : 'waiting for data' }),
		svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end', text: 'now' }),
		series.map((s, i) => svg('polyline', {
			class: `s${i % 5}`, points: s.values.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
		})),
		/* the latest sample marked: a series of one sample is visible too */
		series.filter((s) => s.values.length).map((s, i) => {
			const p = s.values[s.values.length - 1];
			return svg('circle', { class: `s${i % 5} latest`, cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3 });
		}));
	const last = (s) => (s.values.length ? `${fmt(s.values[s.values.length - 1].v)}${unit}` : '—');
	return h('figure', { class: 'panel', 'data-chart': title },
		h('figcaption', { text: title }),
		h('div', { class: 'legend' }, series.map((s, i) => h('span', { class: `s${i % 5}`, text: `${s.name}: ${last(s)}` }))),
		chart,
		h('table', { class: 'sr-only' }, h('caption', { text: `${title}, latest` }),
		  h('tbody', {}, series.map((s) => h('tr', {}, h('th', { scope: 'row', text: s.name }), h('td', { text: last(s) }))))));
}
