// DOM helpers. Every piece of data reaches the page as a text node or an
// attribute value, never as HTML: nothing here parses markup.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  add(el, ...children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  add(el, ...children);
  return el;
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function add(el, ...children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export const short = (commit) => (commit ? commit.slice(0, 7) : '');

export function duration(ms) {
  if (!ms || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function ago(ms, now = Date.now()) {
  if (!ms) return '';
  const d = Math.round((now - ms) / 1000);
  const future = d < 0;
  const a = Math.abs(d);
  let t;
  if (a < 45) t = `${a} s`;
  else if (a < 3600) t = `${Math.round(a / 60)} min`;
  else if (a < 86400 * 2) t = `${Math.round(a / 3600)} h`;
  else t = `${Math.round(a / 86400)} days`;
  return future ? `in ${t}` : `${t} ago`;
}

export function time(ms) {
  if (!ms) return h('span', { class: 'muted' }, '—');
  const iso = new Date(ms).toISOString();
  return h('time', { datetime: iso, title: iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') }, ago(ms));
}

export function badge(text, kind) {
  return h('span', { class: `badge b-${kind || String(text).toLowerCase()}` }, text);
}

export function runDuration(run) {
  if (run.duration_ms) return duration(run.duration_ms);
  if (run.status === 'running' && run.started_ms) return `${duration(Date.now() - run.started_ms)}…`;
  return '';
}
