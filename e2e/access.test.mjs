// Browser end-to-end test of access management on the demo organization: a bulk update over a
// mixed selection (assistants, clerical staff, an administrator) that comes back partially
// succeeded with each refused change and its rule on the page; the profile showing a role's
// grant filtered by the rules; a leaving date; the roles page. Screenshots go to e2e/screenshots/.
//
// Environment: see harness.mjs (ROLLCALL_BIN, CHROMIUM).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, createHarness, shot } from './harness.mjs';

const h = createHarness();
before(() => h.start());
after(() => h.stop());
afterEach(() => h.closeContexts());

/** Rows of the user list: id, name and the user type's short label. */
function readRows(page) {
  return page.locator('table.users tbody tr[data-user]').evaluateAll((trs) =>
    trs.map((tr) => {
      const cells = [...tr.cells].filter((td) => !td.classList.contains('pick')).map((td) => td.innerText.trim());
      return { id: tr.dataset.user, name: cells[0], status: cells[4], type: cells[5].split(' —')[0] };
    }),
  );
}

/** Swaps the list's rows through htmx (paging, searching) and waits for the new ones. */
async function swapRows(page, action) {
  const old = await page.$('#rows');
  await action();
  await page.waitForFunction((el) => !el.isConnected, old);
  await old.dispose();
  await page.waitForFunction(() => !document.querySelector('.htmx-request'));
  await page.locator('#rows table.users').waitFor();
}

