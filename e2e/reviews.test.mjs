// Browser end-to-end test of an access review campaign on the demo organization: the company
// admin starts one over everyone; two clinic admins (Downtown, Northside) each see only the
// people they reach; a decision refused by a rule is shown with the rule's words and others are
// applied; the company admin ends the campaign, so the unreviewed are escalated to them as at the
// due date; the evidence exports as CSV and JSON. Screenshots go to e2e/screenshots/.
//
// Environment: see harness.mjs (ROLLCALL_BIN, CHROMIUM).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, createHarness, shot } from './harness.mjs';

const h = createHarness();
before(() => h.start());
after(() => h.stop());
afterEach(() => h.closeContexts());

const DANA = { email: 'dana.reviewer@riverside.example', first: 'Dana', last: 'Reviewer', password: 'a long quiet review 2026', location: 'DT' };
const NICO = { email: 'nico.reviewer@riverside.example', first: 'Nico', last: 'Reviewer', password: 'another quiet review 2026', location: 'NS' };

/** The console's CSRF token on the current page. */
function csrf(page) {
  return page.locator('#session').getAttribute('data-csrf');
}

/** Invites a clinic admin through the console's invite form (arrangement, posted directly). */
async function invite(admin, who) {
  await admin.goto(`${h.base}/users/invite`);
  const res = await admin.request.post(`${h.base}/users/invite/one`, {
    form: { csrf: await csrf(admin), email: who.email, full_name: `${who.first} ${who.last}`, location: who.location, role: 'Clinic Admin' },
    maxRedirects: 0,
  });
  assert.equal(res.status(), 303, `${who.email} invited`);
}

/** The registration link of the newest invitation to `who`, read in the local mailbox. */
async function registrationLink(admin, who) {
  for (let tries = 0; tries < 60; tries += 1) {
    const list = await (await admin.request.get(`${h.base}/mailbox?to=${encodeURIComponent(who.email)}`)).text();
    const message = list.match(/href="(\/mailbox\/[0-9a-f-]{36})"/);
    if (message) {
      const text = await (await admin.request.get(`${h.base}${message[1]}`)).text();
      const link = text.match(/\/register\/[A-Za-z0-9_-]{16,}/);
      if (link) return `${h.base}${link[0]}`;
    }
    await admin.waitForTimeout(250);
  }
  throw new Error(`no invitation to ${who.email} in the mailbox`);
}

/** Registers from the link (the demo asks no second factor); a clinic admin lands on the users. */
async function register(page, link, who) {
  await page.goto(link);
  await page.getByLabel('First name', { exact: true }).fill(who.first);
  await page.getByLabel('Last name', { exact: true }).fill(who.last);
  await page.getByLabel('Mobile number', { exact: true }).fill('+1 312 555 0142');
  await page.getByLabel(/^Password \(at least \d+ characters\)\s*$/).fill(who.password);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/register/terms'),
    page.getByRole('button', { name: 'Continue', exact: true }).click(),
  ]);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/home' || u.pathname === '/users'),
    page.getByRole('button', { name: 'I accept', exact: true }).click(),
  ]);
}

/** The reviewer's queue on the campaign page: name, locations and state of each row. */
function readQueue(page) {
  return page.locator('#review-form tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({
      id: tr.querySelector('input[name=user]')?.value,
      name: tr.cells[1].querySelector('a').innerText.trim(),
      locations: tr.cells[3].innerText.trim().split(', '),
      decision: tr.cells[6].innerText.trim(),
    })),
  );
}

