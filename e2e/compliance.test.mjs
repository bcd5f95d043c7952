// The compliance summary and the inactivity rule on the console, in Chromium at 1280 px: a
// company admin sets the rule under Settings (a period out of range is refused beside its
// field), then reads the summary an auditor would: people by status, second-factor coverage,
// admins and leaver times per clinic, the rule in force; the CSV download is one row a clinic.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, checkPage, createHarness, shot } from './harness.mjs';

const h = createHarness();
before(() => h.start());
after(() => h.stop());

test('a company admin sets the inactivity rule and reads the compliance summary', async () => {
  const { page } = await h.openPage('admin');
  await h.signIn(page, ADMIN);
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  const days = page.getByLabel(/After this many days without signing in/);
  await days.fill('3');
  await page.getByLabel('Deactivate them', { exact: true }).check();
  await page.getByRole('button', { name: 'Save inactivity rule', exact: true }).click();
  await page.locator('#error-summary').waitFor();
  assert.equal(await days.getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#inactivity').innerText(), /7 to 730 days/);
  await days.fill('90');
  await page.getByRole('button', { name: 'Save inactivity rule', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Inactivity rule saved.' }).waitFor();

  await page.getByRole('link', { name: 'Compliance', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/compliance');
  await page.getByRole('heading', { name: 'Compliance summary' }).waitFor();
  const status = await page.locator('#people-by-status').innerText();
  assert.match(status, /active/);
  assert.match(await page.locator('#second-factor-coverage').innerText(), /of active people have a second factor/);
  const clinics = await page.locator('#clinics').innerText();
  assert.match(clinics, /\(DT\)/);
  assert.match(await page.locator('main, body').first().innerText(), /not signed in for 90 days are warned, then deactivated/);
  await checkPage(page, 'compliance summary');
  await shot(page, 'compliance.png');

  const csv = await page.evaluate(async () => (await fetch('/compliance.csv')).text());
  const lines = csv.trim().split('\n');
  assert.match(lines[0], /^generated_at,clinic,code,/);
  assert.ok(lines.length >= 2, csv);
});
