// Browser end-to-end test of the CSV import (SPEC C5) on the demo organization: the template
// download, a refused header, an upload through the file picker whose review marks a bad
// address, the same address twice (differing only in letter case) and an address already in
// the organization; the "rows in error" filter; the fixed file dropped on the drop zone (with a
// BOM, CRLF line ends and differently cased column names); a row edited in the review table;
// the commit with a role, a location and notification preferences; the job's outcome and the
// new people in the pending user list. Screenshots go to e2e/screenshots/.
//
// The demo organization holds more accounts than it has licence seats, so the test gives it
// seats the way an operator does (`rollcall seats set`), on a database it places itself
// (ROLLCALL_DATABASE_URL, which the server started by the harness inherits).
//
// Environment: see harness.mjs (ROLLCALL_BIN, CHROMIUM).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADMIN, createHarness, serverBin, shot } from './harness.mjs';

const dbDir = mkdtempSync(path.join(os.tmpdir(), 'rollcall-e2e-import-db-'));
process.env.ROLLCALL_DATABASE_URL = `sqlite://${path.join(dbDir, 'rollcall.db')}`;

const h = createHarness();
before(() => h.start());
after(async () => {
  await h.stop();
  rmSync(dbDir, { recursive: true, force: true });
});
afterEach(() => h.closeContexts());

/** Runs the operator command line on the server's database. */
function rollcall(...args) {
  return execFileSync(serverBin, ['--data-dir', dbDir, ...args], { encoding: 'utf8', env: process.env });
}

/** The demo organization's portal seats: { total, used }. */
function seats() {
  const out = rollcall('seats', 'show', '--org', 'riverside');
  const m = /portal: (\d+) seats, (\d+) in use, (\d+) free/.exec(out);
  assert.ok(m, `seats show answers the portal seats: ${out}`);
  return { total: Number(m[1]), used: Number(m[2]), free: Number(m[3]) };
}

/** A last name no demo user has: every person of the file carries it. */
const FAMILY = 'Quarrington';
const DOMAIN = 'e2e-import.example';

/** Rows of the review table: line, status, classes, issues and the cells by column name. */
function readReview(page) {
  return page.locator('#review').evaluate((table) => {
    const names = [...table.tHead.rows[0].cells].map((th) => th.dataset.column || th.textContent.trim());
    return [...table.tBodies[0].rows].map((tr) => {
      const cells = {};
      [...tr.cells].forEach((td, i) => {
        const copy = td.cloneNode(true);
        copy.querySelectorAll('.issue').forEach((n) => n.remove());
        cells[names[i]] = copy.textContent.trim();
      });
      const edit = tr.querySelector('a[href*="/rows/"]');
      return {
        id: tr.id,
        className: tr.className,
        line: Number(tr.cells[0].textContent.trim()),
        status: tr.cells[1].querySelector('.badge')?.textContent.trim(),
        issues: [...tr.querySelectorAll('.issue')].map((i) => ({ code: i.dataset.code, text: i.textContent.trim(), cls: i.className })),
        cells,
        edit: edit ? edit.getAttribute('href') : null,
      };
    });
  });
}

async function counts(page) {
  const n = async (id) => Number((await page.locator(id).innerText()).trim());
  return {
    rows: await n('#count-rows'),
    valid: await n('#count-valid'),
    errors: await n('#count-errors'),
    warnings: await n('#count-warnings'),
  };
}

/** The user list's rows (as in console.test.mjs). */
function readUsers(page) {
  return page.locator('table.users tbody tr[data-user]').evaluateAll((trs) =>
    trs.map((tr) => {
      const cells = [...tr.cells].filter((td) => !td.classList.contains('pick')).map((td) => td.textContent.trim());
      return { id: tr.dataset.user, name: cells[0], email: cells[1], status: tr.querySelector('span.status')?.textContent.trim(), type: cells[5], locations: cells[6] };
    }),
  );
}

/** Waits until the review page of an import other than `previous` is shown; returns its id. */
async function reviewOpened(page, previous) {
  await page.waitForURL((u) => /^\/import\/[0-9a-f-]{36}$/.test(u.pathname) && u.pathname !== `/import/${previous}`);
  await page.locator('#review').waitFor();
  return new URL(page.url()).pathname.split('/')[2];
}

function csv(lines, { eol = '\n', bom = false } = {}) {
  return (bom ? '\uFEFF' : '') + lines.join(eol) + eol;
}

