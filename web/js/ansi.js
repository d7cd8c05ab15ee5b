// ANSI SGR colours (ESC [ ... m) to spans with classes; other escape
// sequences are dropped. Text is always added as text nodes.

import { h } from './dom.js';

const CSI = /\x1b\[([0-9;?]*)([A-Za-z])/g;

export function ansi(text) {
  const out = [];
  const st = { fg: null, bg: null, bold: false, dim: false, italic: false, under: false };
  let last = 0;
  const push = (chunk) => {
    if (!chunk) return;
    const cls = [];
    if (st.fg !== null) cls.push(`a-f${st.fg}`);
    if (st.bg !== null) cls.push(`a-b${st.bg}`);
    if (st.bold) cls.push('a-bold');
    if (st.dim) cls.push('a-dim');
    if (st.italic) cls.push('a-it');
    if (st.under) cls.push('a-u');
    out.push(cls.length ? h('span', { class: cls.join(' ') }, chunk) : document.createTextNode(chunk));
  };
  CSI.lastIndex = 0;
  let m;
  while ((m = CSI.exec(text)) !== null) {
    push(text.slice(last, m.index));
    last = CSI.lastIndex;
    if (m[2] !== 'm') continue;
    const codes = m[1] === '' ? [0] : m[1].split(';').map((x) => Number(x) || 0);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) Object.assign(st, { fg: null, bg: null, bold: false, dim: false, italic: false, under: false });
      else if (c === 1) st.bold = true;
      else if (c === 2) st.dim = true;
      else if (c === 3) st.italic = true;
      else if (c === 4) st.under = true;
      else if (c === 22) st.bold = st.dim = false;
      else if (c === 23) st.italic = false;
      else if (c === 24) st.under = false;
      else if (c >= 30 && c <= 37) st.fg = c - 30;
      else if (c === 39) st.fg = null;
      else if (c >= 40 && c <= 47) st.bg = c - 40;
      else if (c === 49) st.bg = null;
      else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
      else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        const n = codes[i + 2];
        if (n < 16) st[c === 38 ? 'fg' : 'bg'] = n;
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        i += 4;  // 24-bit colours: not rendered
      }
    }
  }
  push(text.slice(last).replace(/\x1b/g, ''));
  return out;
}
