// Provisioning on the console, in Chromium at 1280 px: the company admin finds the SCIM base URL,
// makes a SCIM token (seeing it once), lets the provider push a group and a person, maps the
// group to a role and a clinic, and reads the provider's requests with how each ended.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, checkPage, createHarness, shot } from './harness.mjs';

const h = createHarness();

before(async () => {
  await h.start();
});
after(async () => {
  await h.stop();
});

/** A SCIM call as an identity provider makes it. */
async function scim(token, method, path, body) {
  const res = await fetch(`${h.base}/scim/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

test('a company admin connects a provider and maps its group from the Provisioning page', async () => {
  const { page, problems } = await h.openPage('admin');
  await h.signIn(page, ADMIN);
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('link', { name: 'Provisioning', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/settings/provisioning');
  assert.match(await page.locator('#scim-base-url').innerText(), /\/scim\/v2$/);

  // A blank name is refused beside its field, with a summary on top.
  await page.getByLabel('Name', { exact: true }).fill('   ');
  await page.getByRole('button', { name: 'Create SCIM token', exact: true }).click();
  await page.locator('#error-summary').waitFor();
  const name = page.locator('#t-f-name');
  assert.equal(await name.getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#t-f-name-error').innerText(), /name/i);
  await checkPage(page, 'provisioning, token refused');

  await name.fill('Entra ID');
  await page.getByRole('button', { name: 'Create SCIM token', exact: true }).click();
  const token = (await page.locator('#new-scim-token').innerText()).trim();
  assert.match(token, /^rollcall_sa_/);
  assert.match(await page.locator('#scim-tokens').innerText(), /Entra ID/);

  // The provider pushes a group and a person, adds the person to the group, and repeats a create.
  const group = await scim(token, 'POST', '/Groups', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName: 'Therapists',
  });
  assert.equal(group.status, 201);
  const person = {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'tess.hale@riverside.example',
    name: { givenName: 'Tess', familyName: 'Hale' },
  };
  const tess = await scim(token, 'POST', '/Users', person);
  assert.equal(tess.status, 201);
  assert.equal((await scim(token, 'POST', '/Users', person)).status, 409);
  const added = await scim(token, 'PATCH', `/Groups/${group.body.id}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'add', path: 'members', value: [{ value: tess.body.id }] }],
  });
  assert.equal(added.status, 200);

  await page.reload();
  const log = page.locator('#scim-requests tbody');
  assert.match(await log.innerText(), /PATCH \/Groups\/…/);
  assert.match(await log.innerText(), /Refused: uniqueness/);

  // Members of Therapists get the Provider role at Northside Clinic.
  const form = page.locator('form.group-mapping', { hasText: 'Therapists' });
  await form.getByLabel('Provider', { exact: true }).check();
  await form.getByLabel('Northside Clinic', { exact: true }).check();
  await form.getByRole('button', { name: 'Save what Therapists gives', exact: true }).click();
  assert.match(await page.locator('#provisioning-notice').innerText(), /“Therapists” is saved/);
  const saved = page.locator('form.group-mapping', { hasText: 'Therapists' });
  assert.equal(await saved.getByLabel('Provider', { exact: true }).isChecked(), true);
  await shot(page, 'provisioning.png');
  assert.deepEqual(problems, [], 'no console errors');
});