describe('CSV import', { timeout: 180_000 }, () => {
  test('template, review with marked rows, fix and re-upload, row edit, commit, pending users', async () => {
    const { page, problems } = await h.openPage('import');
    await h.signIn(page, ADMIN);

    // What the file is written with, read from the app: location codes, role names, a member.
    await page.goto(`${h.base}/settings`);
    const locations = await page.locator('#locations tbody tr').evaluateAll((trs) =>
      trs.filter((tr) => tr.cells.length === 3).map((tr) => ({
        name: tr.cells[0].innerText.trim(), code: tr.cells[1].innerText.trim(), state: tr.cells[2].innerText.trim(),
      })));
    const active = locations.filter((l) => l.state === 'active');
    assert.ok(active.length >= 2, `the demo has two active locations: ${JSON.stringify(locations)}`);
    const [home, other] = active;
    await page.goto(`${h.base}/roles`);
    const roles = await page.locator('#roles tbody tr td:first-child a').allInnerTexts();
    assert.ok(roles.includes('Provider') && roles.includes('Front Desk'), `roles: ${roles}`);
    await page.goto(`${h.base}/users`);
    const member = (await readUsers(page)).find((u) => u.email && u.email !== ADMIN.email);
    assert.ok(member, 'the user list shows a member of the organization');

    // The operator gives the organization room for this import.
    const before = seats();
    rollcall('seats', 'set', '--org', 'riverside', String(before.used + 20));
    assert.equal(seats().free, 20);

    // The upload page, reached from the user list.
    await page.goto(`${h.base}/users`);
    await Promise.all([page.waitForURL((u) => u.pathname === '/import'), page.locator('#import').click()]);
    await page.getByRole('heading', { name: 'Import from a CSV file', exact: true }).waitFor();

    // The template.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#template').click()]);
    assert.equal(download.suggestedFilename(), 'rollcall-import-template.csv');
    const template = readFileSync(await download.path(), 'utf8');
    const templateHeader = template.split(/\r?\n/)[0];
    assert.ok(templateHeader.startsWith('first_name,last_name,email'), `template header: ${templateHeader}`);
    for (const optional of ['username', 'mobile', 'user_type', 'default_location', 'locations', 'roles', 'permissions', 'npi', 'taxonomy']) {
      assert.ok(templateHeader.split(',').includes(optional), `the template has the column ${optional}`);
    }
    const example = template.split(/\r?\n/)[1].split(',');
    const settings = await page.evaluate(async () => (await fetch('/settings')).text());
    const clinics = [...settings.matchAll(/<td><code>([^<]+)<\/code><\/td>/g)].map((m) => m[1]);
    assert.ok(clinics.includes(example[templateHeader.split(',').indexOf('default_location')]), `the example row names one of the practice's own clinics: ${example}`);

    // A file with a column the template does not have is refused, naming the expected columns.
    await page.locator('#file').setInputFiles({
      name: 'wrong-columns.csv', mimeType: 'text/csv',
      buffer: Buffer.from(csv(['first_name,last_name,email,shoe_size', `Ann,${FAMILY},ann@${DOMAIN},42`])),
    });
    await Promise.all([page.waitForLoadState('load'), page.locator('#upload').click()]);
    const uploadError = page.locator('#upload-error');
    await uploadError.waitFor();
    const refusal = await uploadError.innerText();
    assert.match(refusal, /^wrong-columns\.csv: /);
    assert.match(refusal, /shoe_size/);
    assert.match(refusal, /first_name/);
    assert.equal(new URL(page.url()).pathname, '/import/upload', 'the refused file stays on the upload page');

    // The first file: a mix of good rows and rows in error. Line numbers count the header as 1.
    const people = {
      avery: { first: 'Avery', email: `avery.${FAMILY.toLowerCase()}@${DOMAIN}`, type: 'PT', loc: home.code },
      blake: { first: 'Blake', email: `blake.${FAMILY.toLowerCase()}@${DOMAIN}`, type: 'Front desk', loc: other.code, npi: '1234567893' },
      casey: { first: 'Casey', email: `casey.${FAMILY.toLowerCase()}@${DOMAIN}`, type: 'PTA', loc: '' },
      drew: { first: 'Drew', email: `drew.${FAMILY.toLowerCase()}.at.${DOMAIN}`, type: 'OT', loc: home.code },
      ellis: { first: 'Ellis', email: `Ellis.${FAMILY}@${DOMAIN}`, type: 'SLP', loc: home.code },
      ellis2: { first: 'Ellison', email: `ellis.${FAMILY.toLowerCase()}@${DOMAIN.toUpperCase()}`, type: 'SLP', loc: other.code },
      member: { first: 'Finley', email: member.email, type: 'PT', loc: home.code },
      gray: { first: 'Gray', email: `gray.${FAMILY.toLowerCase()}@${DOMAIN}`, type: 'OT', loc: other.code, roles: 'Provider' },
    };
    const order = ['avery', 'blake', 'casey', 'drew', 'ellis', 'ellis2', 'member', 'gray'];
    const lineOf = (key) => order.indexOf(key) + 2;
    const row = (p) => [p.first, FAMILY, p.email, p.type, p.loc, p.roles ?? '', p.npi ?? ''].join(',');
    const firstFile = csv(['first_name,last_name,email,user_type,default_location,roles,npi', ...order.map((k) => row(people[k]))]);

    await page.goto(`${h.base}/import`);
    assert.equal(await page.locator('#upload-error').count(), 0, 'a fresh upload page shows no error');
    await page.locator('#file').setInputFiles({ name: 'staff-first.csv', mimeType: 'text/csv', buffer: Buffer.from(firstFile) });
    await shot(page, 'import-upload.png');
    await Promise.all([page.waitForURL((u) => /^\/import\/[0-9a-f-]{36}$/.test(u.pathname)), page.locator('#upload').click()]);
    const firstId = await reviewOpened(page, null);
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /staff-first\.csv/);

    assert.deepEqual(await counts(page), { rows: 8, valid: 5, errors: 3, warnings: 1 });
    assert.match(await page.locator('#count-errors').getAttribute('class'), /text-error/, 'the error count is marked');
    const review = await readReview(page);
    assert.deepEqual(review.map((r) => r.line), order.map(lineOf), 'every row is shown, in file order');
    const byLine = new Map(review.map((r) => [r.line, r]));
    const codes = (key) => byLine.get(lineOf(key)).issues.map((i) => i.code);
    for (const key of ['avery', 'casey', 'ellis', 'gray']) {
      const r = byLine.get(lineOf(key));
      assert.equal(r.className, '', `line ${r.line} (${key}) is not marked`);
      assert.equal(r.status, 'OK', `line ${r.line} (${key}) is OK`);
      assert.deepEqual(r.issues, [], `line ${r.line} (${key}) has no issue`);
      assert.match(r.edit, new RegExp(`^/import/${firstId}/rows/\\d+$`), 'each row can be edited');
    }
    const warned = byLine.get(lineOf('blake'));
    assert.equal(warned.className, 'row-warning');
    assert.equal(warned.status, 'Warning');
    assert.deepEqual(codes('blake'), ['not_a_provider_type']);
    assert.match(warned.issues[0].text, /only clinical providers have/);

    const bad = byLine.get(lineOf('drew'));
    assert.equal(bad.className, 'row-error');
    assert.equal(bad.status, 'Error');
    assert.ok(codes('drew').includes('email_invalid'), `line ${bad.line}: ${JSON.stringify(bad.issues)}`);
    assert.ok(bad.issues.every((i) => /\berror\b/.test(i.cls)), 'the bad address is marked as an error');

    const twice = byLine.get(lineOf('ellis2'));
    assert.equal(twice.className, 'row-error');
    assert.deepEqual(codes('ellis2'), ['duplicate_in_file']);
    assert.match(twice.issues[0].text, new RegExp(`already on line ${lineOf('ellis')} of this file`));
    assert.match(twice.issues[0].text, /differing only in letter case/);
    assert.equal(byLine.get(lineOf('ellis')).status, 'OK', 'the first of the two rows stays OK');

    const taken = byLine.get(lineOf('member'));
    assert.equal(taken.className, 'row-error');
    assert.deepEqual(codes('member'), ['already_in_organization']);
    assert.match(taken.issues[0].text, /Riverside Therapy Group/);
    assert.equal(taken.cells.email, member.email, 'the cell shows the address as typed');
    await shot(page, 'import-review.png');

    // Only the rows in error.
    await Promise.all([page.waitForURL((u) => u.searchParams.get('filter') === 'errors'), page.locator('#filter-errors').click()]);
    await page.locator('#review').waitFor();
    assert.equal(await page.locator('#filter-errors').getAttribute('aria-current'), 'page');
    const errorsOnly = await readReview(page);
    assert.deepEqual(errorsOnly.map((r) => r.line), ['drew', 'ellis2', 'member'].map(lineOf));
    assert.ok(errorsOnly.every((r) => r.className === 'row-error'));
    assert.match(await page.locator('#rows-shown').innerText(), /^Rows 1–3 of 3 shown by this filter/);
    assert.deepEqual(await counts(page), { rows: 8, valid: 5, errors: 3, warnings: 1 }, 'the counts are of the whole file');
    await shot(page, 'import-review-errors.png');

    // Fix the bad address in the file (the member's row is left for the table; the repeated
    // address is left in, to be left out of the import) and drop the file on the upload box.
    // Saved by another program this time: BOM, CRLF line ends, column names in other cases.
    await Promise.all([page.waitForURL((u) => u.pathname === '/import'), page.getByRole('link', { name: 'Upload a corrected file' }).click()]);
    people.drew.email = `drew.${FAMILY.toLowerCase()}@${DOMAIN}`;
    const fixedFile = csv(
      ['First_Name, Last_Name ,EMAIL,User_Type,default_location,roles,npi', ...order.map((k) => row(people[k]))],
      { eol: '\r\n', bom: true },
    );
    const dragged = await page.evaluate(({ name, text }) => {
      const zone = document.getElementById('dropzone');
      const data = new DataTransfer();
      data.items.add(new File([text], name, { type: 'text/csv' }));
      window.__dropped = data;
      for (const type of ['dragenter', 'dragover']) {
        zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
      }
      return zone.classList.contains('over');
    }, { name: 'staff-fixed.csv', text: fixedFile });
    assert.equal(dragged, true, 'the drop zone shows a file is over it');
    await Promise.all([
      page.waitForURL((u) => /^\/import\/[0-9a-f-]{36}$/.test(u.pathname)),
      page.evaluate(() => {
        document.getElementById('dropzone').dispatchEvent(
          new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: window.__dropped }));
      }),
    ]);
    const id = await reviewOpened(page, firstId);
    assert.notEqual(id, firstId, 'the dropped file is a new import');
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /staff-fixed\.csv/);
    assert.deepEqual(await counts(page), { rows: 8, valid: 6, errors: 2, warnings: 1 }, 'fewer errors after the fix');
    const fixed = new Map((await readReview(page)).map((r) => [r.line, r]));
    assert.equal(fixed.get(lineOf('drew')).status, 'OK');
    assert.equal(fixed.get(lineOf('ellis2')).status, 'Error');
    assert.equal(fixed.get(lineOf('member')).status, 'Error');
    assert.equal(fixed.get(lineOf('gray')).cells.first_name, 'Gray', 'cased column names are read');
    assert.equal(fixed.get(lineOf('avery')).cells.first_name, 'Avery', 'the BOM is not part of the first name');

    // Edit the member's row in the table: another address makes it OK.
    const editHref = fixed.get(lineOf('member')).edit;
    await Promise.all([page.waitForURL((u) => u.pathname === editHref), page.locator(`#review a[href="${editHref}"]`).click()]);
    await page.getByRole('heading', { name: `Edit line ${lineOf('member')}`, exact: true }).waitFor();
    assert.match(await page.locator('#row-issues').innerText(), /already belongs to a user/);
    const emailInput = page.locator('#row-form input[name=email]');
    assert.equal(await emailInput.inputValue(), member.email);
    people.member.email = `finley.${FAMILY.toLowerCase()}@${DOMAIN}`;
    await emailInput.fill(people.member.email);
    await Promise.all([page.waitForURL((u) => u.pathname === `/import/${id}`), page.locator('#save-row').click()]);
    const seq = editHref.split('/').pop();
    const edited = page.locator(`#review tr#row-${seq}`);
    await edited.waitFor();
    assert.equal(await edited.getAttribute('class'), '', 'the edited row is no longer marked');
    assert.equal((await edited.locator('.badge').textContent()).trim(), 'OK');
    assert.match(await edited.innerText(), new RegExp(people.member.email.replace(/\./g, '\\.')));
    assert.deepEqual(await counts(page), { rows: 8, valid: 7, errors: 1, warnings: 1 });
    assert.match(await page.locator('#row-saved').innerText(), new RegExp(`^Line ${lineOf('member')} saved`));
    assert.match(await page.locator('#rows-shown').innerText(), /^Rows 1–8 of 8/, 'every row is still shown after the edit');
    assert.equal(await page.locator('#review thead th[data-column=email]').count(), 1);

    // Commit with a role, a location for the row that names none, and notifications.
    await page.goto(`${h.base}/import/${id}`);
    assert.equal(await page.locator('#seats').innerText(), '20 licence seats free.');
    const form = page.locator('#commit-form');
    assert.match(await form.getByRole('heading', { level: 2 }).innerText(), /^Import 7 people$/);
    assert.ok(await form.locator('input[name=mode][value=roles]').isChecked(), 'assigning roles is the default');
    await form.locator('#roles').getByLabel('Provider', { exact: true }).check();
    await form.locator('#location').selectOption({ label: other.name });
    const grid = await form.locator('#notifications input[name=notifications]').evaluateAll((boxes) =>
      boxes.map((b) => ({ value: b.value, label: b.getAttribute('aria-label') })));
    assert.ok(grid.length >= 2, 'the notification grid has choices');
    for (const n of grid.slice(0, 2)) await form.getByLabel(n.label, { exact: true }).check();
    assert.equal(await page.locator('#commit').innerText(), 'Import 7 and queue invitations');
    await Promise.all([page.waitForURL((u) => u.pathname === `/jobs/${id}`), page.locator('#commit').click()]);

    // The job page polls until the outcome.
    await page.locator('#job').waitFor();
    const outcome = page.locator('#outcome');
    await outcome.waitFor({ timeout: 60_000 });
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /^CSV import: staff-fixed\.csv/);
    assert.match(await outcome.getAttribute('class'), /\boutcome-partially_succeeded\b/);
    const sentence = await outcome.innerText();
    assert.match(sentence, /^Partially succeeded\./);
    assert.match(sentence, /7 people created as Pending, with invitations queued; 1 of 8 rows not imported \(1 in error at review, 0 refused when the import ran\)/);
    assert.equal(await page.locator('#progress').count(), 0, 'no progress bar once finished');
    const notImported = await page.locator('#not-imported tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.innerText.trim())));
    assert.equal(notImported.length, 1);
    assert.equal(notImported[0][0], String(lineOf('ellis2')));
    assert.equal(await page.locator('#not-imported tbody tr td[data-code]').getAttribute('data-code'), 'duplicate_in_file', 'the reason code is there for scripts');
    assert.doesNotMatch(notImported[0][2], /duplicate_in_file/, 'people read the sentence, not the code');
    await shot(page, 'import-outcome.png');
    const report = await page.evaluate(async (href) => (await fetch(href)).text(), await page.locator('#report').getAttribute('href'));
    const reportLines = report.trim().split(/\r?\n/);
    assert.equal(reportLines[0], 'line,email,outcome,code,reason');
    assert.equal(reportLines.length, 3, `one row not imported, plus header and outcome: ${report}`);
    assert.ok(reportLines[1].startsWith(`${lineOf('ellis2')},`));

    // The new people are pending, found by name; the row left out is not among them.
    await page.goto(`${h.base}/users?status=pending`);
    const oldRows = await page.$('#rows');
    await page.getByRole('searchbox', { name: 'Search', exact: true }).fill(FAMILY);
    await page.waitForFunction((el) => !el.isConnected, oldRows);
    await page.waitForURL((u) => u.searchParams.get('q') === FAMILY && u.searchParams.get('status') === 'pending');
    await page.waitForFunction(() => !document.querySelector('.htmx-request'));
    const pending = await readUsers(page);
    const expected = ['avery', 'blake', 'casey', 'drew', 'ellis', 'member', 'gray'].map((k) => `${people[k].first} ${FAMILY}`);
    assert.deepEqual(pending.map((u) => u.name).sort(), [...expected].sort(), `pending: ${JSON.stringify(pending)}`);
    assert.ok(pending.every((u) => u.status === 'Pending'), 'all of them are Pending');
    const casey = pending.find((u) => u.name === `Casey ${FAMILY}`);
    assert.match(casey.locations, new RegExp(other.name), 'the row naming no location got the one chosen');
    assert.equal(pending.find((u) => u.name === `Finley ${FAMILY}`).email, people.member.email, 'the edited address was used');

    // Seats: the seven now hold a seat each.
    assert.equal(seats().used, before.used + 7);
    assert.deepEqual(problems, [], 'no console errors');
  });
});
