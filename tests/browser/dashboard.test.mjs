// The dashboard in headless Chromium against a real `slipway serve` (issue 6,
// "How it is checked"). Run by run.sh from ctest (test browser_dashboard).
// Screenshots of each page go to $ARTIFACTS_DIR.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repo, apiClient, createToken, freePort, launchChromium, serve, tempDir, waitFor, write } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const ARTIFACTS = process.env.ARTIFACTS_DIR || path.resolve(HERE, '../../build/test-artifacts/dashboard');
const HTML_MESSAGE = 'Production to v1.1.0 <img src=x onerror="alert(2)"> <b>not bold</b>';
const SCRIPT_LINE = '<script>alert(1)</script>';

let root, server, ctx, operator, viewer, api, productionFirstRun;
const dialogs = [];

async function openPage(viewport) {
  const page = await ctx.newPage();
  if (viewport) await page.setViewportSize(viewport);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => { dialogs.push(`page error: ${e.message}`); });
  return page;
}

async function signIn(page, token) {
  await page.goto(`${server.base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: '(' }).waitFor();
}

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

// Clicks an action button and confirms in the dialog.
async function act(page, label, confirmLabel) {
  await page.getByRole('button', { name: label, exact: true }).click();
  const dlg = page.locator('dialog#confirm');
  await dlg.waitFor({ state: 'visible' });
  await dlg.getByRole('button', { name: confirmLabel, exact: true }).click();
}

describe('dashboard', { timeout: 240000 }, () => {
  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    root = tempDir();
    const code = new Repo(root, 'code');
    code.write('VERSION', '1.0.0\n');
    code.commit('v1');
    code.tag('v1.0.0');
    code.write('VERSION', '1.1.0\n');
    code.commit('v1.1');
    code.tag('v1.1.0');
    code.push();
    const settings = new Repo(root, 'settings');
    for (const env of ['staging', 'production', 'batch', 'chatty']) {
      settings.write(`environments/${env}/deploy.yaml`, 'code:\n  ref: v1.0.0\n');
    }
    settings.commit('Four environments on v1.0.0');
    settings.push();
    const port = await freePort();
    const steps = (list) => list.map(([n, run]) => `      - name: ${n}\n        run: ${JSON.stringify(run)}\n`).join('');
    const env = (name, triggers, list) => `  ${name}:\n    settings:\n      url: ${settings.url}\n      path: environments/${name}\n` +
      `    code:\n      url: ${code.url}\n${triggers}    steps:\n${steps(list)}`;
    const config = path.join(root, 'slipway.yaml');
    write(config, `state_dir: state\nserver:\n  listen: 127.0.0.1:${port}\nenvironments:\n` +
      env('staging', '    triggers:\n      schedule: ["0 3 * * *"]\n', [
        ['build', `printf '\\033[32mgreen ok\\033[0m\\n'; echo '${SCRIPT_LINE}'; for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 0.5; done`],
        ['deploy', 'echo "deployed $(cat VERSION)"'],
      ]) +
      // Its tests pass on 1.0.0 only: the push to v1.1.0 fails and leaves it OutOfSync.
      env('production', '    triggers:\n      push: { poll: 1s }\n', [
        ['test', 'grep -qx 1.0.0 VERSION || { echo "tests fail on $(cat VERSION)"; exit 1; }'],
        ['deploy', 'echo "deployed $(cat VERSION)"'],
      ]) +
      // Its drift check (doc/drift.md) finds the live state changed by hand.
      `    preview:\n${steps([['diff', 'echo "[~] bucket logs: versioning Enabled -> Suspended"']])}` +
      env('batch', '', [['work', 'echo started; sleep 60; echo never']]) +
      env('chatty', '', [['talk', 'for i in $(seq 1 200); do echo "line $i"; done; sleep 3; for i in $(seq 201 260); do echo "line $i"; done']]));
    operator = createToken(config, 'operator', 'olivia');
    viewer = createToken(config, 'viewer', 'victor');
    server = await serve(config, port);
    api = apiClient(server.base, operator);
    // production has push polling: a new environment deploys at once.
    productionFirstRun = await waitFor(async () => {
      const e = await api('/api/v1/environments/production');
      return e.deployed && e.deployed.run_id;
    }, 60000, 'the first deployment of production');
    ctx = await launchChromium();
    settings.commitHtml = () => {
      settings.write('environments/production/deploy.yaml', 'code:\n  ref: v1.1.0\n');
      settings.commit(HTML_MESSAGE);
      settings.push();
    };
    globalThis.settingsRepo = settings;
  });

  after(async () => {
    if (ctx) await ctx.close();
    if (server) await server.stop();
    if (process.env.KEEP_TMP !== '1' && root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('serves the page without a token, with a strict CSP; the data needs one', async () => {
    const r = await fetch(`${server.base}/`);
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    const etag = r.headers.get('etag');
    assert.equal((await fetch(`${server.base}/`, { headers: { 'If-None-Match': etag } })).status, 304);
    assert.equal((await fetch(`${server.base}/assets/js/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await fetch(`${server.base}/assets/../slipway.yaml`)).status, 404);
    assert.equal((await fetch(`${server.base}/api/v1/environments`)).status, 401);
  });

  it('refuses a wrong token, signs in, and shows every environment', async () => {
    const page = await openPage();
    await page.goto(`${server.base}/`);
    await shot(page, 'sign-in');
    await page.getByLabel('API token').fill('slw_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was refused').waitFor();
    await signIn(page, operator);
    assert.equal(await page.locator('#who').textContent(), 'olivia (operator)');
    for (const name of ['staging', 'production', 'batch']) {
      await page.locator(`tr[data-env="${name}"]`).waitFor();
    }
    const prod = page.locator('tr[data-env="production"]');
    await prod.getByText('Synced').waitFor({ timeout: 20000 });
    assert.match(await prod.textContent(), /v1\.0\.0/);
    assert.match(await prod.textContent(), /succeeded/);
    assert.match(await page.locator('tr[data-env="staging"]').textContent(), /never/);
    assert.match(await page.locator('tr[data-env="staging"] td[data-label="Next scheduled"]').textContent(), /^in /);
    await shot(page, 'overview');
    // The token lives in this tab only.
    assert.equal(await page.evaluate(() => sessionStorage.getItem('slipway.token')), operator);
    assert.deepEqual(await ctx.cookies(), []);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('slipway.token')), null);
    await page.close();
  });

  it('deploys now and shows the log live, colours rendered, a <script> line as text', async () => {
    const page = await openPage();
    await signIn(page, operator);
    await page.goto(`${server.base}/#/env/staging`);
    await act(page, 'Deploy now', 'Deploy');
    await page.waitForURL(/#\/run\/\d+$/);
    const runId = Number(page.url().match(/#\/run\/(\d+)/)[1]);
    const log = page.locator('.log');
    // A line arrives while the run is still going: it is live.
    await log.getByText('tick 1', { exact: true }).waitFor({ timeout: 20000 });
    const during = await api(`/api/v1/runs/${runId}`);
    assert.equal(during.status, 'running', 'tick 1 was shown only after the run ended');
    assert.equal(await log.getByText('tick 8', { exact: true }).count(), 0);
    await page.locator('h1 .badge').filter({ hasText: 'running' }).waitFor();
    await page.locator('.steps .step').first().locator('.badge', { hasText: 'running' }).waitFor();
    await shot(page, 'run-live');
    await log.getByText('tick 8', { exact: true }).waitFor({ timeout: 20000 });
    await page.locator('h1 .badge').filter({ hasText: 'succeeded' }).waitFor({ timeout: 20000 });
    await log.getByText('deployed 1.0.0').waitFor();
    assert.equal(await log.locator('.a-f2').first().textContent(), 'green ok');
    // The step's own command line (==> step build: ...) holds it too; this is the printed line.
    assert.equal(await log.getByText(SCRIPT_LINE, { exact: true }).count(), 1);
    assert.equal(await page.locator('.log script').count(), 0);
    // Steps timeline.
    assert.equal(await page.locator('.steps .step').count(), 2);
    assert.match(await page.locator('.steps .step').first().textContent(), /build\s*succeeded/);
    // Search in the log, then a link to a line.
    await page.getByLabel('Search the log').fill('TICK 3');
    await page.getByText('1 of 1', { exact: true }).waitFor();
    assert.equal(await log.locator('.ln.cur .tx').textContent(), 'tick 3');
    const line = await log.locator('.ln.cur').getAttribute('id');
    await page.goto(`${server.base}/#/run/${runId}/${line}`);
    await page.locator(`#${line}.target`).waitFor();
    await shot(page, 'run');
    assert.deepEqual(dialogs, []);
    await page.close();
  });

  it('follows the log until the reader scrolls up, and again on request', async () => {
    const page = await openPage({ width: 1200, height: 700 });
    await signIn(page, operator);
    const { run_id: id } = await api('/api/v1/environments/chatty/trigger', { method: 'POST' });
    await page.goto(`${server.base}/#/run/${id}`);
    const log = page.locator('.log');
    await log.getByText('line 200', { exact: true }).waitFor({ timeout: 20000 });
    const gap = () => log.evaluate((el) => el.scrollHeight - el.clientHeight - el.scrollTop);
    await waitFor(async () => (await gap()) <= 4, 5000, 'the log to follow its last line');
    assert.equal(await log.getByText('line 201', { exact: true }).count(), 0, 'the pause came too late for this test');
    await log.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    const follow = page.getByRole('button', { name: 'Follow the log ↓' });
    await follow.waitFor();
    await log.getByText('line 260', { exact: true }).waitFor({ timeout: 20000 });
    assert.equal(await log.evaluate((el) => el.scrollTop), 0, 'the log scrolled while the reader was reading above');
    await follow.click();
    await waitFor(async () => (await gap()) <= 4, 5000, 'the log to follow again');
    assert.equal(await follow.isVisible(), false);
    await page.close();
  });

  it('cancels a running run', async () => {
    const page = await openPage();
    await signIn(page, operator);
    await page.goto(`${server.base}/#/env/batch`);
    await act(page, 'Deploy now', 'Deploy');
    await page.waitForURL(/#\/run\/\d+$/);
    await page.locator('.log').getByText('started', { exact: true }).waitFor({ timeout: 20000 });
    await act(page, 'Cancel run', 'Cancel run');
    await page.locator('h1 .badge').filter({ hasText: 'cancelled' }).waitFor({ timeout: 20000 });
    assert.equal(await page.locator('.log').getByText('never', { exact: true }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);
    await page.close();
  });

  it('pauses and resumes', async () => {
    const page = await openPage();
    await signIn(page, operator);
    await page.goto(`${server.base}/#/env/production`);
    await act(page, 'Pause', 'Pause');
    await page.locator('h1 .badge').filter({ hasText: 'paused' }).waitFor();
    assert.equal((await api('/api/v1/environments/production')).paused, true);
    await act(page, 'Resume', 'Resume');
    await page.getByRole('button', { name: 'Pause', exact: true }).waitFor();
    assert.equal(await page.locator('h1 .badge').filter({ hasText: 'paused' }).count(), 0);
    assert.equal((await api('/api/v1/environments/production')).paused, false);
    await page.close();
  });

  it('shows desired vs deployed, an HTML commit message as inert text, and the pin change', async () => {
    const page = await openPage();
    await signIn(page, operator);
    await page.goto(`${server.base}/#/env/production`);
    // The push is polled and run; its tests fail, so v1.0.0 stays deployed
    // and the commit waits in "desired vs deployed".
    globalThis.settingsRepo.commitHtml();
    const subject = page.locator('.commits .subject');
    await subject.waitFor({ timeout: 60000 });
    assert.equal(await subject.textContent(), HTML_MESSAGE);
    assert.equal(await page.locator('.commits img, .commits b').count(), 0);
    assert.match(await page.locator('.commits .files').textContent(), /environments\/production\/deploy\.yaml/);
    assert.match(await page.locator('.pin').textContent(), /v1\.0\.0.*→.*v1\.1\.0/s);
    await page.locator('h1 .badge').filter({ hasText: 'OutOfSync' }).waitFor();
    await page.locator('.runs .badge').filter({ hasText: 'failed' }).first().waitFor();
    assert.equal(await page.locator('.chart rect').count(), 2);
    await shot(page, 'environment');
    assert.deepEqual(dialogs, []);
    await page.close();
  });

  it('shows drift on the environment page: the badge and the last check with its run', async () => {
    const page = await openPage();
    await signIn(page, viewer);
    await page.goto(`${server.base}/#/env/production`);
    await page.locator('.runs tbody tr').first().waitFor();
    assert.equal(await page.locator('h1 .badge').filter({ hasText: 'Drifted' }).count(), 0);
    assert.equal((await page.locator('dd.drift').textContent()).trim(), 'never');
    const check = await api('/api/v1/environments/production/drift-check', { method: 'POST', body: {} });
    const badge = page.locator('h1 .badge').filter({ hasText: 'Drifted' });
    await badge.waitFor({ timeout: 60000 });
    assert.equal(await badge.getAttribute('title'), 'make diff printed 1 line');
    const last = page.locator('dd.drift');
    assert.match(await last.textContent(), /Drifted: make diff printed 1 line/);
    assert.ok(await last.locator('time').count() === 1, 'the check has its time');
    const link = last.getByRole('link', { name: `run #${check.run_id}` });
    assert.equal(await link.getAttribute('href'), `#/run/${check.run_id}`);
    // Like the overview.
    await page.goto(`${server.base}/#/`);
    await page.locator('tr[data-env="production"] .badge').filter({ hasText: 'Drifted' }).waitFor();
    await page.goto(`${server.base}/#/env/production`);
    await page.locator('dd.drift a').click();
    await page.waitForURL(new RegExp(`#/run/${check.run_id}$`));
    assert.deepEqual(dialogs, []);
    await page.close();
  });

  it('rolls back to an earlier run and shows the held marker', async () => {
    const page = await openPage();
    await signIn(page, operator);
    await page.goto(`${server.base}/#/run/${productionFirstRun}`);
    await act(page, 'Roll back to this run', 'Roll back');
    await page.waitForURL(/#\/env\/production$/);
    await page.locator('h1 .badge').filter({ hasText: /^held at run \d+$/ }).waitFor({ timeout: 20000 });
    await page.goto(`${server.base}/#/`);
    const row = page.locator('tr[data-env="production"]');
    await row.getByText(/held at run/).waitFor();
    await waitFor(async () => /v1\.0\.0/.test(await row.locator('td[data-label="Deployed"]').textContent()), 60000,
      'the rollback to deploy v1.0.0 again');
    await page.setViewportSize({ width: 1280, height: 330 });
    await shot(page, 'overview-held');
    await page.close();
  });

  it('shows a viewer no action buttons, and the API refuses the actions anyway', async () => {
    const page = await openPage();
    await signIn(page, viewer);
    assert.equal(await page.locator('#who').textContent(), 'victor (viewer)');
    await page.locator('tr[data-env="production"]').waitFor();
    await page.goto(`${server.base}/#/env/production`);
    await page.locator('.runs tbody tr').first().waitFor();
    assert.equal(await page.locator('.actions button').count(), 0);
    await page.goto(`${server.base}/#/run/${productionFirstRun}`);
    await page.locator('h1 .badge').waitFor();
    assert.equal(await page.locator('main button').filter({ hasText: /Roll back|Cancel|Deploy|Pause|Resume/ }).count(), 0);
    const r = await fetch(`${server.base}/api/v1/environments/staging/trigger`, {
      method: 'POST', headers: { Authorization: `Bearer ${viewer}` }, body: '{}',
    });
    assert.equal(r.status, 403);
    await shot(page, 'run-viewer');
    await page.close();
  });

  it('fits a phone and has a dark theme', async () => {
    const page = await openPage({ width: 390, height: 844 });
    await signIn(page, viewer);
    await page.locator('tr[data-env="production"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    await shot(page, 'overview-phone');
    // auto → light → dark
    await page.getByRole('button', { name: 'Switch theme' }).click();
    await page.getByRole('button', { name: 'Switch theme' }).click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(13, 17, 23)');
    await page.setViewportSize({ width: 1400, height: 900 });
    await shot(page, 'overview-dark');
    // Keyboard: Tab reaches the environment links, Enter follows one.
    await page.locator('.brand').focus();
    let reached = false;
    for (let i = 0; i < 8 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement.closest('tr[data-env]') !== null);
    }
    assert.ok(reached, 'Tab never reached an environment link');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/env\//);
    await page.evaluate(() => localStorage.removeItem('slipway.theme'));
    await page.close();
  });
});
