// Shared pieces of the browser end-to-end tests: starting `rollcall demo` on
// a free port with a fresh data directory, launching Chromium, opening pages
// whose console is watched, screenshots, and signing in.
//
// Environment:
//   ROLLCALL_BIN  server binary (default: ../target/debug/rollcall from here)
//   CHROMIUM      browser executable (default: /usr/bin/chromium)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const serverBin = path.resolve(here, process.env.ROLLCALL_BIN || '../target/debug/rollcall');
export const browserBin = process.env.CHROMIUM || '/usr/bin/chromium';
export const shotDir = path.join(here, 'screenshots');

export const ADMIN = { email: 'admin@riverside.example', password: 'riverside-demo-2026' };
export const VIEWER = { email: 'viewer@riverside.example', password: 'riverside-demo-2026' };

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on host:port. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * One server and one browser for a test file. `start()` in `before`,
 * `stop()` in `after`; in between, `base` is the server's address and
 * `consoleProblems` collects every console error, uncaught page error and
 * CSP violation seen on any page opened with `openPage`.
 */
export function createHarness() {
  let server; // child process
  let port;
  let dataDir;
  const contexts = new Set();

  const h = {
    base: undefined,
    browser: undefined,
    serverLog: '',
    consoleProblems: [],

    async start() {
      assert.ok(existsSync(serverBin), `server binary not found at ${serverBin} (build it or set ROLLCALL_BIN)`);
      assert.ok(existsSync(browserBin), `Chromium not found at ${browserBin} (install it or set CHROMIUM)`);
      mkdirSync(shotDir, { recursive: true });

      dataDir = mkdtempSync(path.join(os.tmpdir(), 'rollcall-e2e-'));
      port = await freePort();
      h.base = `http://127.0.0.1:${port}`;
      server = spawn(serverBin, ['--data-dir', dataDir, 'demo', '--listen', `127.0.0.1:${port}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      server.stdout.on('data', (d) => { h.serverLog += d; });
      server.stderr.on('data', (d) => { h.serverLog += d; });
      process.once('exit', killServerNow);
      await waitForHealth(`${h.base}/healthz`, 30_000);

      h.browser = await chromium.launch({
        executablePath: browserBin,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    },

    /** Closes every page and browser context, the browser and the server; removes the data. */
    async stop() {
      await h.closeContexts();
      if (h.browser) await h.browser.close().catch(() => {});
      await stopServer();
      process.removeListener('exit', killServerNow);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      if (server) {
        assert.ok(server.exitCode !== null || server.signalCode !== null, 'the server process has ended');
        assert.equal(await listening(port), false, `nothing listens on port ${port} any more`);
      }
      if (h.browser) assert.equal(h.browser.isConnected(), false, 'the browser has closed');
    },

    /** Closes the browser contexts opened so far (their pages with them). */
    async closeContexts() {
      for (const c of contexts) await c.close().catch(() => {});
      contexts.clear();
    },

    /** A fresh browser context (own cookies) and page, with its console watched. */
    async openPage(label) {
      const context = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
      contexts.add(context);
      context.once('close', () => contexts.delete(context));
      const problems = [];
      const page = await h.watch(await context.newPage(), label, problems);
      return { context, page, problems };
    },

    /** Watches the console of another page (e.g. a second tab), noting into `problems`. */
    async watch(page, label, problems) {
      page.setDefaultTimeout(10_000);
      const note = (kind, text) => {
        const entry = `[${label}] ${kind} on ${page.url()}: ${text}`;
        problems.push(entry);
        h.consoleProblems.push(entry);
      };
      page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const source = msg.location().url || '';
        note('console error', source ? `${msg.text()} (${source})` : msg.text());
      });
      page.on('pageerror', (err) => note('page error', err.message));
      return page;
    },

    /** Drops the expected entries (an answer the step provoked on purpose). */
    forgive(problems, pattern) {
      for (const list of [problems, h.consoleProblems]) {
        const keep = list.filter((p) => !pattern.test(p));
        list.splice(0, list.length, ...keep);
      }
    },

    /** Opens the sign-in page and fills it in; the caller clicks Sign in. */
    async fillSignIn(page, who) {
      await page.goto(`${h.base}/sign-in`);
      await page.getByLabel('Email', { exact: true }).fill(who.email);
      await page.getByLabel('Password', { exact: true }).fill(who.password);
    },

    /** Signs in someone who lands on the user list (an admin or a viewer). */
    async signIn(page, who) {
      await h.fillSignIn(page, who);
      await Promise.all([
        page.waitForURL((u) => u.pathname === '/users'),
        page.getByRole('button', { name: 'Sign in', exact: true }).click(),
      ]);
      await page.locator('table.users').waitFor();
    },
  };

  async function waitForHealth(url, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (server.exitCode !== null || server.signalCode !== null) {
        throw new Error(`server exited (${server.exitCode ?? server.signalCode}) before answering:\n${h.serverLog}`);
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`no answer from ${url} within ${timeoutMs} ms:\n${h.serverLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  function killServerNow() {
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }

  async function stopServer() {
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    const timer = setTimeout(killServerNow, 5000);
    await exited;
    clearTimeout(timer);
  }

  return h;
}

/**
 * Keeps a screenshot of the page as it is now, after checking what every console page owes its
 * reader (see `checkPage`). `check: false` only for a page state that is not the console's own.
 */
export async function shot(page, name, { fullPage = true, check = true } = {}) {
  if (check) await checkPage(page, name);
  await page.screenshot({ path: path.join(shotDir, name), fullPage });
}

const axeSource = readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');
const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * What every page state of the console owes its reader, checked where it stands:
 * - no violation of the WCAG 2.0/2.1 A and AA rules that axe-core checks;
 * - no horizontal scroll of the page at its width (a table may scroll inside its own box only
 *   where it says so);
 * - no internal value shown as text: a raw UUID or a millisecond or microsecond epoch number
 *   outside a link's address.
 */
export async function checkPage(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(
    (tags) => globalThis.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    WCAG_AA,
  );
  const violations = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}${v.nodes.length > 3 ? ` and ${v.nodes.length - 3} more` : ''}`,
  );
  assert.deepEqual(violations, [], `${label}: WCAG 2.1 AA violations at ${page.url()}`);

  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
  assert.ok(widths.page <= widths.view, `${label}: the page scrolls sideways at ${widths.view} px (${widths.page} px wide) at ${page.url()}`);

  const internal = await page.evaluate(() => {
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const pattern = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b1\d{12}(\d{3})?\b/i;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('script, style, template, [hidden]')) continue;
      const m = n.textContent.match(pattern);
      if (m) found.push(`${m[0]} in <${el.tagName.toLowerCase()}>`);
    }
    return found;
  });
  assert.deepEqual(internal, [], `${label}: internal values shown at ${page.url()}`);
}
