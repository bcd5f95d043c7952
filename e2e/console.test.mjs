// Browser end-to-end test of the Rollcall web console.
//
// Starts `rollcall demo` on a free port with a fresh data directory, drives
// Chromium through playwright-core and checks what a person sees: signing in,
// the user list with search and filters, paging, the viewer profile, signing
// out, and a console free of errors (CSP violations, script errors, failed
// loads). Screenshots are written to e2e/screenshots/.
//
// Environment:
//   ROLLCALL_BIN  server binary (default: ../target/debug/rollcall from here)
//   CHROMIUM      browser executable (default: /usr/bin/chromium)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ADMIN, VIEWER, checkPage, createHarness, shot } from './harness.mjs';

const STATUS_LABELS = ['Active', 'Pending', 'Expired', 'Inactive', 'Blocked', 'Disabled'];

const h = createHarness();
let base; // the server's address, once started
// Every console error, uncaught page error and CSP violation seen on any page.
const consoleProblems = h.consoleProblems;

/** A fresh browser context (own cookies) and page, with its console watched. */
const openPage = (label) => h.openPage(label);
/** Drops the expected entries (an answer the step provoked on purpose). */
const forgive = (problems, pattern) => h.forgive(problems, pattern);
const signIn = (page, who) => h.signIn(page, who);

/** What the user table shows, one object per user row. */
function readRows(page) {
  return page.locator('table.users tbody tr[data-user]').evaluateAll((trs) =>
    trs.map((tr) => {
      // The selection checkbox (admins only) is not a column of data.
      const cells = [...tr.cells].filter((td) => !td.classList.contains('pick')).map((td) => td.innerText.trim());
      const badge = tr.querySelector('span.status');
      return {
        id: tr.dataset.user,
        name: cells[0],
        email: cells[1],
        username: cells[2],
        created: cells[3],
        status: badge ? badge.innerText.trim() : '',
        statusClass: badge ? badge.className : '',
        userType: cells[5],
        locations: cells[6],
      };
    }),
  );
}

/**
 * Runs `action` (which makes htmx replace #rows) and waits until the old
 * #rows element has left the page and the new table is in place. With
 * `until`, also waits for the address htmx pushes to satisfy it, so that when
 * typing fires more than one request the last one is the one on screen.
 */
async function swapRows(page, action, until) {
  const old = await page.$('#rows');
  assert.ok(old, '#rows is on the page');
  await action();
  await page.waitForFunction((el) => !el.isConnected, old);
  await old.dispose();
  if (until) await page.waitForURL((u) => until(u.searchParams));
  await page.waitForFunction(() => !document.querySelector('.htmx-request'));
  await page.locator('#rows table.users').waitFor();
}

/** Parses CSV text (RFC 4180 quoting) into an array of records. */
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { record.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      record.push(field); records.push(record); record = []; field = '';
    } else field += c;
  }
  if (field || record.length) { record.push(field); records.push(record); }
  return records;
}

/** Clicks Export CSV and returns the downloaded file as header + objects. */
async function exportCsv(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()]);
  const file = await download.path();
  const [header, ...rest] = parseCsv(readFileSync(file, 'utf8'));
  return { name: download.suggestedFilename(), header, rows: rest.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]]))) };
}

function assertStatusBadges(rows) {
  for (const r of rows) {
    assert.ok(STATUS_LABELS.includes(r.status), `row ${r.name} has a known status label, got "${r.status}"`);
    assert.match(r.statusClass, new RegExp(`\\bstatus-${r.status.toLowerCase()}\\b`), `badge colour class matches label for ${r.name}`);
  }
}

before(async () => {
  await h.start();
  base = h.base;
});

after(() => h.stop());

