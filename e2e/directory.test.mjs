// Browser end-to-end test of adding people in bulk from the staff directory (SPEC C6) on the
// demo organization: loading a roster file (fixtures/directory-roster.csv: two groups, people
// deactivated upstream, someone who already has an account), picking a group whose listing
// leaves those out, Add all, Remove, Add selected from a second group, the role, location and a
// scheduled time in the organization's zone, the notification grid, the confirm page, the licence
// check refusing a batch one seat short with nothing created, then the confirmed batch running
// to its outcome and the people Pending in the user list. Screenshots go to e2e/screenshots/.
//
// The demo organization holds more accounts than it has licence seats, so the test sets the
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
import { fileURLToPath } from 'node:url';
import { ADMIN, VIEWER, createHarness, serverBin, shot } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROSTER = path.join(here, 'fixtures', 'directory-roster.csv');

const dbDir = mkdtempSync(path.join(os.tmpdir(), 'rollcall-e2e-directory-db-'));
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

/** The demo organization's portal seats: { total, used, free }. */
function seats() {
  const out = rollcall('seats', 'show', '--org', 'riverside');
  const m = /portal: (\d+) seats, (\d+) in use, (\d+) free/.exec(out);
  assert.ok(m, `seats show answers the portal seats: ${out}`);
  return { total: Number(m[1]), used: Number(m[2]), free: Number(m[3]) };
}

/** The roster fixture, parsed (it has no quoted fields). */
function readRoster() {
  const [head, ...lines] = readFileSync(ROSTER, 'utf8').trim().split(/\r?\n/);
  const names = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
}

const GROUP_A = 'Northside Therapists';
const GROUP_B = 'Front Office';
const FAMILY = 'Vantongeren';
const ZONE = 'America/Chicago'; // the demo organization's time zone

/** The date `days` from now in `zone`, as YYYY-MM-DD. */
function dateIn(zone, days) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date(Date.now() + days * 86_400_000));
}

/** Submits the wizard with `button` and waits for the next page to be loaded. */
async function go(page, button) {
  await Promise.all([page.waitForEvent('framenavigated'), button.click()]);
  await page.waitForLoadState('load');
}

/** The shown group's listed people: name, email, whether they are already in the batch. */
function readMembers(page) {
  return page.locator('#members tbody tr').evaluateAll((trs) =>
    trs.filter((tr) => tr.cells.length > 1).map((tr) => ({
      name: tr.cells[1].textContent.trim(),
      email: tr.cells[2].textContent.trim(),
      added: !!tr.querySelector('.badge'),
      pick: !!tr.querySelector('input[name=pick]'),
    })));
}

/** The batch's people, by name. */
function readBatch(page) {
  return page.locator('#batch tbody tr').evaluateAll((trs) =>
    trs.filter((tr) => tr.querySelector('button')).map((tr) => tr.cells[0].firstChild.textContent.trim()));
}

/** The user list's rows (as in console.test.mjs). */
function readUsers(page) {
  return page.locator('table.users tbody tr[data-user]').evaluateAll((trs) =>
    trs.map((tr) => {
      const cells = [...tr.cells].filter((td) => !td.classList.contains('pick')).map((td) => td.textContent.trim());
      return { name: cells[0], email: cells[1], status: tr.querySelector('span.status')?.textContent.trim(), locations: cells[6] };
    }),
  );
}

