// The overview: one row per environment, refreshed every few seconds.

import { api } from './api.js';
import { h, add, clear, short, time, badge, runDuration, ago } from './dom.js';
import { errorBox } from './ui.js';

const REFRESH_MS = 3000;

function marker(env) {
  const out = [];
  if (env.held_run_id) out.push(badge(`held at run ${env.held_run_id}`, 'held'));
  else if (env.paused) out.push(badge('paused', 'paused'));
  if (env.running_run_id) {
    out.push(h('a', { href: `#/run/${env.running_run_id}`, class: 'badge b-running' }, `running #${env.running_run_id}`));
  }
  if (env.queued_runs) out.push(badge(`${env.queued_runs} queued`, 'queued'));
  if (env.drift === 'Drifted') {
    out.push(h('span', { class: 'badge b-drifted', title: env.drift_reason || '' }, 'Drifted'));  // doc/drift.md
  }
  return out;
}

function row(env) {
  const d = env.deployed;
  const last = env.last_run;
  const href = `#/env/${encodeURIComponent(env.name)}`;
  return h('tr', { 'data-env': env.name },
    h('th', { scope: 'row', 'data-label': 'Environment' }, h('a', { href }, env.name)),
    h('td', { 'data-label': 'Sync' }, h('span', { title: env.sync_reason || '' }, badge(env.sync, env.sync.toLowerCase()))),
    h('td', { 'data-label': 'Deployed' }, d
      ? [h('span', { class: 'ref' }, d.code_ref || '—'), ' ', h('code', { title: d.code_commit }, short(d.code_commit))]
      : h('span', { class: 'muted' }, 'never')),
    h('td', { 'data-label': 'Settings' }, d ? h('code', { title: d.settings_commit }, short(d.settings_commit)) : ''),
    h('td', { 'data-label': 'When' }, d ? time(d.deployed_ms) : ''),
    h('td', { 'data-label': 'Last run' }, last
      ? [h('a', { href: `#/run/${last.id}` }, badge(last.status)), ' ', h('span', { class: 'muted' }, runDuration(last))]
      : h('span', { class: 'muted' }, 'none')),
    h('td', { 'data-label': 'Next scheduled' }, env.triggers && env.triggers.next_schedule_ms
      ? h('time', { datetime: new Date(env.triggers.next_schedule_ms).toISOString() }, ago(env.triggers.next_schedule_ms))
      : h('span', { class: 'muted' }, '—')),
    h('td', { 'data-label': 'State' }, marker(env)));
}

export function overview(main) {
  const status = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const body = h('tbody');
  const table = h('table', { class: 'envs' },
    h('caption', { class: 'sr-only' }, 'Environments'),
    h('thead', {}, h('tr', {}, ['Environment', 'Sync', 'Deployed', 'Settings', 'When', 'Last run', 'Next scheduled', 'State']
      .map((t) => h('th', { scope: 'col' }, t)))),
    body);
  const err = h('div');
  add(clear(main), h('h1', {}, 'Environments'), err, h('div', { class: 'scroll' }, table), status);
  let timer = 0;
  let stopped = false;
  let first = true;
  const load = async () => {
    try {
      const j = await api('/api/v1/environments');
      const rows = j.environments.map(row);
      body.replaceChildren(...rows);
      if (!rows.length) body.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No environments in slipway.yaml.')));
      clear(err);
      status.textContent = `${rows.length} environments · updated ${new Date().toLocaleTimeString()}`;
      if (first) {
        first = false;
        // The figure bench/dashboard measures: the rows are painted.
        requestAnimationFrame(() => performance.mark('slipway:overview-painted'));
      }
    } catch (e) {
      clear(err).append(errorBox(e.message));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  return () => { stopped = true; clearTimeout(timer); };
}