describe('Access reviews', { timeout: 180_000 }, () => {
  test('a whole campaign: start, two reviewers, decisions, escalation, evidence', async () => {
    const { page: admin, problems } = await h.openPage('admin');
    await h.signIn(admin, ADMIN);
    for (const who of [DANA, NICO]) {
      await invite(admin, who);
      const { page } = await h.openPage(who.first);
      await register(page, await registrationLink(admin, who), who);
      who.page = page;
    }

    // The company admin starts a campaign over everyone, due in a month, repeating quarterly.
    await admin.goto(`${h.base}/access-reviews`);
    await admin.getByLabel('Name', { exact: true }).fill('Q1 access review');
    const due = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    await admin.getByLabel(/^Due date/).fill(due);
    await admin.getByLabel(/^Repeats/).selectOption('quarterly');
    await shot(admin, 'reviews-start.png');
    await Promise.all([
      admin.waitForURL((u) => /^\/access-reviews\/[0-9a-f-]{36}$/.test(u.pathname)),
      admin.getByRole('button', { name: 'Start campaign', exact: true }).click(),
    ]);
    const campaign = admin.url();
    assert.match(await admin.locator('#review-counts').innerText(), /^\d+ people: \d+ pending, 0 decided/);

    // Each clinic admin sees only the people of the clinic they reach.
    const queues = {};
    for (const [who, clinic] of [[DANA, 'Downtown Clinic'], [NICO, 'Northside Clinic']]) {
      await who.page.goto(campaign);
      const rows = await readQueue(who.page);
      assert.ok(rows.length > 0, `${who.first} has people to review`);
      for (const r of rows) assert.ok(r.locations.includes(clinic), `${r.name} (${r.locations}) is at ${clinic}`);
      queues[who.first] = rows;
    }
    await shot(DANA.page, 'reviews-queue.png');

    // Dana takes Downtown from someone whose only clinic it is: their default location, so rule
    // 5 refuses, and the page says so; keeping two others is applied.
    const only = queues.Dana.find((r) => r.locations.length === 1 && r.id);
    const others = queues.Dana.filter((r) => r.id && r !== only).slice(0, 2);
    const dana = DANA.page;
    await dana.locator(`input[name=user][value="${only.id}"]`).check();
    await dana.getByLabel(/^Decision/).selectOption('remove_location');
    await dana.getByLabel(/^Location to remove/).fill('DT');
    await dana.getByLabel(/^Note/).fill('Moved to another clinic');
    await Promise.all([
      dana.waitForURL((u) => u.pathname.endsWith('/decide')),
      dana.getByRole('button', { name: 'Apply to the selected', exact: true }).click(),
    ]);
    const refused = await dana.locator('#review-outcomes').innerText();
    assert.match(refused, new RegExp(`${only.name}: refused — Rule 5`));
    await shot(dana, 'reviews-refused.png');
    await dana.goto(campaign);
    for (const r of others) await dana.locator(`input[name=user][value="${r.id}"]`).check();
    await dana.getByLabel(/^Decision/).selectOption('keep');
    await Promise.all([
      dana.waitForURL((u) => u.pathname.endsWith('/decide')),
      dana.getByRole('button', { name: 'Apply to the selected', exact: true }).click(),
    ]);
    const kept = await dana.locator('#review-outcomes').innerText();
    for (const r of others) assert.match(kept, new RegExp(`${r.name}: applied`));

    // The company admin ends the campaign: the unreviewed are escalated to them, as at the due
    // date, and a quarterly campaign starts the next one.
    await admin.goto(campaign);
    await Promise.all([
      admin.waitForURL(campaign),
      admin.getByRole('button', { name: 'End the campaign now', exact: true }).click(),
    ]);
    const counts = await admin.locator('#review-counts').innerText();
    assert.match(counts, /\b3 decided, [1-9]\d* escalated/);
    assert.match(await admin.locator('main').innerText(), /escalated to the company admins/);
    const escalated = await readQueue(admin);
    assert.ok(escalated.some((r) => r.decision === 'escalated'), 'the unreviewed are now the company admin’s');
    await shot(admin, 'reviews-escalated.png');
    await admin.goto(`${h.base}/access-reviews`);
    assert.equal(await admin.locator('tbody tr', { hasText: 'Q1 access review' }).count(), 2, 'the next quarter’s campaign started');

    // The evidence: who reviewed whom, what they decided and what was applied.
    const sheet = await (await admin.request.get(`${campaign}/evidence.csv`)).text();
    assert.match(sheet, /^campaign,person,email,state,reviewers,decided_by,decided_at,decision,target,note,outcome,refusal/);
    assert.match(sheet, /Dana Reviewer,[^,]+,remove_location,Downtown Clinic,Moved to another clinic,refused,"?Rule 5/);
    const record = await (await admin.request.get(`${campaign}/evidence.json`)).json();
    assert.equal(record.items.filter((i) => i.outcome === 'applied').length, 2);
    assert.deepEqual(problems, [], 'no console errors');
  });
});
