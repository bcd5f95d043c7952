// Browser end-to-end test of emergency ("break-glass") access on the demo organization: the
// company admin designates a role in the settings; a member of it takes emergency access with a
// reason and ends it once done; the company admin sees the open reviews on the home page and
// flags the use with a note. Screenshots go to e2e/screenshots/.
//
// Environment: see harness.mjs (ROLLCALL_BIN, CHROMIUM).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, VIEWER, createHarness, shot } from './harness.mjs';

const h = createHarness();
before(() => h.start());
after(() => h.stop());
afterEach(() => h.closeContexts());

describe('Emergency access', { timeout: 120_000 }, () => {
  test('a designated person takes it, and a company admin reviews it from the home page', async () => {
    const { page: admin, problems } = await h.openPage('emergency-admin');
    await h.signIn(admin, ADMIN);
    // The demo's two uses from last night wait for review.
    assert.match(await admin.locator('#emergency-reviews').innerText(), /2 uses of emergency access wait/);

    // Members of Read-only are designated.
    await admin.goto(`${h.base}/settings#emergency`);
    await admin.locator('#emergency-settings-form select[name=role]').selectOption({ label: 'Members of Read-only' });
    await Promise.all([
      admin.waitForURL((u) => u.searchParams.get('saved') === 'emergency'),
      admin.getByRole('button', { name: 'Save emergency access' }).click(),
    ]);
    await shot(admin, 'emergency-settings.png');

    // Robin, the viewer, takes billing refunds for an hour; an empty reason is refused first.
    const { page: robin, problems: robinProblems } = await h.openPage('emergency-robin');
    await h.signIn(robin, VIEWER);
    await robin.getByRole('link', { name: 'Emergency access' }).click();
    const form = robin.locator('#emergency-form');
    await form.locator('select[name=permission]').selectOption('billing.refunds');
    await form.locator('select[name=minutes]').selectOption('60');
    await robin.getByRole('button', { name: 'Take emergency access' }).click();
    // The browser itself asks for the reason (required); the server says the same without it.
    const reason = form.locator('textarea[name=reason]');
    assert.equal(await reason.evaluate((el) => el.validity.valueMissing), true);
    await reason.fill('Refund for a patient charged twice; billing is closed');
    await Promise.all([
      robin.waitForURL((u) => u.pathname.startsWith('/emergency-access/')),
      robin.getByRole('button', { name: 'Take emergency access' }).click(),
    ]);
    await robin.getByRole('heading', { name: 'Emergency access by Robin Hale' }).waitFor();
    assert.match(await robin.locator('.notice[role=status]').innerText(), /company admins have been told/);
    await shot(robin, 'emergency-taken.png');

    // The refund is done within minutes: Robin ends the access there and then.
    await Promise.all([
      robin.waitForURL((u) => u.searchParams.get('saved') === 'ended'),
      robin.getByRole('button', { name: 'End now' }).click(),
    ]);
    assert.match(await robin.locator('.notice[role=status]').innerText(), /access it gave is taken back/);
    assert.match(await robin.locator('#grant-until').innerText(), /ended/);
    assert.match(await robin.locator('#grant-ended').innerText(), /\d{4}-\d\d-\d\d \d\d:\d\d/);
    assert.equal(await robin.getByRole('button', { name: 'End now' }).count(), 0);
    await shot(robin, 'emergency-ended.png');

    // The company admin's home page now shows three; Robin's use is flagged with a note.
    await admin.goto(`${h.base}/users`);
    assert.match(await admin.locator('#emergency-reviews').innerText(), /3 uses of emergency access wait/);
    await admin.getByRole('link', { name: 'Review them' }).click();
    await admin.locator('#emergency-uses').getByRole('link', { name: 'Robin Hale' }).click();
    await admin.getByLabel('Flagged — it needs a follow-up').check();
    await admin.locator('#review-form textarea[name=note]').fill('A refund needs a second pair of eyes: follow up with Robin.');
    await shot(admin, 'emergency-review.png');
    await Promise.all([
      admin.waitForURL((u) => u.searchParams.get('saved') === 'reviewed'),
      admin.getByRole('button', { name: 'Save review' }).click(),
    ]);
    await admin.goto(`${h.base}/users`);
    assert.match(await admin.locator('#emergency-reviews').innerText(), /2 uses of emergency access wait/);
    assert.deepEqual([...problems, ...robinProblems], [], 'no console errors');
  });
});
