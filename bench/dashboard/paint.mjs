// bench/dashboard: first meaningful paint of the overview in headless
// Chromium — the environments' rows painted (the page's own mark
// 'slipway:overview-painted', taken in the frame after the rows are in the
// DOM), measured from navigation start — with 200 environments and 10,000
// runs in the store, beside the same page with 1 environment and no run.
// Usage: SLIPWAY_BINARY=build/slipway node paint.mjs   (env: ENVS=200 RUNS=10000 LOADS=7)

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Repo, createToken, freePort, launchChromium, serve, tempDir, write } from '../../tests/browser/lib.mjs';

const ENVS = Number(process.env.ENVS || 200);
const RUNS = Number(process.env.RUNS || 10000);
const LOADS = Number(process.env.LOADS || 7);

// A store with `envs` environments and `runs` finished runs spread over
// them, each environment deployed at its newest succeeded run. Seeded with
// one SQL statement per table (seconds, not minutes of real runs).
async function scenario(envs, runs) {
  const root = tempDir('slipway-bench-dashboard-');
  const code = new Repo(root, 'code');
  code.write('VERSION', '1.0.0\n');
  const codeCommit = code.commit('v1');
  code.tag('v1.0.0');
  code.push();
  const settings = new Repo(root, 'settings');
  for (let i = 0; i < envs; i++) settings.write(`environments/env-${String(i).padStart(3, '0')}/deploy.yaml`, 'code:\n  ref: v1.0.0\n');
  const settingsCommit = settings.commit('environments');
  settings.push();
  const port = await freePort();
  let yaml = `state_dir: state\nserver:\n  listen: 127.0.0.1:${port}\nenvironments:\n`;
  for (let i = 0; i < envs; i++) {
    const name = `env-${String(i).padStart(3, '0')}`;
    yaml += `  ${name}:\n    settings:\n      url: ${settings.url}\n      path: environments/${name}\n    code:\n      url: ${code.url}\n` +
      `    triggers:\n      schedule: ["${i % 60} ${i % 24} * * *"]\n    steps:\n      - name: deploy\n        run: "true"\n`;
  }
  const config = path.join(root, 'slipway.yaml');
  write(config, yaml);
  const token = createToken(config, 'viewer', 'bench');  // creates the database
  const t0 = Date.now() - runs * 60000;
  const sql = `
BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ${runs})
INSERT INTO runs (environment, kind, "trigger", actor, status, settings_commit, code_url, code_ref, code_commit,
                  branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace, exported_json)
SELECT 'env-' || printf('%03d', (i - 1) % ${envs}), 'deploy', CASE WHEN i % 3 = 0 THEN 'schedule' ELSE 'push' END,
       'poller', CASE WHEN i % 13 = 0 THEN 'failed' ELSE 'succeeded' END, '${settingsCommit}', '${code.url}', 'v1.0.0',
       '${codeCommit}', 0, '', ${t0} + i * 60000, ${t0} + i * 60000 + 50, ${t0} + i * 60000 + 20000 + (i % 50) * 1000,
       '', '', '', ''
FROM seq;
INSERT INTO deployments (environment, run_id, settings_commit, code_url, code_ref, code_commit, deployed_ms)
SELECT environment, MAX(id), settings_commit, code_url, code_ref, code_commit, MAX(finished_ms)
FROM runs WHERE status = 'succeeded' GROUP BY environment;
COMMIT;`;
  if (runs > 0) execFileSync('sqlite3', [path.join(root, 'state', 'slipway.db')], { input: sql });
  const server = await serve(config, port);
  return { root, server, token };
}

