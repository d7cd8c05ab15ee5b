// Shared bits of the pages: the signed-in user, the confirmation dialog,
// status messages and action buttons (shown to operators and admins only).

import { h } from './dom.js';

export const session = { name: '', role: '' };
export const canAct = () => session.role === 'operator' || session.role === 'admin';

// Asks for confirmation in a modal dialog; resolves true on "Confirm".
export function confirmAction(title, text, okLabel) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
  dlg.returnValue = '';
  dlg.showModal();
  document.getElementById('confirm-cancel').focus();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
  });
}

// A live region for what an action did or why it failed.
export function notice() {
  return h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
}

export function say(el, text, bad) {
  el.textContent = text;
  el.classList.toggle('bad', !!bad);
}

// An action button: confirm, run `act`, report in `out`, then `after`.
export function actionButton(label, { title, text, ok, danger, act, out, after }) {
  const b = h('button', { type: 'button', class: danger ? 'danger' : 'primary' }, label);
  b.addEventListener('click', async () => {
    if (!(await confirmAction(title, text, ok || label))) return;
    b.disabled = true;
    try {
      const r = await act();
      if (after) after(r);
    } catch (e) {
      say(out, e.message, true);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export function errorBox(message) {
  return h('div', { class: 'error', role: 'alert' }, message);
}
