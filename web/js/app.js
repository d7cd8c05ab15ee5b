// The dashboard's entry point: sign-in, theme, and the hash router
// (#/, #/env/NAME, #/run/ID, #/run/ID/L123). See doc/dashboard.md.

import { api, token, setToken, forget } from './api.js';
import { h, add, clear } from './dom.js';
import { session } from './ui.js';
import { overview } from './overview.js';
import { environment } from './env.js';
import { runPage } from './run.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const signout = document.getElementById('signout');
const themeButton = document.getElementById('theme');

// --- Theme: follows the system unless the reader picks one. ---
const THEMES = ['auto', 'light', 'dark'];
function applyTheme(t) {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  themeButton.textContent = `Theme: ${t}`;
}
let theme = localStorage.getItem('slipway.theme') || 'auto';
applyTheme(theme);
themeButton.addEventListener('click', () => {
  theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  localStorage.setItem('slipway.theme', theme);
  applyTheme(theme);
});

// --- Sign-in ---
function signIn(message) {
  stopView();
  session.name = session.role = '';
  who.textContent = '';
  signout.hidden = true;
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: 'slw_…', 'aria-describedby': 'token-help' });
  const err = h('p', { class: 'error', role: 'alert', hidden: !message }, message || '');
  const form = h('form', { class: 'signin' },
    h('h1', {}, 'Sign in'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'muted small' },
      'Create one on the engine\'s machine with ', h('code', {}, 'slipway token create --role viewer'),
      '. It is kept in this tab only (sessionStorage) and sent as a bearer header.'),
    err,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    if (await whoami()) route();
    else {
      forget();
      err.hidden = false;
      err.textContent = 'That token was refused: check it, or create a new one.';
      input.focus();
    }
  });
  add(clear(main), form);
  input.focus();
}

let checking = false;  // a refused token during sign-in is not a lost session
async function whoami() {
  checking = true;
  try {
    const me = await api('/api/v1/whoami');
    session.name = me.name;
    session.role = me.role;
    who.textContent = `${me.name} (${me.role})`;
    signout.hidden = false;
    return true;
  } catch {
    return false;
  } finally {
    checking = false;
  }
}

signout.addEventListener('click', () => {
  forget();
  signIn('');
});
window.addEventListener('slipway:unauthorized', () => {
  if (!token() || checking) return;
  forget();
  signIn('The token is no longer accepted; sign in again.');
});

// --- Router ---
let view = null;  // { key, stop, line? }
function stopView() {
  if (view) view.stop();
  view = null;
}

function route() {
  if (!token() || !session.role) return;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  let key;
  let make;
  let line = null;
  if (parts[0] === 'env' && parts[1]) {
    key = `env:${parts[1]}`;
    make = () => ({ stop: environment(main, parts[1]) });
  } else if (parts[0] === 'run' && /^\d+$/.test(parts[1] || '')) {
    key = `run:${parts[1]}`;
    line = parts[2] && /^L\d+$/.test(parts[2]) ? Number(parts[2].slice(1)) : null;
    make = () => runPage(main, parts[1], line);
  } else {
    key = 'overview';
    make = () => ({ stop: overview(main) });
  }
  if (view && view.key === key) {
    if (line && view.line) view.line(line);
    return;
  }
  stopView();
  view = { key, ...make() };
  if (document.activeElement === document.body || !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}
window.addEventListener('hashchange', route);

(async () => {
  if (token() && (await whoami())) route();
  else {
    forget();
    signIn('');
  }
})();
