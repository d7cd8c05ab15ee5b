// Helpers of the browser tests and of bench/dashboard: real git repositories
// on file:// URLs, a real `slipway serve` on a free loopback port, tokens
// from the CLI, and Debian's chromium through playwright-core.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const BINARY = process.env.SLIPWAY_BINARY || path.resolve(HERE, '../../build/slipway');

export function tempDir(prefix = 'slipway-browser-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// git with a fixed identity and no user or system configuration.
export function git(cwd, ...args) {
  return execFileSync('git', args, {
    cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'Dana Dev',
      GIT_AUTHOR_EMAIL: 'dana@example.com', GIT_COMMITTER_NAME: 'Dana Dev', GIT_COMMITTER_EMAIL: 'dana@example.com' },
  }).trim();
}

export function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

// A work repository and its bare remote (file:// URL).
export class Repo {
  constructor(root, name) {
    this.dir = path.join(root, 'work', name);
    this.bare = path.join(root, 'remotes', `${name}.git`);
    fs.mkdirSync(this.dir, { recursive: true });
    git(this.dir, 'init', '-q', '-b', 'main');
    fs.mkdirSync(path.dirname(this.bare), { recursive: true });
    git(path.dirname(this.bare), 'init', '-q', '--bare', this.bare);
  }
  get url() { return `file://${this.bare}`; }
  write(rel, text) { write(path.join(this.dir, rel), text); }
  commit(message) {
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '-m', message);
    return git(this.dir, 'rev-parse', 'HEAD');
  }
  tag(name) { git(this.dir, 'tag', name); }
  push() { git(this.dir, 'push', '-q', '--force', '--tags', this.bare, 'main'); }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function slipway(args, cwd) {
  return execFileSync(BINARY, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function createToken(config, role, name) {
  return slipway(['token', 'create', '--role', role, '--name', name, '-c', config], path.dirname(config));
}

export async function waitFor(fn, timeoutMs = 20000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

// `slipway serve -c config` in the background; stop() sends SIGTERM and waits.
export async function serve(config, port) {
  const dir = path.dirname(config);
  const log = fs.openSync(path.join(dir, 'serve.log'), 'w');
  const child = spawn(BINARY, ['serve', '-c', config, '--grace', '1s'], { cwd: dir, stdio: ['ignore', log, log] });
  const base = `http://127.0.0.1:${port}`;
  let exited = null;
  child.on('exit', (code, sig) => { exited = code ?? sig; });
  await waitFor(async () => {
    if (exited !== null) throw new Error(`slipway serve exited (${exited}): ${fs.readFileSync(path.join(dir, 'serve.log'), 'utf8')}`);
    const r = await fetch(`${base}/healthz`).catch(() => null);
    return r && r.ok;
  }, 30000, 'slipway serve to answer /healthz');
  return {
    base,
    log: () => fs.readFileSync(path.join(dir, 'serve.log'), 'utf8'),
    stop: async () => {
      if (exited !== null) return;
      const done = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await done;
      clearTimeout(t);
    },
  };
}

// An API client for setup and checks.
export function apiClient(base, token) {
  return async (p, { method = 'GET', body } = {}) => {
    const r = await fetch(base + p, {
      method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: method === 'POST' ? JSON.stringify(body || {}) : undefined,
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

// Debian's chromium, headless, with nothing that talks to the network, in a
// fresh profile (Playwright's persistent context is how it takes
// --user-data-dir). Each page has its own sessionStorage, hence its own
// sign-in. close() removes the profile.
export async function launchChromium(options = {}) {
  const profile = tempDir('slipway-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
    ...options,
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return context;
}
