// The API client: the token lives in sessionStorage (gone when the tab
// closes) and travels as a bearer header, never as a cookie.

const KEY = 'slipway.token';

export const token = () => sessionStorage.getItem(KEY) || '';
export const setToken = (t) => sessionStorage.setItem(KEY, t);
export const forget = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, signal, cache: 'no-store',
    body: body === undefined ? (method === 'POST' ? '{}' : undefined) : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!res.ok) {
    const message = (json && json.message) || `${method} ${path}: HTTP ${res.status}`;
    if (res.status === 401) window.dispatchEvent(new CustomEvent('slipway:unauthorized', { detail: message }));
    throw new ApiError(res.status, message);
  }
  return json;
}

export const enc = encodeURIComponent;

// Follows a run's log over Server-Sent Events (doc/api.md "Live logs").
// EventSource cannot send a bearer header, so the stream is read with
// fetch. Reconnects from the last event id until the `end` event.
export function followLog(runId, { onLines, onEnd, onError }) {
  const ctl = new AbortController();
  let offset = 0;
  let ended = false;
  const run = async () => {
    while (!ended && !ctl.signal.aborted) {
      try {
        const res = await fetch(`/api/v1/runs/${enc(runId)}/log?follow=1&offset=${offset}`, {
          headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
          signal: ctl.signal, cache: 'no-store',
        });
        if (!res.ok) {
          let message = `log: HTTP ${res.status}`;
          try { message = (await res.json()).message || message; } catch { /* not JSON */ }
          throw new ApiError(res.status, message);
        }
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        let data = [];
        let type = 'message';
        let id = null;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line === '') {
              if (type === 'end') {
                ended = true;
                onEnd(data.join('\n'));
              } else if (data.length) {
                onLines(data);
              }
              if (id !== null) offset = Number(id);
              data = [];
              type = 'message';
              id = null;
            } else if (line.startsWith(':')) {
              // keep-alive comment
            } else {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              let v = colon < 0 ? '' : line.slice(colon + 1);
              if (v.startsWith(' ')) v = v.slice(1);
              if (field === 'data') data.push(v);
              else if (field === 'event') type = v;
              else if (field === 'id') id = v;
            }
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e instanceof ApiError && e.status < 500) {
          onError(e.message);
          return;
        }
      }
      if (!ended && !ctl.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  run();
  return () => ctl.abort();
}