async function measure(ctx, { server, token }) {
  const samples = [];
  const fcps = [];
  for (let i = 0; i < LOADS; i++) {
    const page = await ctx.newPage();
    await page.addInitScript((t) => sessionStorage.setItem('slipway.token', t), token);
    if (process.env.DEBUG) {
      page.on('requestfailed', (r) => console.log(`\nrequest failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
      page.on('response', (r) => { if (r.status() >= 400) console.log(`\nHTTP ${r.status()} ${r.url()}`); });
      page.on('console', (m) => console.log(`\nconsole: ${m.text()}`));
      await page.addInitScript(() => {
        const f = window.fetch;
        window.fetch = async (...a) => {
          const t = performance.now();
          const r = await f(...a);
          console.log(`fetch ${a[0]} headers at ${t.toFixed(0)}..${performance.now().toFixed(0)}`);
          return r;
        };
      });
    }
    await page.goto(`${server.base}/#/`);
    await page.waitForFunction(() => performance.getEntriesByName('slipway:overview-painted').length > 0, null, { timeout: 30000 });
    const { mark, fcp, rows } = await page.evaluate(() => ({
      mark: performance.getEntriesByName('slipway:overview-painted')[0].startTime,
      fcp: (performance.getEntriesByName('first-contentful-paint')[0] || { startTime: 0 }).startTime,
      rows: document.querySelectorAll('tr[data-env]').length,
    }));
    if (i === 0) process.stdout.write(`  (${rows} rows)`);
    if (process.env.DEBUG) {
      const res = await page.evaluate(() => performance.getEntriesByType('resource')
        .map((e) => `${e.name.replace(/^https?:\/\/[^/]+/, '')} start ${e.startTime.toFixed(0)} connect ${(e.connectEnd - e.connectStart).toFixed(0)} wait ${(e.responseStart - e.requestStart).toFixed(0)} end ${e.responseEnd.toFixed(0)}`));
      console.log(`\nload ${i}: mark ${mark.toFixed(0)}\n  ${res.join('\n  ')}`);
    }
    samples.push(mark);
    fcps.push(fcp);
    await page.close();
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { first: samples[0], median: med(samples), max: Math.max(...samples), fcp: med(fcps) };
}

const line = (label, r) => console.log(`${label.padEnd(34)} first ${r.first.toFixed(0).padStart(5)} ms  median ${r.median.toFixed(0).padStart(5)} ms  max ${r.max.toFixed(0).padStart(5)} ms  (first contentful paint ${r.fcp.toFixed(0)} ms)`);

const big = await scenario(ENVS, RUNS);
const small = await scenario(1, 0);
const ctx = await launchChromium();
try {
  // The API call behind the page, timed alone (warm).
  const apiTimes = [];
  let body = '';
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const r = await fetch(`${big.server.base}/api/v1/environments`, { headers: { Authorization: `Bearer ${big.token}` } });
    body = await r.text();
    apiTimes.push(performance.now() - t);
  }
  apiTimes.sort((a, b) => a - b);
  if (process.env.DEBUG) {
    for (const enc of ['identity', 'gzip', 'gzip, deflate, br, zstd']) {
      const t = performance.now();
      const r = await fetch(`${big.server.base}/api/v1/environments`, { headers: { Authorization: `Bearer ${big.token}`, 'Accept-Encoding': enc } });
      await r.arrayBuffer();
      console.log(`accept-encoding ${enc}: ${(performance.now() - t).toFixed(0)} ms, content-encoding ${r.headers.get('content-encoding')}`);
    }
  }
  const apiMs = `min ${apiTimes[0].toFixed(0)}, median ${apiTimes[2].toFixed(0)}`;
  process.stdout.write('baseline');
  const base = await measure(ctx, small);
  process.stdout.write('\nmeasured');
  const got = await measure(ctx, big);
  console.log('\n');
  console.log(`overview first meaningful paint over ${LOADS} loads, headless Chromium (target: ≤ 1000 ms with ${ENVS} environments, ${RUNS} runs)`);
  line('1 environment, no run (baseline)', base);
  line(`${ENVS} environments, ${RUNS} runs`, got);
  console.log(`GET /api/v1/environments with ${ENVS} environments: ${apiMs} ms, ${(body.length / 1024).toFixed(0)} KiB`);
  console.log(`target ${got.median <= 1000 ? 'met' : 'NOT met'}: median ${got.median.toFixed(0)} ms vs 1000 ms`);
} finally {
  await ctx.close();
  for (const s of [big, small]) {
    await s.server.stop();
    if (!process.env.KEEP) fs.rmSync(s.root, { recursive: true, force: true });
  }
}