describe('Bulk add from the directory', { timeout: 180_000 }, () => {
  test('roster, groups, batch, schedule, notifications, licence check, confirm, pending users', async () => {
    const roster = readRoster();
    const person = (id) => roster.find((p) => p.external_id === id);
    const name = (p) => `${p.first_name} ${p.last_name}`;
    const inGroup = (g) => roster.filter((p) => p.groups.split(';').includes(g));
    const inactive = roster.filter((p) => ['false', 'no', '0'].includes(p.active));
    const existing = roster.find((p) => p.email.toLowerCase() === VIEWER.email);
    assert.ok(existing, 'the roster lists the demo viewer, who has an account (address in other letter case)');
    assert.notEqual(existing.email, VIEWER.email, 'the roster writes that address in other letter case');

    const { context, page, problems } = await h.openPage('directory');
    await h.signIn(page, ADMIN);
    await Promise.all([page.waitForURL((u) => u.pathname === '/directory'), page.locator('#directory').click()]);
    await page.getByRole('heading', { name: 'Staff directory', exact: true }).waitFor();

    // With no roster yet, the page leads with loading one and offers a template.
    assert.equal(await page.locator('main section.card').first().getAttribute('id'), 'load', 'loading the roster comes first');
    assert.equal(await page.locator('#wizard').count(), 0, 'no empty wizard before there is a roster');
    const template = await page.evaluate(async () => (await fetch('/directory/roster-template.csv')).text());
    assert.match(template, /^external_id,first_name,last_name,email,user_type,active,groups,leaving_date\n/, 'the template has the roster columns');

    // Load the roster.
    await page.getByLabel('Roster file (CSV)').setInputFiles(ROSTER);
    await go(page, page.locator('#load-roster'));
    const notice = await page.locator('#directory-notice').innerText();
    assert.match(notice, new RegExp(`^Directory loaded: ${roster.length} people in 2 groups \\(${roster.length} new, 0 removed, ${inactive.length} deactivated upstream\\)\\. No account was changed\\.$`));
    const groups = await page.locator('#groups tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [0, 1, 2].map((i) => tr.cells[i].textContent.trim())));
    const expectGroup = (g) => [g, String(inGroup(g).length), String(inGroup(g).filter((p) => inactive.includes(p)).length)];
    assert.deepEqual(groups.sort(), [expectGroup(GROUP_A), expectGroup(GROUP_B)].sort());

    // Group A: the people deactivated upstream and the one with an account are not listed.
    const showGroup = (g) => go(page, page.locator('#groups tbody tr', { hasText: g }).getByRole('button', { name: 'Show members' }));
    await showGroup(GROUP_A);
    assert.equal(await page.locator('#members h2').innerText(), GROUP_A);
    const candidatesA = inGroup(GROUP_A).filter((p) => !inactive.includes(p) && p !== existing);
    let members = await readMembers(page);
    assert.deepEqual(members.map((m) => m.name), candidatesA.map(name).sort());
    for (const left of [...inGroup(GROUP_A).filter((p) => inactive.includes(p)), existing]) {
      assert.ok(!members.some((m) => m.name === name(left) || m.email.toLowerCase() === left.email.toLowerCase()), `${name(left)} is not listed`);
    }
    assert.match(await page.locator('#members').innerText(),
      new RegExp(`${candidatesA.length} can be added\\. 1 already has an account in the organization\\. 1 is deactivated upstream\\. They are not listed\\.`));
    assert.ok(members.every((m) => m.pick && !m.added));
    await shot(page, 'directory-groups.png');

    // Add all, then remove one.
    await go(page, page.locator('#add-all'));
    assert.equal(await page.locator('#batch h2').innerText(), `Batch: ${candidatesA.length} people`);
    assert.deepEqual((await readBatch(page)).sort(), candidatesA.map(name).sort());
    assert.ok((await readMembers(page)).every((m) => m.added), 'everyone listed shows as added');
    const removed = person('E2E-102');
    await go(page, page.getByRole('button', { name: `Remove ${name(removed)}`, exact: true }));
    let batch = await readBatch(page);
    assert.equal(batch.length, candidatesA.length - 1);
    assert.ok(!batch.includes(name(removed)), `${name(removed)} left the batch`);
    members = await readMembers(page);
    assert.equal(members.find((m) => m.name === name(removed)).pick, true, 'the removed person can be picked again');

    // Group B: a selection. Someone in both groups is already in the batch.
    await showGroup(GROUP_B);
    assert.equal(await page.locator('#members h2').innerText(), GROUP_B);
    members = await readMembers(page);
    const candidatesB = inGroup(GROUP_B).filter((p) => !inactive.includes(p));
    assert.deepEqual(members.map((m) => m.name), candidatesB.map(name).sort());
    const both = person('E2E-103');
    assert.equal(members.find((m) => m.name === name(both)).added, true, `${name(both)} (both groups) shows as added`);
    assert.deepEqual((await readBatch(page)).sort(), batch.sort(), 'the batch is kept across groups');
    const picked = [person('E2E-106'), person('E2E-108')];
    for (const p of picked) await page.getByLabel(`Pick ${name(p)}`, { exact: true }).check();
    await go(page, page.locator('#add-selected'));
    batch = await readBatch(page);
    const chosen = [person('E2E-101'), both, ...picked];
    assert.deepEqual([...batch].sort(), chosen.map(name).sort());
    assert.ok(!batch.includes(name(person('E2E-107'))), 'an unticked member was not added');
    assert.equal(await page.locator('#batch h2').innerText(), `Batch: ${chosen.length} people`);
    await shot(page, 'directory-batch.png');

    // Step 2: role, location, and a time a few days ahead in the organization's zone.
    await go(page, page.locator('#next'));
    await page.getByRole('heading', { name: `Add ${chosen.length} people from the directory`, exact: true }).waitFor();
    assert.match(await page.locator('#zone').innerText(), new RegExp(`^Time zone: ${ZONE} \\(the organization's\\)`));
    const role = 'Provider';
    const location = 'Northside Clinic';
    const day = dateIn(ZONE, 4);
    await page.getByRole('combobox', { name: /^Role\b/ }).selectOption({ label: role });
    await page.getByRole('combobox', { name: /^Primary location\b/ }).selectOption({ label: location });
    await page.getByLabel('On (date)').fill(day);
    await page.getByLabel('At (time)').fill('09:00');
    await page.getByLabel('At (time)').blur();
    await shot(page, 'directory-schedule.png');
    await go(page, page.locator('#next'));

    // Step 3: the notification grid.
    const grid = page.locator('#notifications');
    await grid.waitFor();
    const boxes = await grid.locator('input[name=notifications]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    assert.ok(boxes.length >= 2, `the grid offers categories by media: ${boxes}`);
    const on = [boxes[0], boxes[boxes.length - 1]];
    for (const label of on) await grid.getByLabel(label, { exact: true }).check();
    await go(page, page.locator('#next'));

    // Step 4: the confirm page.
    await page.getByRole('heading', { name: `Invite ${chosen.length} people from the directory`, exact: true }).waitFor();
    const listed = await page.locator('#confirm-people tbody tr').evaluateAll((trs) => trs.map((tr) => tr.cells[0].textContent.trim()));
    assert.deepEqual([...listed].sort(), chosen.map(name).sort());
    assert.equal(await page.locator('#confirm-people h2').innerText(), `${chosen.length} people`);
    assert.equal(await page.locator('#confirm-role').innerText(), role);
    assert.equal(await page.locator('#confirm-location').innerText(), location);
    assert.equal(await page.locator('#confirm-send').innerText(), `${day} 09:00 (${ZONE})`);
    const notifications = (await page.locator('#confirm-notifications').innerText()).split('\n').map((s) => s.trim()).filter(Boolean);
    const byMedium = (label) => label.replace(/ by (.+)$/, (_, m) => ` by ${m.toLowerCase()}`);
    assert.deepEqual(notifications, on.map(byMedium));
    const confirm = page.locator('#confirm');
    assert.equal(await confirm.innerText(), `Confirm and invite ${chosen.length}`);
    await shot(page, 'directory-confirm.png');

    // One seat short: refused as a whole, saying what is needed and what is free.
    const start = seats();
    rollcall('seats', 'set', '--org', 'riverside', String(start.used + chosen.length - 1));
    await go(page, confirm);
    const refusal = await page.locator('#directory-error').innerText();
    assert.match(refusal, new RegExp(`^This needs ${chosen.length} licence seats but only ${chosen.length - 1} are free \\(${start.used} of ${start.used + chosen.length - 1} in use\\)\\. Nothing was created\\.`));
    assert.equal(new URL(page.url()).pathname, '/directory/add', 'still on the confirm step');
    assert.equal(seats().used, start.used, 'no seat was taken');
    const other = await h.watch(await context.newPage(), 'directory users', problems);
    await other.goto(`${h.base}/users?q=${FAMILY}`);
    await other.locator('table.users').waitFor();
    assert.deepEqual(await readUsers(other), [], 'nobody was created');
    await other.close();
    h.forgive(problems, /status of 422/);

    // With the seats: confirmed, the job runs to its outcome.
    rollcall('seats', 'set', '--org', 'riverside', String(start.used + chosen.length));
    assert.equal(await confirm.innerText(), `Confirm and invite ${chosen.length}`);
    await Promise.all([page.waitForURL((u) => /^\/jobs\/[0-9a-f-]{36}$/.test(u.pathname)), confirm.click()]);
    await page.locator('#job').waitFor();
    const outcome = page.locator('#outcome');
    await outcome.waitFor({ timeout: 60_000 });
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /^Adding people from the directory/);
    assert.match(await outcome.getAttribute('class'), /\boutcome-succeeded\b/);
    assert.equal(await outcome.innerText(),
      `Succeeded. ${chosen.length} people created as Pending, with invitations queued. Their invitations go out at ${day} 09:00 ${ZONE}.`);
    assert.equal(await page.locator('#not-imported').count(), 0, 'nothing was left out');
    await shot(page, 'directory-outcome.png');
    assert.equal(seats().used, start.used + chosen.length);

    // The people are Pending, at the location chosen; their invitations wait for the time set.
    await page.goto(`${h.base}/users?status=pending`);
    const oldRows = await page.$('#rows');
    await page.getByRole('searchbox', { name: 'Search', exact: true }).fill(FAMILY);
    await page.waitForFunction((el) => !el.isConnected, oldRows);
    await page.waitForURL((u) => u.searchParams.get('q') === FAMILY && u.searchParams.get('status') === 'pending');
    await page.waitForFunction(() => !document.querySelector('.htmx-request'));
    const pending = await readUsers(page);
    assert.deepEqual(pending.map((u) => u.name).sort(), chosen.map(name).sort(), `pending: ${JSON.stringify(pending)}`);
    for (const u of pending) {
      assert.equal(u.status, 'Scheduled', `${u.name}'s invitation is shown as Scheduled`);
      assert.match(u.locations, new RegExp(location), `${u.name} works at ${location}`);
      assert.equal(u.email, person(chosen.find((p) => name(p) === u.name).external_id).email);
    }

    // Back in the directory, the people now with accounts are no longer offered.
    await page.goto(`${h.base}/directory?group=${encodeURIComponent(GROUP_B)}`);
    members = await readMembers(page);
    assert.deepEqual(members.map((m) => m.name), [name(person('E2E-107'))]);
    assert.deepEqual(problems, [], 'no console errors');
  });
});
