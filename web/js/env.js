// An environment: its state and actions, desired vs deployed (the settings
// commits between them and the pin change), and its run history with a
// small duration chart.

import { api, enc } from './api.js';
import { h, s, add, clear, short, time, badge, duration, runDuration } from './dom.js';
import { canAct, actionButton, notice, say, errorBox } from './ui.js';

const REFRESH_MS = 3000;

function chart(runs) {
  const done = runs.filter((r) => r.duration_ms > 0).slice(0, 40).reverse();
  if (!done.length) return h('p', { class: 'muted' }, 'No finished runs yet.');
  const W = 600, H = 80, gap = 2;
  const max = Math.max(...done.map((r) => r.duration_ms));
  const bw = Math.max(2, Math.min(24, (W - gap * done.length) / done.length));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H + 14}`, role: 'img',
    'aria-label': `Durations of the last ${done.length} finished runs, longest ${duration(max)}` });
  done.forEach((r, i) => {
    const bh = Math.max(2, Math.round((r.duration_ms / max) * H));
    svg.append(s('a', { href: `#/run/${r.id}` },
      s('rect', { x: i * (bw + gap), y: H - bh, width: bw, height: bh, class: `bar s-${r.status}` },
        s('title', {}, `run ${r.id}: ${r.status}, ${duration(r.duration_ms)}`))));
  });
  svg.append(s('text', { x: 0, y: H + 12, class: 'axis' }, `max ${duration(max)}`));
  return svg;
}