/** Presses Tab until the focused element matches `selector`; fails after `max` presses. */
async function tabTo(page, selector, max = 150) {
  for (let i = 0; i < max; i += 1) {
    if (await page.evaluate((sel) => !!document.activeElement?.matches(sel), selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`no Tab stop reaches ${selector}`);
}

describe('Access management', { timeout: 120_000 }, () => {
  test('bulk update over a mixed selection comes back partially succeeded, with the reasons', async () => {
    const { page, problems } = await h.openPage('bulk');
    await h.signIn(page, ADMIN);
    await page.goto(`${h.base}/users`);
    const rows = await readRows(page);
    const pick = (type, n) => rows.filter((r) => r.type === type).slice(0, n);
    const chosen = [...pick('PTA', 2), ...pick('Clerical', 1), ...pick('Front desk', 1), ...pick('Administrator', 1)];
    assert.ok(pick('PTA', 1).length && pick('Clerical', 1).length && pick('Administrator', 1).length,
      `the first page has assistants, clerical staff and an administrator: ${rows.map((r) => r.type)}`);
    assert.equal(await page.locator('#selected-count').innerText(), '0 selected');
    assert.ok(await page.locator('#update-selected').isDisabled(), 'nothing to update before a row is ticked');
    for (const r of chosen) await page.locator(`tr[data-user="${r.id}"] input[name=ids]`).check();
    assert.equal(await page.locator('#selected-count').innerText(), `${chosen.length} selected`);
    await shot(page, 'bulk-select.png');

    await Promise.all([page.waitForURL((u) => u.pathname === '/users/bulk'), page.locator('#update-selected').click()]);
    assert.equal(await page.locator('#selected-total').innerText(), `${chosen.length} users selected`);
    const listed = await page.locator('#selection tbody td:first-child').allInnerTexts();
    for (const r of chosen) assert.ok(listed.includes(r.name), `${r.name} is in the review`);
    await page.getByLabel('Add Finish SOAP notes').check();
    await page.getByLabel('Add Create appointments').check();
    await page.getByLabel('Remove Administer clinics').check();
    await page.getByLabel('Add Northside Clinic').check();
    await shot(page, 'bulk-review.png');
    await Promise.all([page.waitForURL((u) => /^\/jobs\//.test(u.pathname)), page.locator('#save-bulk').click()]);

    const outcome = page.locator('#outcome');
    await outcome.waitFor();
    assert.match(await outcome.getAttribute('class'), /outcome-partially_succeeded/);
    const banner = await outcome.innerText();
    assert.match(banner, /^Partially succeeded\./);
    assert.match(banner, /permission changes? and 0 location changes were not applied/);
    assert.match(await page.locator('#job-announce[role=status]').textContent(), /^Partially succeeded\./, 'the outcome is announced from the live region that stayed in place');
    const reasons = await page.locator('#refused tbody tr').evaluateAll((trs) =>
      // The rule's code is for scripts (data-rule) and the report; people read the sentence.
      trs.map((tr) => ({ user: tr.cells[0].innerText, change: tr.cells[1].innerText, rule: tr.dataset.rule, why: tr.cells[2].innerText })));
    const rulesSeen = new Set(reasons.map((r) => r.rule));
    for (const rule of ['rule_1_no_soap_for_non_clinical', 'rule_2_no_soap_finish_for_supervised', 'rule_3_keep_admins']) {
      assert.ok(rulesSeen.has(rule), `${rule} is among the reasons: ${JSON.stringify(reasons)}`);
    }
    const pta = pick('PTA', 1)[0];
    const forPta = reasons.find((r) => r.user.startsWith(pta.name));
    assert.match(forPta.why, new RegExp(`^Rule 2: ${pta.name} is`), 'the reason names the rule and the person');
    await shot(page, 'bulk-partially-succeeded.png');

    // The report lists the same refusals.
    const report = await page.evaluate(async (href) => (await fetch(href)).text(), await page.locator('#report').getAttribute('href'));
    assert.ok(report.startsWith('user,email,change,outcome,rule,code,reason'));
    assert.equal(report.trim().split('\n').length, reasons.length + 2, 'one line per refused change, plus header and summary');

    // The assistant's profile: Northside added, SOAP finish not in effect (filtered, with the reason).
    await page.goto(`${h.base}/users/${pta.id}`);
    await page.locator('#profile-name').waitFor();
    assert.ok(await page.getByLabel('Access to Northside Clinic').isChecked(), 'the location was added');
    const effective = await page.locator('#effective tbody').innerText();
    assert.match(effective, /Create appointments/);
    assert.doesNotMatch(effective, /Finish SOAP notes/);
    assert.match(await page.locator('#filtered').innerText(), /Finish SOAP notes[\s\S]*Rule 2/);
    await page.locator('#user-history').waitFor();
    assert.match(await page.locator('#user-history').innerText(), /User: access changed/);
    await shot(page, 'profile-filtered.png');
    assert.deepEqual(problems, [], 'no console errors');
  });

  test('profile edits go through the rules and say why they are refused', async () => {
    const { page, problems } = await h.openPage('profile');
    await h.signIn(page, ADMIN);
    await page.goto(`${h.base}/users?user_type=clerical`);
    const [clerk] = await readRows(page);
    await page.goto(`${h.base}/users/${clerk.id}`);
    await page.locator('#profile-name').waitFor();
    await page.locator('input[name=permissions][value="soap.start"]').check();
    await Promise.all([page.waitForLoadState('load'), page.locator('#save-profile').click()]);
    const error = page.locator('#error-summary li');
    await error.waitFor();
    assert.match(await error.innerText(), new RegExp(`^Rule 1: ${clerk.name} is`));
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'error-summary', 'the summary of what to fix takes focus');
    assert.equal(await page.locator('input[name=permissions][value="soap.start"]').isChecked(), true, 'the refused choice is still ticked');
    await shot(page, 'profile-refused.png');
    // Without the refused permission, the edit is saved and shows up in the history.
    await page.locator('input[name=permissions][value="soap.start"]').uncheck();
    await page.locator('input[name=mobile]').fill('+1 415 555 2671');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('saved') === '1'), page.locator('#save-profile').click()]);
    assert.equal(await page.locator('input[name=mobile]').inputValue(), '+14155552671');
    await page.goto(`${h.base}/roles`);
    await page.locator('#roles').waitFor();
    assert.match(await page.locator('#roles').innerText(), /Clinic Admin/);
    await shot(page, 'roles.png');
    h.forgive(problems, /status of 422/);
    assert.deepEqual(problems, [], 'no console errors');
  });

  test('a leaving date is typed on the profile, refused when it is not a date, and shown as the instant access ends', async () => {
    const { page, problems } = await h.openPage('leaving');
    await h.signIn(page, ADMIN);
    await page.goto(`${h.base}/users?user_type=front_desk`);
    const [person] = await readRows(page);
    await page.goto(`${h.base}/users/${person.id}`);
    const leaving = page.getByLabel('Leaving date');
    await leaving.fill('next friday');
    await Promise.all([page.waitForLoadState('load'), page.locator('#save-profile').click()]);
    const error = page.locator('#error-summary li');
    await error.waitFor();
    assert.match(await error.innerText(), /not a leaving date: use YYYY-MM-DD/);
    assert.equal(await leaving.inputValue(), 'next friday', 'what was typed is kept to correct');
    await leaving.fill('2031-03-14');
    await Promise.all([page.waitForURL((u) => u.searchParams.get('saved') === '1'), page.locator('#save-profile').click()]);
    // Access ends when that day ends: the first instant of the next day.
    assert.equal(await page.getByLabel('Leaving date').inputValue(), '2031-03-15 00:00');
    await shot(page, 'profile-leaving-date.png');
    h.forgive(problems, /status of 422/);
    assert.deepEqual(problems, [], 'no console errors');
  });

  test('people ticked on one page stay ticked across paging and searching, and all go to the bulk update', async () => {
    const { page, problems } = await h.openPage('selection');
    await h.signIn(page, ADMIN);
    await page.goto(`${h.base}/users`);
    const first = (await readRows(page)).filter((r) => r.status === 'Active').slice(0, 2);
    for (const r of first) await page.locator(`tr[data-user="${r.id}"] input[name=ids]`).check();
    await swapRows(page, () => page.locator('#next-page').click());
    const [second] = await readRows(page);
    await page.locator(`tr[data-user="${second.id}"] input[name=ids]`).check();
    assert.equal(await page.locator('#selected-count').innerText(), '3 selected (2 not shown here)');
    await swapRows(page, () => page.locator('input[name=q]').pressSequentially(first[0].name.split(' ')[0], { delay: 40 }));
    // The ticks are put back once htmx has settled the new rows.
    await page.waitForFunction(() => /^3 selected/.test(document.getElementById('selected-count')?.textContent ?? ''));
    assert.ok(await page.locator(`tr[data-user="${first[0].id}"] input[name=ids]`).isChecked(), 'still ticked after a search');
    assert.match(await page.locator('#selected-count').innerText(), /^3 selected/);
    await shot(page, 'selection-kept.png');
    await Promise.all([page.waitForURL((u) => u.pathname === '/users/bulk'), page.locator('#update-selected').click()]);
    assert.equal(await page.locator('#selected-total').innerText(), '3 users selected');
    const listed = await page.locator('#selection tbody td:first-child').allInnerTexts();
    for (const r of [...first, second]) assert.ok(listed.includes(r.name), `${r.name} is in the review`);
    // Back on the list, the selection can be cleared in one go.
    await page.goto(`${h.base}/users`);
    assert.match(await page.locator('#selected-count').innerText(), /^3 selected/);
    await page.locator('#clear-selection').click();
    assert.equal(await page.locator('#selected-count').innerText(), '0 selected');
    assert.ok(await page.locator('#update-selected').isDisabled());
    assert.deepEqual(problems, [], 'no console errors');
  });

  test('keyboard only: ticking two people and updating their access', async () => {
    const { page, problems } = await h.openPage('keyboard-bulk');
    await h.signIn(page, ADMIN);
    await page.goto(`${h.base}/users?user_type=front_desk`);
    const rows = (await readRows(page)).slice(0, 2);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter'); // the skip link
    for (const r of rows) {
      await tabTo(page, `tr[data-user="${r.id}"] input[name=ids]`);
      await page.keyboard.press('Space');
    }
    assert.equal(await page.locator('#selected-count').innerText(), '2 selected');
    await page.keyboard.press('Shift+Tab');
    await tabTo(page, '#update-selected', 400);
    await Promise.all([page.waitForURL((u) => u.pathname === '/users/bulk'), page.keyboard.press('Enter')]);
    await tabTo(page, 'input[aria-label="Add Create appointments"]');
    await page.keyboard.press('Space');
    await tabTo(page, '#save-bulk');
    await Promise.all([page.waitForURL((u) => /^\/jobs\//.test(u.pathname)), page.keyboard.press('Enter')]);
    const outcome = page.locator('#outcome');
    await outcome.waitFor();
    assert.match(await outcome.innerText(), /^Succeeded\./);
    assert.deepEqual(problems, [], 'no console errors');
  });
});