describe('Rollcall web console', { timeout: 120_000 }, () => {
  test('admin: sign-in, user list, search, filters, paging', async () => {
    const { context, page, problems } = await openPage('admin');

    // Wrong password: an error on the sign-in page and no session.
    await page.goto(`${base}/sign-in`);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /password is not right/i);
    assert.equal(new URL(page.url()).pathname, '/sign-in');
    assert.equal(await page.locator('table.users').count(), 0, 'no user list after a wrong password');
    assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), ADMIN.email, 'the email is kept for the retry');
    const cookies = await context.cookies(base);
    assert.ok(!cookies.some((c) => c.name === 'rc_session' && c.value), 'no session cookie after a wrong password');
    await shot(page, 'sign-in-error.png');
    // Chromium logs the 401 answer to the failed attempt as a failed
    // resource; that one is expected, anything else is not.
    forgive(problems, /status of 401 .*\/sign-in\)$/);

    // Right password: the user list.
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/users'),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    const headers = await page.locator('table.users thead th:not(.pick)').allInnerTexts();
    assert.deepEqual(
      headers.map((h) => h.trim().toLowerCase()),
      ['name', 'access email', 'username', 'created', 'status', 'user type', 'locations', 'actions'],
    );
    const firstPage = await readRows(page);
    assert.ok(firstPage.length >= 40 && firstPage.length <= 50, `about 50 rows on the first page, got ${firstPage.length}`);
    assert.match(await page.locator('#result-total').innerText(), /^\d+ users match$/, 'the list says how many users match');
    assert.equal(await page.locator('#prev-page').count(), 0, 'no previous page on the first page');
    assertStatusBadges(firstPage);
    assert.ok(new Set(firstPage.map((r) => r.status)).size > 1, 'the demo list shows several statuses');
    for (const r of firstPage) {
      assert.ok(r.name && r.email.includes('@') && r.username, `row ${r.id} shows name, email and username`);
      assert.match(r.created, /^\d{4}-\d{2}-\d{2}$/, `row ${r.name} shows a creation date`);
    }
    assert.ok(await page.locator('#next-page').isVisible(), 'a Next page link is shown');
    assert.ok(await page.locator('#export').isVisible(), 'an Export CSV link is shown');
    await shot(page, 'users-list.png');

    // Search narrows the table without a page load.
    const search = page.getByRole('searchbox', { name: 'Search', exact: true });
    await page.evaluate(() => { window.__sameDocument = true; });
    await swapRows(page, () => search.pressSequentially('chen', { delay: 40 }), (q) => q.get('q') === 'chen');
    const found = await readRows(page);
    assert.ok(found.length > 0, 'search for "chen" finds someone');
    assert.ok(found.length < firstPage.length, 'search narrows the list');
    for (const r of found) {
      assert.ok(
        [r.name, r.email, r.username].some((v) => v.toLowerCase().includes('chen')),
        `row ${r.name} / ${r.email} matches "chen"`,
      );
    }
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'search did not reload the page');
    assert.equal(new URL(page.url()).searchParams.get('q'), 'chen', 'the address bar carries the search');
    assert.equal(await page.locator('#result-total').innerText(), found.length === 1 ? '1 user matches' : `${found.length} users match`, 'the live count follows the search');
    assert.equal(await page.locator('[role=status] #result-total').count(), 1, 'the count is announced from a live region that stays in place');
    await shot(page, 'users-search.png');

    // Clear the search, then filter by status.
    await swapRows(page, () => search.fill(''));
    assert.equal((await readRows(page)).length, firstPage.length, 'clearing the search restores the list');
    await swapRows(page, () => page.getByLabel('Status', { exact: true }).selectOption({ label: 'Expired' }));
    const expired = await readRows(page);
    assert.ok(expired.length > 0, 'some users are expired');
    for (const r of expired) {
      assert.equal(r.status, 'Expired', `row ${r.name} reads Expired`);
      assert.match(r.statusClass, /\bstatus-expired\b/);
    }
    assert.equal(new URL(page.url()).searchParams.get('status'), 'expired');

    // And by location, on top of the status.
    const locationSelect = page.getByLabel('Location', { exact: true });
    const locations = await locationSelect.locator('option').evaluateAll((os) =>
      os.filter((o) => o.value).map((o) => o.textContent.trim()),
    );
    assert.ok(locations.length > 0, 'the location filter lists clinics');
    const clinic = locations[0];
    await swapRows(page, () => locationSelect.selectOption({ label: clinic }));
    const atClinic = await readRows(page);
    assert.ok(atClinic.length > 0, `some expired users work at ${clinic}`);
    assert.ok(atClinic.length <= expired.length, 'the location narrows the list further');
    for (const r of atClinic) {
      assert.ok(r.locations.split(',').map((s) => s.trim()).includes(clinic), `row ${r.name} (${r.locations}) is at ${clinic}`);
      assert.equal(r.status, 'Expired', `row ${r.name} still reads Expired`);
    }
    await shot(page, 'users-filtered.png');

    // Back to the full list through the nav, then to the next page.
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/users' && u.search === ''),
      page.getByRole('navigation').getByRole('link', { name: 'Users', exact: true }).click(),
    ]);
    await page.locator('table.users').waitFor();
    assert.deepEqual((await readRows(page)).map((r) => r.id), firstPage.map((r) => r.id), 'the nav link shows the unfiltered list');
    assert.equal(await page.getByLabel('Status', { exact: true }).inputValue(), '');
    await swapRows(page, () => page.locator('#next-page').click());
    const secondPage = await readRows(page);
    assert.ok(secondPage.length > 0, 'the next page has rows');
    const seen = new Set(firstPage.map((r) => r.id));
    assert.ok(secondPage.every((r) => !seen.has(r.id)), 'the next page shows different users');
    assertStatusBadges(secondPage);
    assert.ok(new URL(page.url()).searchParams.has('after'), 'the address bar carries the page position');
    await shot(page, 'users-page-2.png');
    await swapRows(page, () => page.locator('#prev-page').click());
    assert.deepEqual((await readRows(page)).map((r) => r.id), firstPage.map((r) => r.id), 'the previous page is the first page again');

    assert.deepEqual(problems, [], 'no console errors on the admin pages');
  });

  test('viewer: sees the list, no API tokens', async () => {
    const { page, problems } = await openPage('viewer');
    await signIn(page, VIEWER);
    const rows = await readRows(page);
    assert.ok(rows.length > 0, 'the viewer sees users');
    assertStatusBadges(rows);
    const nav = page.getByRole('navigation');
    assert.ok(await nav.getByRole('link', { name: 'Users', exact: true }).isVisible());
    assert.ok(await nav.getByRole('link', { name: 'Audit log', exact: true }).isVisible());
    assert.equal(await nav.getByRole('link', { name: 'API tokens', exact: true }).count(), 0, 'no API tokens link for a viewer');
    assert.equal((await nav.locator('.badge').innerText()).trim(), 'viewer', 'the nav marks the viewer profile');
    await shot(page, 'viewer.png', { fullPage: false }); // the nav stays legible

    // Typing the address does not get a viewer in either.
    const res = await page.goto(`${base}/settings/api-tokens`);
    assert.equal(res.status(), 403);
    assert.equal(await page.locator('form[action="/settings/api-tokens"]').count(), 0, 'no token form for a viewer');
    assert.match(await page.locator('main').innerText(), /not allowed/i);
    forgive(problems, /status of 403 .*\/settings\/api-tokens\)$/);

    assert.deepEqual(problems, [], 'no console errors on the viewer pages');
  });

  test('sign out: back to sign-in, /users then asks to sign in', async () => {
    const { context, page, problems } = await openPage('sign-out');
    await signIn(page, ADMIN);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/sign-in'),
      page.getByRole('button', { name: 'Sign out', exact: true }).click(),
    ]);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    assert.match(await page.getByRole('alert').innerText(), /signed out/i);
    assert.ok(await page.getByRole('button', { name: 'Sign in', exact: true }).isVisible());
    const cookies = await context.cookies(base);
    assert.ok(!cookies.some((c) => c.name === 'rc_session' && c.value), 'the session cookie is gone');
    await shot(page, 'signed-out.png');

    // Back in history to the list: the page is fetched again and redirects.
    await page.goBack();
    await page.waitForURL((u) => u.pathname === '/sign-in');
    assert.equal(await page.locator('table.users').count(), 0, 'Back does not show the list after signing out');

    await page.goto(`${base}/users`);
    assert.equal(new URL(page.url()).pathname, '/sign-in', '/users redirects to sign-in after signing out');
    assert.equal(await page.locator('table.users').count(), 0, 'no user list without a session');
    assert.ok(await page.getByRole('button', { name: 'Sign in', exact: true }).isVisible());

    assert.deepEqual(problems, [], 'no console errors around signing out');
  });

  test('no console errors or CSP violations on any page', async () => {
    const { page, problems } = await openPage('console');
    await signIn(page, ADMIN);
    // htmx is loaded and working under the CSP.
    assert.equal(await page.evaluate(() => typeof window.htmx), 'object', 'htmx loaded');
    await swapRows(page, () => page.getByRole('searchbox', { name: 'Search', exact: true }).pressSequentially('lee'), (q) => q.get('q') === 'lee');
    await swapRows(page, () => page.getByLabel('Sort', { exact: true }).selectOption({ label: 'Name A–Z' }));
    const names = (await readRows(page)).map((r) => r.name);
    assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)), 'Name A–Z sorts by name');
    for (const p of ['/audit', '/settings/api-tokens', '/users']) {
      const res = await page.goto(`${base}${p}`);
      assert.equal(res.status(), 200, `${p} answers 200`);
    }
    // Styles applied (the stylesheet was not blocked).
    const bg = await page.locator('body').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(bg, 'rgb(245, 247, 249)', 'app.css is applied');

    assert.deepEqual(problems, [], 'no console errors on this walk-through');
    assert.deepEqual(consoleProblems, [], 'no console errors on any page in this run');
  });
  test('Export CSV downloads the list as filtered in the address', async () => {
    const { page, problems } = await openPage('export');
    await signIn(page, ADMIN);
    await page.goto(`${base}/users?status=expired`);
    const shown = await readRows(page);
    assert.ok(shown.length > 0);
    const csv = await exportCsv(page);
    assert.match(csv.name, /\.csv$/);
    assert.ok(csv.header.includes('email') && csv.header.includes('status'), `CSV header: ${csv.header}`);
    assert.ok(csv.rows.length >= shown.length, 'the export holds at least the rows shown');
    assert.ok(csv.rows.every((r) => r.status === 'expired'), 'the export holds only expired users');
    const emails = new Set(csv.rows.map((r) => r.email));
    assert.ok(shown.every((r) => emails.has(r.email)), 'every row shown is in the export');
    assert.deepEqual(problems, []);
  });

  // Regressions of gaps found earlier.

  test('a list filtered on the page can be reloaded or bookmarked', async () => {
    const { page } = await openPage('reload');
    await signIn(page, ADMIN);
    const search = page.getByRole('searchbox', { name: 'Search', exact: true });
    await swapRows(page, () => search.pressSequentially('chen'), (q) => q.get('q') === 'chen');
    const found = (await readRows(page)).map((r) => r.id);
    assert.equal(new URL(page.url()).pathname, '/users', `address bar shows ${page.url()}`);
    await page.reload();
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor({ timeout: 3000 });
    assert.equal(await search.inputValue(), 'chen');
    assert.deepEqual((await readRows(page)).map((r) => r.id), found);
  });

  test('Export CSV follows the filters chosen on the page', async () => {
    const { page } = await openPage('export-htmx');
    await signIn(page, ADMIN);
    await swapRows(page, () => page.getByLabel('Status', { exact: true }).selectOption({ label: 'Expired' }));
    const href = await page.locator('#export').getAttribute('href');
    assert.match(href, /status=expired/, `Export CSV link is ${href}`);
    const csv = await exportCsv(page);
    assert.ok(csv.rows.every((r) => r.status === 'expired'), 'the export holds only expired users');
  });

  test('every console page reflows at 320 px (400 % zoom) and meets WCAG 2.1 AA there', async () => {
    const { page, problems } = await openPage('narrow');
    await signIn(page, ADMIN);
    await page.setViewportSize({ width: 320, height: 640 });
    const someone = await page.locator('table.users tbody tr[data-user]').first().getAttribute('data-user');
    for (const path of ['/users', '/users/invite', `/users/${someone}`, '/roles', '/jobs', '/audit', '/settings', '/settings/api-tokens', '/import', '/directory', '/mailbox']) {
      await page.goto(`${base}${path}`);
      await page.waitForLoadState('load');
      await page.waitForFunction(() => !document.querySelector('.htmx-request'));
      await checkPage(page, `${path} at 320 px`);
    }
    await page.goto(`${base}/users`);
    const row = page.locator('table.users tbody tr[data-user]').first();
    assert.equal(await row.evaluate((tr) => getComputedStyle(tr).display), 'block', 'each user reads as a card');
    const label = await row.locator('td[data-label="Access email"]').evaluate((td) => getComputedStyle(td, '::before').content);
    assert.match(label, /Access email/, 'each value under its name');
    await shot(page, 'users-320.png', { fullPage: false, check: false });
    assert.deepEqual(problems, [], 'no console errors');
  });

  test('keyboard only: the skip link, then inviting one person', async () => {
    const { page, problems } = await openPage('keyboard');
    await signIn(page, ADMIN);
    await page.goto(`${base}/users/invite`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content', 'the first stop skips the header');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main', 'the content has the focus');
    /** Tabs on until the focus is on the field named `name` of the one-person form. */
    const tabTo = async (name) => {
      for (let i = 0; i < 40; i += 1) {
        if (await page.evaluate((n) => document.activeElement?.name === n && !!document.activeElement.closest('#one-form'), name)) return;
        await page.keyboard.press('Tab');
      }
      assert.fail(`no Tab stop reaches ${name} of the one-person form`);
    };
    const email = `keys.only@${'riverside.example'}`;
    await tabTo('email');
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    await page.keyboard.type('Kay Board');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown'); // the first clinic, after "Choose a location…"
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown'); // the first role
    await tabTo('user_type');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Send invitation');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('notice') === 'invited'), page.keyboard.press('Enter')]);
    const rows = await readRows(page);
    assert.deepEqual(rows.map((r) => r.email), [email], 'the person invited by keyboard alone is listed');
    assert.deepEqual(problems, [], 'no console errors');
  });

  test('the browser finds a favicon', async () => {
    const res = await fetch(`${base}/favicon.ico`);
    const page = await (await fetch(`${base}/sign-in`)).text();
    assert.ok(res.ok || /<link[^>]+rel="[^"]*icon/.test(page), `/favicon.ico answers ${res.status} and no icon link`);
  });
});
