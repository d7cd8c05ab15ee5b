// A run: facts, actions, the steps as a timeline, and the log, live over
// Server-Sent Events while the run goes on.

import { api, enc, followLog } from './api.js';
import { h, s, add, clear, short, time, badge, duration, runDuration } from './dom.js';
import { canAct, actionButton, notice, errorBox } from './ui.js';
import { ansi } from './ansi.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted']);

// `live`: the step the log says has started (its "==> step NAME:" line);
// the record says `pending` until the step ends.
function timeline(run, live) {
  const steps = (run.steps || []).map((x) => (run.status === 'running' && x.status === 'pending' && x.name === live
    ? { ...x, status: 'running' } : x));
  if (!steps.length) return h('p', { class: 'muted' }, run.status === 'queued' ? 'Queued: no step has started.' : 'No steps recorded.');
  const t0 = run.started_ms || Math.min(...steps.map((x) => x.started_ms || Infinity));
  const end = Math.max(run.finished_ms || 0, ...steps.map((x) => (x.started_ms || t0) + (x.duration_ms || 0)),
    run.status === 'running' ? Date.now() : 0);
  const total = Math.max(1, end - t0);
  return h('ol', { class: 'steps' }, steps.map((x) => {
    const start = x.started_ms ? x.started_ms - t0 : 0;
    const dur = x.duration_ms || (x.status === 'running' && x.started_ms ? Date.now() - x.started_ms : 0);
    const bar = s('svg', { class: 'track', viewBox: '0 0 1000 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
      s('rect', { x: Math.round((start / total) * 1000), y: 0, height: 10,
        width: Math.max(4, Math.round((dur / total) * 1000)), class: `bar s-${x.status}` }));
    return h('li', { class: 'step' },
      h('span', { class: 'name' }, x.name),
      badge(x.status),
      h('span', { class: 'muted small' }, dur ? duration(dur) : '', x.exit_code !== null && x.exit_code !== undefined ? ` · exit ${x.exit_code}` : ''),
      bar);
  }));
}

// One log line "TIMESTAMP | text" as a row with its own link.
function logLine(n, raw, runId) {
  const bar = raw.indexOf(' | ');
  const ts = bar > 0 ? raw.slice(0, bar) : '';
  const text = bar > 0 ? raw.slice(bar + 3) : raw;
  const row = h('div', { class: text.startsWith('==> ') ? 'ln hdr' : 'ln', id: `L${n}` },
    h('a', { class: 'no', href: `#/run/${runId}/L${n}`, 'aria-label': `line ${n}` }, String(n)),
    h('span', { class: 'ts' }, ts.slice(11, 23)));
  const t = h('span', { class: 'tx' });
  add(t, ansi(text));
  row.append(t);
  row.dataset.text = text.toLowerCase();
  return row;
}

export function runPage(main, id, line) {
  const head = h('div');
  const out = notice();
  const steps = h('div');
  const log = h('div', { class: 'log', tabindex: '0', role: 'log', 'aria-label': 'Run log' });
  const follow = h('button', { type: 'button', class: 'ghost', hidden: true }, 'Follow the log ↓');
  const search = h('input', { type: 'search', id: 'log-search', placeholder: 'Search the log', autocomplete: 'off' });
  const hits = h('span', { class: 'muted small', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Previous match' }, '↑');
  const next = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Next match' }, '↓');
  const logState = h('span', { class: 'muted small' });
  add(clear(main), h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Environments'), ' / ', h('span', { class: 'env-crumb' }), ` / run ${id}`),
    head, out,
    h('section', { 'aria-labelledby': 'h-steps' }, h('h2', { id: 'h-steps' }, 'Steps'), steps),
    h('section', { 'aria-labelledby': 'h-log' },
      h('div', { class: 'row wrap' }, h('h2', { id: 'h-log' }, 'Log'), logState,
        h('span', { class: 'grow' }),
        h('label', { for: 'log-search', class: 'sr-only' }, 'Search the log'), search, prev, next, hits, follow),
      log));

  let stopped = false;
  let timer = 0;
  let n = 0;
  let autoScroll = !line;
  let wanted = line;
  let matches = [];
  let current = -1;
  let stopFollow = null;
  let liveStep = '';
  let lastRun = null;

  // Auto-scroll until the reader scrolls up; back at the bottom, it resumes.
  log.addEventListener('scroll', () => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    autoScroll = atBottom;
    follow.hidden = atBottom;
  });
  follow.addEventListener('click', () => {
    autoScroll = true;
    follow.hidden = true;
    log.scrollTop = log.scrollHeight;
  });

  const runSearch = () => {
    const q = search.value.trim().toLowerCase();
    for (const el of matches) el.classList.remove('hit', 'cur');
    matches = q ? [...log.children].filter((el) => el.dataset.text.includes(q)) : [];
    for (const el of matches) el.classList.add('hit');
    current = -1;
    hits.textContent = q ? `${matches.length} match${matches.length === 1 ? '' : 'es'}` : '';
    if (matches.length) go(1);
  };
  const go = (dir) => {
    if (!matches.length) return;
    if (current >= 0) matches[current].classList.remove('cur');
    current = (current + dir + matches.length) % matches.length;
    matches[current].classList.add('cur');
    autoScroll = false;
    matches[current].scrollIntoView({ block: 'center' });
    hits.textContent = `${current + 1} of ${matches.length}`;
  };
  search.addEventListener('input', runSearch);
  search.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); go(e.shiftKey ? -1 : 1); } });
  prev.addEventListener('click', () => go(-1));
  next.addEventListener('click', () => go(1));

  const showLine = (ln) => {
    for (const el of log.querySelectorAll('.ln.target')) el.classList.remove('target');
    const el = document.getElementById(`L${ln}`);
    if (!el) return false;
    el.classList.add('target');
    autoScroll = false;
    el.scrollIntoView({ block: 'center' });
    return true;
  };

  const startLog = () => {
    logState.textContent = 'live';
    stopFollow = followLog(id, {
      onLines: (lines) => {
        const frag = document.createDocumentFragment();
        for (const l of lines) {
          frag.append(logLine(++n, l, id));
          const m = / \| ==> step ([^:]+):/.exec(l);
          if (m && m[1] !== liveStep) {
            liveStep = m[1];
            if (lastRun) steps.replaceChildren(timeline(lastRun, liveStep));
          }
        }
        log.append(frag);
        if (search.value.trim()) runSearch();
        if (wanted && showLine(wanted)) wanted = null;
        if (autoScroll) log.scrollTop = log.scrollHeight;
      },
      onEnd: (status) => {
        logState.textContent = `ended: ${status}`;
        if (!n) log.append(h('div', { class: 'muted' }, '(empty log)'));
        refresh();
      },
      onError: (message) => { logState.textContent = message; },
    });
  };

  const renderHead = (run) => {
    main.querySelector('.env-crumb').replaceChildren(h('a', { href: `#/env/${enc(run.environment)}` }, run.environment));
    const actions = h('div', { class: 'actions row' });
    if (canAct()) {
      if (!FINAL.has(run.status)) {
        actions.append(actionButton('Cancel run', {
          title: `Cancel run ${run.id}?`, text: 'A queued run is dropped; a running one gets SIGTERM, then SIGKILL. Nothing after the current step runs.',
          ok: 'Cancel run', danger: true, out, act: () => api(`/api/v1/runs/${run.id}/cancel`, { method: 'POST', body: {} }), after: refresh,
        }));
      }
      if (run.status === 'succeeded') {
        actions.append(actionButton('Roll back to this run', {
          title: `Roll ${run.environment} back to run ${run.id}?`,
          text: `Re-deploys settings ${short(run.settings_commit)} and code ${run.code_ref} ${short(run.code_commit)}, and holds ${run.environment} there (no automatic runs) until it is resumed.`,
          ok: 'Roll back', danger: true, out,
          act: () => api(`/api/v1/environments/${enc(run.environment)}/rollback`, { method: 'POST', body: { to: run.id } }),
          after: (r) => { location.hash = `#/env/${enc(run.environment)}`; return r; },
        }));
      }
    }
    head.replaceChildren(
      h('h1', {}, `Run ${run.id} `, badge(run.status)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Environment'), h('dd', {}, h('a', { href: `#/env/${enc(run.environment)}` }, run.environment), run.kind && run.kind !== 'deploy' ? ` (${run.kind})` : ''),
        h('dt', {}, 'Trigger'), h('dd', {}, run.trigger, run.actor ? ` by ${run.actor}` : ''),
        h('dt', {}, 'Code'), h('dd', {}, h('span', { class: 'ref' }, run.code_ref || '—'), ' ', h('code', { title: run.code_commit }, short(run.code_commit)), run.branch_pin ? ' (a branch pin)' : ''),
        h('dt', {}, 'Settings'), h('dd', {}, h('code', { title: run.settings_commit }, short(run.settings_commit) || '—')),
        h('dt', {}, 'Started'), h('dd', {}, time(run.started_ms || run.created_ms)),
        h('dt', {}, 'Duration'), h('dd', {}, runDuration(run) || '—'),
        run.error ? [h('dt', {}, 'Error'), h('dd', { class: 'bad' }, run.error)] : null),
      actions);
    lastRun = run;
    steps.replaceChildren(timeline(run, liveStep));
  };

  const refresh = async () => {
    clearTimeout(timer);
    try {
      const run = await api(`/api/v1/runs/${enc(id)}`);
      renderHead(run);
      if (!stopFollow && run.status !== 'queued') startLog();
      if (!stopped && !FINAL.has(run.status)) timer = setTimeout(refresh, 1500);
    } catch (e) {
      head.replaceChildren(errorBox(e.message));
      if (!stopped && e.status !== 404 && e.status !== 401) timer = setTimeout(refresh, 3000);
    }
  };
  refresh();
  return {
    line: (ln) => { wanted = ln; if (showLine(ln)) wanted = null; },
    stop: () => { stopped = true; clearTimeout(timer); if (stopFollow) stopFollow(); },
  };
}