function history(runs) {
  if (!runs.length) return h('p', { class: 'muted' }, 'No runs yet.');
  return h('div', { class: 'scroll' }, h('table', { class: 'runs' },
    h('thead', {}, h('tr', {}, ['Run', 'Status', 'Trigger', 'Who', 'Code', 'Started', 'Duration']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, runs.map((r) => h('tr', {},
      h('td', { 'data-label': 'Run' }, h('a', { href: `#/run/${r.id}` }, `#${r.id}`), r.kind && r.kind !== 'deploy' ? ` ${r.kind}` : ''),
      h('td', { 'data-label': 'Status' }, badge(r.status)),
      h('td', { 'data-label': 'Trigger' }, r.trigger),
      h('td', { 'data-label': 'Who' }, r.actor),
      h('td', { 'data-label': 'Code' }, r.code_ref || '', ' ', h('code', {}, short(r.code_commit))),
      h('td', { 'data-label': 'Started' }, time(r.started_ms || r.created_ms)),
      h('td', { 'data-label': 'Duration' }, runDuration(r)))))));
}

// The last drift check (doc/drift.md): when, what it found, its run.
function driftCheck(env) {
  if (!env.drift_checked_ms) return h('span', { class: 'muted' }, 'never');
  const found = env.drift === 'Drifted'
    ? h('span', { class: 'bad' }, `Drifted: ${env.drift_reason || 'see the run'}`)
    : h('span', {}, 'no drift');
  return [time(env.drift_checked_ms), ' · ', found,
    env.drift_run_id ? [' · ', h('a', { href: `#/run/${env.drift_run_id}` }, `run #${env.drift_run_id}`)] : null];
}

function changes(c) {
  const out = [];
  const pin = c.pin;
  out.push(h('p', { class: 'pin' }, 'Pin: ',
    h('span', { class: 'ref' }, pin.from.code_ref || '—'), ' ', h('code', {}, short(pin.from.code_commit)),
    ' → ', h('span', { class: 'ref' }, pin.to.code_ref || '—'), ' ', h('code', {}, short(pin.to.code_commit)),
    pin.changed ? badge('changed', 'outofsync') : h('span', { class: 'muted' }, ' (unchanged)')));
  if (c.note) out.push(h('p', { class: 'muted' }, c.note));
  if (!c.commits.length) {
    if (!c.note) out.push(h('p', { class: 'muted' }, c.to_commit ? 'The deployed settings are the desired ones.' : ''));
    return out;
  }
  out.push(h('p', { class: 'muted small' }, `Settings ${short(c.from_commit) || '(none)'} deployed → ${short(c.to_commit)} desired; `,
    `${c.files.length} file(s) changed in ${c.path || '/'}`));
  out.push(h('ol', { class: 'commits' }, c.commits.map((m) => h('li', {},
    h('div', {}, h('code', { title: m.commit }, short(m.commit)), ' ', h('span', { class: 'subject' }, m.subject)),
    h('div', { class: 'muted small' }, m.author, ' · ', time(m.time_ms)),
    m.files.length ? h('ul', { class: 'files' }, m.files.map((f) => h('li', {}, h('code', {}, f)))) : null))));
  if (c.truncated) out.push(h('p', { class: 'muted small' }, 'Older commits not shown.'));
  return out;
}

export function environment(main, name) {
  const head = h('div');
  const out = notice();
  const changeBox = h('section', { 'aria-labelledby': 'h-changes' }, h('h2', { id: 'h-changes' }, 'Desired vs deployed'), h('div', {}, h('p', { class: 'muted' }, 'Loading…')));
  const runBox = h('section', { 'aria-labelledby': 'h-runs' }, h('h2', { id: 'h-runs' }, 'Runs'), h('div'), h('div'));
  add(clear(main), h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Environments'), ' / ', name),
    head, out, changeBox, runBox);
  let timer = 0;
  let stopped = false;
  let changesFor = null;

  const renderHead = (env) => {
    const actions = h('div', { class: 'actions row' });
    if (canAct()) {
      const after = (r) => {
        if (r && r.run_id) location.hash = `#/run/${r.run_id}`;
        else refresh();
      };
      actions.append(actionButton('Deploy now', {
        title: `Deploy ${name}?`, text: `Runs the pipeline of ${name} with the version pinned in its settings (${env.desired ? env.desired.code_ref || 'the pin' : 'the pin'}).`,
        ok: 'Deploy', out, act: () => api(`/api/v1/environments/${enc(name)}/trigger`, { method: 'POST', body: {} }), after,
      }));
      if (env.paused) {
        actions.append(actionButton(env.held_run_id ? 'Resume (end hold)' : 'Resume', {
          title: `Resume ${name}?`, text: 'Automatic triggers (push, schedule) start runs again; after a hold the environment converges to its settings.',
          ok: 'Resume', out, act: () => api(`/api/v1/environments/${enc(name)}/resume`, { method: 'POST', body: {} }), after: refresh,
        }));
      } else {
        actions.append(actionButton('Pause', {
          title: `Pause ${name}?`, text: 'Pushes and schedules will start no run until it is resumed. Manual deploys still work.',
          ok: 'Pause', danger: true, out, act: () => api(`/api/v1/environments/${enc(name)}/pause`, { method: 'POST', body: {} }), after: refresh,
        }));
      }
    }
    const d = env.deployed;
    head.replaceChildren(
      h('h1', {}, name, ' ', badge(env.sync, env.sync.toLowerCase()),
        env.held_run_id ? badge(`held at run ${env.held_run_id}`, 'held') : env.paused ? badge('paused', 'paused') : null,
        env.drift === 'Drifted' ? h('span', { class: 'badge b-drifted', title: env.drift_reason || '' }, 'Drifted') : null),
      h('p', { class: 'muted' }, env.sync_reason || ''),
      h('dl', { class: 'facts' },
        h('dt', {}, 'State'), h('dd', {}, env.state),
        h('dt', {}, 'Deployed'), h('dd', {}, d ? [h('span', { class: 'ref' }, d.code_ref), ' ', h('code', {}, short(d.code_commit)), ' · settings ', h('code', {}, short(d.settings_commit)), ' · ', time(d.deployed_ms), ' · ', h('a', { href: `#/run/${d.run_id}` }, `run #${d.run_id}`)] : 'never'),
        h('dt', {}, 'Desired'), h('dd', {}, env.desired ? [h('span', { class: 'ref' }, env.desired.code_ref), ' ', h('code', {}, short(env.desired.code_commit)), ' · settings ', h('code', {}, short(env.desired.settings_commit))] : 'not checked yet'),
        h('dt', {}, 'Last drift check'), h('dd', { class: 'drift' }, driftCheck(env)),
        h('dt', {}, 'Next scheduled'), h('dd', {}, env.triggers.next_schedule_ms ? time(env.triggers.next_schedule_ms) : '—'),
        env.triggers.error ? [h('dt', {}, 'Trigger error'), h('dd', { class: 'bad' }, env.triggers.error)] : null),
      actions);
  };

  const refresh = async () => {
    clearTimeout(timer);
    let env, runs;
    try {
      [env, runs] = await Promise.all([
        api(`/api/v1/environments/${enc(name)}`),
        api(`/api/v1/runs?environment=${enc(name)}&limit=50`),
      ]);
    } catch (e) {
      if (e.status === 404) {
        head.replaceChildren(errorBox(e.message));
        return;
      }
      say(out, e.message, true);
      if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    renderHead(env);
    runBox.children[1].replaceChildren(chart(runs.runs));
    runBox.children[2].replaceChildren(history(runs.runs));
    const key = `${env.deployed ? env.deployed.settings_commit : ''}..${env.desired ? env.desired.settings_commit : ''}`;
    if (key !== changesFor) {
      try {
        const c = await api(`/api/v1/environments/${enc(name)}/changes`);
        changesFor = key;
        changeBox.children[1].replaceChildren(...changes(c));
      } catch (e) {
        changeBox.children[1].replaceChildren(errorBox(e.message));
      }
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  };
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
