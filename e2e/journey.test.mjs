// Browser end-to-end test of a new user's whole journey through Rollcall.
//
// Starts `rollcall demo` (no SMTP server, so messages wait in the local
// mailbox at /mailbox) and walks through: the company admin requiring a
// second sign-in step, inviting several people at once with the live count,
// the pending list with Resend, then invitees reading their invitation in the
// mailbox and registering with an authenticator app (TOTP) or an emailed
// code, signing in again with the second step, and the used invitation link.
// Every page is checked for console errors. Screenshots go to e2e/screenshots/.
//
// The steps run in order and build on each other (one server for the file).
//
// Environment: see harness.mjs (ROLLCALL_BIN, CHROMIUM).

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ADMIN, createHarness, shot } from './harness.mjs';

const h = createHarness();

const ORG = 'Riverside Therapy Group';
const LOCATION = 'Northside Clinic';
const ROLE = 'Provider';
const MOBILE = '+1 415 555 2671';
const INVITATION_SUBJECT = /^Morgan Reed invited you to Riverside Therapy Group$/;
const CODE_SUBJECT = /verification code$/;

/** Who registers with an authenticator app, who with an emailed code, who gets a new link. */
const DANA = { first: 'Dana', last: 'Lee', email: 'dana.lee@northside.example', password: 'quiet-harbour-lantern-71' };
const PAT = { first: 'Pat', last: 'Ng', email: 'pat.ng@northside.example', password: 'copper-kettle-meadow-38' };
const SAM = { email: 'sam.ward@northside.example' };

/** What is typed into "Invite many", line by line, and what each entry is. */
const PASTE_LINES = [
  `${DANA.first} ${DANA.last} <${DANA.email}>`, // named form
  `${PAT.email}, not-an-address`, // valid, invalid
  `${SAM.email}; ${PAT.email}`, // valid, repeated in the batch
  ADMIN.email, // already in the organization
];
const DISTINCT_VALID = new Set([DANA.email, PAT.email, SAM.email, ADMIN.email]);
const NEW_PEOPLE = [DANA.email, PAT.email, SAM.email];

/** Carried from one step to the next. */
const state = {};

// ---- TOTP (RFC 6238), playing the authenticator app ------------------------------------------

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`"${c}" is not a base32 character`);
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The code for a base32 secret at `timeMs` (HMAC-SHA1, 30-second steps). */
function totp(secretB32, timeMs = Date.now(), { digits = 6, step = 30 } = {}) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 1000 / step)));
  const mac = createHmac('sha1', base32Decode(secretB32)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(binary).padStart(digits, '0');
}

/** A 6-digit code that is none of the codes accepted around now (one step of drift either way). */
function wrongTotp(secretB32) {
  const now = Date.now();
  const accepted = new Set([-60_000, -30_000, 0, 30_000, 60_000].map((d) => totp(secretB32, now + d)));
  for (let n = 123456; ; n = (n + 111111) % 1_000_000) {
    const code = String(n).padStart(6, '0');
    if (!accepted.has(code)) return code;
  }
}

// ---- page helpers -----------------------------------------------------------------------------

/** A page signed in as the company admin, who alone reads the local mailbox. */
async function adminMailbox() {
  const { page } = await h.openPage('mailbox');
  await h.signIn(page, ADMIN);
  return page;
}

/** The local mailbox's rows, newest first. */
function readMailbox(page) {
  return page.locator('table#mailbox tbody tr').evaluateAll((trs) =>
    trs
      .filter((tr) => tr.cells.length === 4)
      .map((tr) => {
        const link = tr.cells[2].querySelector('a');
        return {
          when: tr.cells[0].innerText.trim(),
          to: tr.cells[1].innerText.trim(),
          subject: tr.cells[2].innerText.trim(),
          href: link ? link.getAttribute('href') : null,
          medium: tr.cells[3].innerText.trim(),
        };
      }),
  );
}

/**
 * Opens the mailbox (all of it, or filtered on the recipient) until at least
 * `count` messages to `to` with a subject matching `subject` are listed:
 * messages reach it through the delivery queue, a moment after they are sent.
 * Returns those messages, newest first.
 */
async function waitForMail(page, to, subject, { count = 1, filtered = true, timeoutMs = 15_000 } = {}) {
  const url = filtered ? `${h.base}/mailbox?to=${encodeURIComponent(to)}` : `${h.base}/mailbox`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await page.goto(url);
    assert.equal(res.status(), 200, `${url} answers 200`);
    await page.getByRole('heading', { name: 'Local mailbox', exact: true }).waitFor();
    const found = (await readMailbox(page)).filter((m) => m.to.toLowerCase() === to && subject.test(m.subject));
    if (found.length >= count) return found;
    if (Date.now() > deadline) {
      throw new Error(`no ${count} message(s) to ${to} matching ${subject} within ${timeoutMs} ms; mailbox: ${JSON.stringify(await readMailbox(page))}`);
    }
    await page.waitForTimeout(250);
  }
}

/** Opens a mailbox message by its subject link in the listed row; returns the message text. */
async function openMail(page, message) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === message.href),
    page.locator('table#mailbox tbody tr', { hasText: message.to })
      .locator(`a[href="${message.href}"]`).click(),
  ]);
  assert.match(new URL(page.url()).pathname, /^\/mailbox\/[0-9a-f-]{36}$/);
  await page.locator('#message').waitFor();
  assert.equal((await page.getByRole('heading', { level: 1 }).innerText()).trim(), message.subject);
  assert.match(await page.locator('main .muted').first().innerText(), new RegExp(`To ${message.to.replace(/\./g, '\\.')}`));
  return page.locator('#message').innerText();
}

/** The invitation link in an opened invitation message. */
async function invitationLink(page) {
  const links = await page.locator('#message a').evaluateAll((as) => as.map((a) => a.href));
  const register = links.filter((href) => new URL(href).pathname.startsWith('/register/'));
  assert.equal(register.length, 1, `one registration link in the message, got ${JSON.stringify(links)}`);
  const link = new URL(register[0]);
  assert.equal(link.origin, h.base, 'the link leads to this server');
  assert.match(link.pathname, /^\/register\/[A-Za-z0-9_-]{16,}$/);
  return link.href;
}

/** Reads the user table rows (as in console.test.mjs). */
function readRows(page) {
  return page.locator('table.users tbody tr[data-user]').evaluateAll((trs) =>
    trs.map((tr) => {
      const cells = [...tr.cells].filter((td) => !td.classList.contains('pick')).map((td) => td.innerText.trim());
      const badge = tr.querySelector('span.status');
      return {
        id: tr.dataset.user,
        name: cells[0],
        email: cells[1],
        status: badge ? badge.innerText.trim() : '',
        statusClass: badge ? badge.className : '',
        locations: cells[6],
        // The visible label; the accessible name adds the person (checked below).
        buttons: [...tr.querySelectorAll('button')].map((b) => b.firstChild.textContent.trim()),
        buttonNames: [...tr.querySelectorAll('button')].map((b) => b.textContent.replace(/\s+/g, ' ').trim()),
      };
    }),
  );
}

/** Fills the registration form of an opened invitation link and continues to the second step. */
async function fillDetails(page, who, { screenshot } = {}) {
  await page.getByRole('heading', { name: 'Create your account', exact: true }).waitFor();
  assert.match(await page.locator('main').innerText(), new RegExp(`${ORG} invited ${who.email.replace(/\./g, '\\.')}`));
  const email = page.getByLabel('Email', { exact: true });
  assert.equal(await email.inputValue(), who.email, 'the invited address is shown');
  assert.equal(await email.isEditable(), false, 'the address cannot be changed');
  assert.equal(await email.getAttribute('aria-readonly'), 'true');
  await page.getByLabel('First name', { exact: true }).fill(who.first);
  await page.getByLabel('Last name', { exact: true }).fill(who.last);
  await page.getByLabel('Mobile number', { exact: true }).fill(MOBILE);
  const password = page.getByLabel(/^Password \(at least \d+ characters\)\s*$/);
  const min = Number((await password.getAttribute('minlength')) || 0);
  assert.ok(min >= 12, `the password must be at least 12 characters, the form asks ${min}`);
  assert.ok(who.password.length >= min);
  await password.fill(who.password);
  if (screenshot) await shot(page, screenshot);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/register/2fa'),
    page.getByRole('button', { name: 'Continue', exact: true }).click(),
  ]);
  await page.getByRole('heading', { name: 'Set up a second sign-in step', exact: true }).waitFor();
}

/** Chooses a second-step method on /register/2fa and continues. */
async function chooseMethod(page, label) {
  const radios = page.locator('input[type=radio][name=method]');
  assert.deepEqual(
    (await radios.evaluateAll((rs) => rs.map((r) => r.value))).sort(),
    ['email', 'sms', 'totp'],
    'the three methods the organization allows are offered',
  );
  await page.getByLabel(label, { exact: true }).check();
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/register/2fa/start'),
    page.getByRole('button', { name: 'Continue', exact: true }).click(),
  ]);
  await page.getByLabel('Code', { exact: true }).waitFor();
}

/** Enters a code and confirms; expects the recovery codes, returns them. */
async function confirmEnrolment(page, code, { screenshot } = {}) {
  await page.getByLabel('Code', { exact: true }).fill(code);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/register/2fa/confirm'),
    page.getByRole('button', { name: 'Confirm', exact: true }).click(),
  ]);
  await page.getByRole('heading', { name: 'Keep these recovery codes', exact: true }).waitFor();
  const codes = (await page.locator('#recovery-codes li').allInnerTexts()).map((c) => c.trim());
  assert.equal(codes.length, 10, `ten recovery codes, got ${JSON.stringify(codes)}`);
  for (const c of codes) assert.match(c, /^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}$/, `recovery code "${c}"`);
  assert.equal(new Set(codes).size, 10, 'the recovery codes differ');
  if (screenshot) await shot(page, screenshot);
  return codes;
}

/** From the recovery codes through the terms to the welcome page. */
async function acceptTerms(page, who, { termsShot, welcomeShot } = {}) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/register/terms'),
    page.getByRole('link', { name: 'I have stored them — continue', exact: true }).click(),
  ]);
  await page.getByRole('heading', { name: 'Terms of use', exact: true }).waitFor();
  assert.match(await page.locator('main .muted').innerText(), new RegExp(`${ORG} · version \\d+`));
  assert.ok((await page.locator('#eula').innerText()).trim().length > 100, 'the terms are shown');
  if (termsShot) await shot(page, termsShot);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/home'),
    page.getByRole('button', { name: 'I accept', exact: true }).click(),
  ]);
  await expectWelcome(page, who);
  if (welcomeShot) await shot(page, welcomeShot);
}

async function expectWelcome(page, who) {
  const heading = page.getByRole('heading', { level: 1 });
  assert.equal((await heading.innerText()).trim(), `You're all set, ${who.first} ${who.last}`);
  assert.match(await page.locator('main').innerText(), new RegExp(`Your account at ${ORG} is active`));
  const nav = page.getByRole('navigation');
  const shownName = await nav.locator('.who').evaluate((el) => el.firstChild.textContent.trim());
  assert.equal(shownName, `${who.first} ${who.last}`, 'the nav names the person');
  assert.ok(await nav.getByRole('button', { name: 'Sign out', exact: true }).isVisible());
  // A Provider does not manage users.
  assert.equal(await nav.getByRole('link', { name: 'Users', exact: true }).count(), 0, 'no Users link for a Provider');
}

/** Signs out from the nav and signs in again with email and password, up to the code page. */
async function signInAgain(page, who) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/sign-in'),
    page.getByRole('navigation').getByRole('button', { name: 'Sign out', exact: true }).click(),
  ]);
  assert.match(await page.getByRole('alert').innerText(), /signed out/i);
  await h.fillSignIn(page, who);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/sign-in/code'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await page.getByRole('heading', { name: "Confirm it's you", exact: true }).waitFor();
}

async function submitSignInCode(page, code) {
  await page.getByLabel('Code', { exact: true }).fill(code);
  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/sign-in/code' && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Confirm', exact: true }).click(),
  ]);
  await page.waitForLoadState();
  return res;
}

// ---- the journey ------------------------------------------------------------------------------

before(() => h.start());
after(() => h.stop());
// Nothing a step opened stays open for the next one.
afterEach(async () => {
  await h.closeContexts();
  assert.equal(h.browser.contexts().length, 0, 'no browser context left open');
});

describe('a new user\'s journey', { timeout: 180_000 }, () => {
  test('the TOTP helper matches RFC 6238', () => {
    // RFC 6238 appendix B, SHA-1 key "12345678901234567890", last six of the eight digits.
    const key = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    assert.equal(totp(key, 59_000, { digits: 8 }), '94287082');
    assert.equal(totp(key, 1_111_111_109_000, { digits: 8 }), '07081804');
    assert.equal(totp(key, 2_000_000_000_000, { digits: 8 }), '69279037');
    assert.equal(totp(key, 59_000), '287082');
    assert.notEqual(wrongTotp(key), totp(key));
  });

  test('1. the admin requires a second sign-in step', async () => {
    const { page, problems } = await h.openPage('settings');
    await h.signIn(page, ADMIN);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/settings'),
      page.getByRole('navigation').getByRole('link', { name: 'Settings', exact: true }).click(),
    ]);
    await page.getByRole('heading', { name: 'Settings', exact: true }).waitFor();
    const form = page.locator('#security form');
    const require2fa = form.locator('input[name=require_2fa]');
    assert.equal(await require2fa.isChecked(), false, 'the demo starts without a second step');
    await form.getByLabel('Require a second sign-in step (2FA)').check();
    const methods = form.locator('input[name=allowed_2fa]');
    assert.deepEqual((await methods.evaluateAll((ms) => ms.map((m) => m.value))).sort(), ['email', 'sms', 'totp']);
    for (const m of await methods.all()) await m.check();
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/settings' && u.searchParams.get('saved') === 'settings'),
      form.getByRole('button', { name: 'Save settings', exact: true }).click(),
    ]);
    assert.equal((await page.getByRole('status').innerText()).trim(), 'Settings saved.');
    // What was saved is what the page shows now.
    assert.equal(await page.locator('input[name=require_2fa]').isChecked(), true, 'the second step is required');
    for (const m of await page.locator('input[name=allowed_2fa]').all()) {
      assert.equal(await m.isChecked(), true, `method ${await m.getAttribute('value')} is allowed`);
    }
    assert.deepEqual(problems, [], 'no console errors on the settings pages');
  });

  test('2. the admin invites several people at once', async () => {
    const { page, problems } = await h.openPage('invite');
    await h.signIn(page, ADMIN);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/users/invite'),
      page.locator('#invite').click(),
    ]);
    await page.getByRole('heading', { name: 'Invite people', exact: true }).waitFor();
    const form = page.locator('#paste-form');
    const addresses = form.locator('[name=addresses]');
    const recognised = page.locator('#paste-count #recognised');
    // The count comes from the server (htmx) as the text changes, without a page load.
    await page.waitForFunction(() => typeof window.htmx === 'object');
    await page.evaluate(() => { window.__sameDocument = true; });
    /**
     * Types `text` at the end of the box and waits until the count for the
     * whole text has come back and is on screen. Typing fires several
     * requests; a prefix of the last address can count the same, so the wait
     * is for the answer to the complete text.
     */
    const typeAndCount = async (text, expected) => {
      const full = (await addresses.inputValue()) + text;
      const answered = page.waitForResponse((r) =>
        new URL(r.url()).pathname === '/users/invite/count'
        && new URLSearchParams(r.request().postData() || '').get('addresses')?.replace(/\r\n/g, '\n') === full);
      await addresses.pressSequentially(text, { delay: 15 });
      assert.equal((await answered).status(), 200);
      await page.waitForFunction(
        (want) => document.querySelector('#paste-count')?.textContent.replace(/\s+/g, ' ').trim() === want
          && !document.querySelector('.htmx-request'),
        expected,
      );
      assert.equal((await page.locator('#paste-count').innerText()).trim(), expected);
    };
    assert.equal((await recognised.innerText()).trim(), '0', 'an empty form counts nothing');

    await addresses.click();
    await typeAndCount(`${PASTE_LINES[0]}\n`, '1 address recognised');
    assert.equal((await recognised.innerText()).trim(), '1');
    await typeAndCount(
      PASTE_LINES.slice(1).join('\n'),
      `${DISTINCT_VALID.size} addresses recognised · 1 not an address · 1 repeated`,
    );
    assert.equal((await recognised.innerText()).trim(), String(DISTINCT_VALID.size), 'the count is the number of distinct valid addresses');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the count did not reload the page');
    assert.equal(await addresses.inputValue(), PASTE_LINES.join('\n'), 'the text typed is kept');

    await form.locator('select[name=location]').selectOption({ label: LOCATION });
    await form.locator('select[name=role]').selectOption({ label: ROLE });
    await shot(page, 'invite-paste.png');

    await Promise.all([
      page.waitForURL((u) => u.pathname === '/users/invite/paste'),
      form.getByRole('button', { name: 'Invite', exact: true }).click(),
    ]);
    await page.getByRole('heading', { name: 'Invitations', exact: true }).waitFor();
    assert.equal(
      (await page.locator('#invited-count').innerText()).trim(),
      `${NEW_PEOPLE.length} invitations sent to ${LOCATION} as ${ROLE}.`,
    );
    assert.equal((await page.locator('#invited-count strong').innerText()).trim(), String(NEW_PEOPLE.length));
    assert.equal((await page.getByRole('heading', { level: 2 }).innerText()).trim(), 'Not invited (3)');
    const notInvited = await page.locator('#not-invited tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({ entry: tr.cells[0].innerText.trim(), reason: tr.cells[1].innerText.trim() })),
    );
    const reasonOf = (entry) => {
      const rows = notInvited.filter((r) => r.entry === entry);
      assert.equal(rows.length, 1, `"${entry}" is listed once as not invited: ${JSON.stringify(notInvited)}`);
      return rows[0].reason;
    };
    assert.equal(notInvited.length, 3, `three entries not invited: ${JSON.stringify(notInvited)}`);
    assert.match(reasonOf('not-an-address'), /not an email address/);
    assert.match(reasonOf(PAT.email), /more than once in this batch/);
    assert.match(reasonOf(ADMIN.email), new RegExp(`already in ${ORG}`));
    await shot(page, 'invite-result.png');

    await Promise.all([
      page.waitForURL((u) => u.pathname === '/users/invite' && u.search === ''),
      page.locator('#send-more').click(),
    ]);
    await page.getByRole('heading', { name: 'Invite people', exact: true }).waitFor();
    assert.equal(await page.locator('[name=addresses]').inputValue(), '', 'the invite form is empty again');
    assert.equal((await page.locator('#recognised').innerText()).trim(), '0');
    state.invited = true;

    assert.deepEqual(problems, [], 'no console errors on the invite pages');
  });

  test('3. the pending list shows the invited people; Resend sends a new link', async () => {
    assert.ok(state.invited, 'the invitations of step 2 went out');
    const { page, problems } = await h.openPage('pending');
    await h.signIn(page, ADMIN);
    // The link the first invitation to Sam carried, before it is replaced.
    const { page: mail, problems: mailProblems } = await h.openPage('mailbox-admin');
    await h.signIn(mail, ADMIN);
    const [first] = await waitForMail(mail, SAM.email, INVITATION_SUBJECT);
    await openMail(mail, first);
    const oldLink = await invitationLink(mail);

    const old = await page.$('#rows');
    await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Pending' });
    await page.waitForFunction((el) => !el.isConnected, old);
    await old.dispose();
    await page.waitForURL((u) => u.searchParams.get('status') === 'pending');
    await page.waitForFunction(() => !document.querySelector('.htmx-request'));
    const rows = await readRows(page);
    for (const r of rows) assert.equal(r.status, 'Pending', `${r.email} reads Pending`);
    for (const email of NEW_PEOPLE) {
      const row = rows.find((r) => r.email === email);
      assert.ok(row, `${email} is in the pending list`);
      assert.match(row.statusClass, /\bstatus-pending\b/);
      assert.equal(row.locations, LOCATION);
      assert.deepEqual(row.buttons, ['Resend', 'Revoke'], `${email} can be resent or revoked`);
      assert.deepEqual(row.buttonNames, [`Resend ${row.name}`, `Revoke ${row.name}`], 'each button names the person it acts on');
    }
    assert.equal(rows.find((r) => r.email === DANA.email).name, `${DANA.first} ${DANA.last}`, 'the name typed with the address is kept');
    assert.equal(rows.some((r) => r.email === ADMIN.email), false, 'the admin was not invited');

    await shot(page, 'users-pending.png', { fullPage: false });

    const samRow = page.locator('table.users tbody tr[data-user]', { hasText: SAM.email });
    const samId = await samRow.getAttribute('data-user');
    const [resend] = await Promise.all([
      page.waitForRequest((r) => new URL(r.url()).pathname === `/users/${samId}/resend`),
      page.waitForURL((u) => u.pathname === '/users' && u.searchParams.get('notice') === 'resent'),
      samRow.getByRole('button', { name: /^Resend\b/ }).click(),
    ]);
    assert.equal(resend.method(), 'POST', 'Resend is a form POST');
    assert.equal(resend.isNavigationRequest(), true, 'Resend submits the form (a page load)');
    assert.equal(
      (await page.locator('.notice[role=status]').innerText()).trim(),
      'A new invitation was sent; the previous link no longer works.',
    );
    await shot(page, 'users-resent.png', { fullPage: false });

    // The new link arrives; the previous one is refused as withdrawn.
    const sent = await waitForMail(mail, SAM.email, INVITATION_SUBJECT, { count: 2 });
    await openMail(mail, sent[0]);
    const newLink = await invitationLink(mail);
    assert.notEqual(newLink, oldLink, 'the new message carries a new link');
    const res = await mail.goto(oldLink);
    assert.equal(res.status(), 410, 'the previous link is gone');
    assert.equal((await mail.getByRole('heading', { level: 1 }).innerText()).trim(), 'This invitation was withdrawn');
    h.forgive(mailProblems, /status of 410 .*\/register\/[^/]+\)$/);
    const res2 = await mail.goto(newLink);
    assert.equal(res2.status(), 200, 'the new link works');
    await mail.getByRole('heading', { name: 'Create your account', exact: true }).waitFor();

    assert.deepEqual(problems, [], 'no console errors on the user list');
    assert.deepEqual(mailProblems, [], 'no other console errors in the mailbox');
    assert.deepEqual(h.consoleProblems, [], 'no console errors so far');
  });

  test('4. an invitee registers with an authenticator app', async () => {
    assert.ok(state.invited, 'the invitations of step 2 went out');
    const { context, page, problems } = await h.openPage('dana');
    assert.deepEqual(await context.cookies(), [], 'a browser with no cookies');
    // The invitation, read in the local mailbox by a company admin (only they may).
    const mail = await adminMailbox();
    const [message] = await waitForMail(mail, DANA.email, INVITATION_SUBJECT, { filtered: false });
    assert.equal(message.medium, 'email');
    const text = await openMail(mail, message);
    assert.match(text, /Riverside Therapy Group/);
    const link = await invitationLink(mail);
    state.danaLink = link;
    await Promise.all([
      page.waitForURL(link),
      page.goto(link),
    ]);
    // The name typed with the address fills the form in.
    assert.equal(await page.getByLabel('First name', { exact: true }).inputValue(), DANA.first);
    assert.equal(await page.getByLabel('Last name', { exact: true }).inputValue(), DANA.last);
    await fillDetails(page, DANA, { screenshot: 'register.png' });

    await chooseMethod(page, 'An authenticator app (TOTP)');
    const qr = page.locator('.qr svg');
    assert.ok(await qr.isVisible(), 'a QR code is shown');
    const box = await qr.boundingBox();
    assert.ok(box.width >= 150 && box.height >= 150, `the QR code is large enough to scan (${box.width}×${box.height})`);
    const secret = (await page.locator('#totp-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{16,}=*$/, `the key is base32: ${secret}`);
    assert.equal(base32Decode(secret).length >= 10, true);
    await shot(page, 'register-2fa.png');
    state.danaSecret = secret;

    await confirmEnrolment(page, totp(secret), { screenshot: 'register-recovery.png' });
    await acceptTerms(page, DANA, { termsShot: 'register-terms.png', welcomeShot: 'welcome.png' });
    const cookies = await context.cookies(h.base);
    assert.ok(cookies.some((c) => c.name === 'rc_session' && c.value && c.httpOnly), 'signed in with an HttpOnly session cookie');

    assert.deepEqual(problems, [], 'no console errors while registering');
  });

  test('5. the invitee signs in again with the authenticator app', async () => {
    assert.ok(state.danaSecret, 'Dana registered in step 4');
    const { page, problems } = await h.openPage('dana-sign-in');
    // Straight from the sign-in page: password first, then the code.
    await h.fillSignIn(page, DANA);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/sign-in/code'),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    await page.getByRole('heading', { name: "Confirm it's you", exact: true }).waitFor();
    assert.match(await page.getByRole('status').innerText(), /code from your authenticator app/);
    assert.equal(await page.locator('.qr').count(), 0, 'no QR code when signing in');
    // Not signed in yet: the pages behind sign-in are closed to this half-done session.
    const early = await page.request.get(`${h.base}/home`, { maxRedirects: 0 });
    assert.equal(early.status(), 303, '/home before the code redirects');
    assert.equal(new URL(early.headers().location, h.base).pathname, '/sign-in');
    const wrong = await submitSignInCode(page, wrongTotp(state.danaSecret));
    assert.equal(wrong.status(), 401);
    assert.equal(new URL(page.url()).pathname, '/sign-in/code');
    assert.match(await page.getByRole('alert').innerText(), /not right/);
    await shot(page, 'sign-in-code.png');
    h.forgive(problems, /status of 401 .*\/sign-in\/code\)$/);

    const right = await submitSignInCode(page, totp(state.danaSecret));
    assert.equal(right.status(), 303);
    await page.waitForURL((u) => u.pathname === '/home');
    await expectWelcome(page, DANA);

    // And once more through Sign out, as a person would.
    await signInAgain(page, DANA);
    await submitSignInCode(page, totp(state.danaSecret));
    await page.waitForURL((u) => u.pathname === '/home');
    await expectWelcome(page, DANA);

    assert.deepEqual(problems, [], 'no console errors while signing in');
  });

  test('6. the used invitation link says so', async () => {
    assert.ok(state.danaLink, 'Dana registered in step 4');
    const { page, problems } = await h.openPage('used-link');
    const res = await page.goto(state.danaLink);
    assert.equal(res.status(), 410);
    const heading = (await page.getByRole('heading', { level: 1 }).innerText()).trim();
    assert.equal(heading, 'This invitation was already used');
    assert.match(await page.locator('main').innerText(), /already used/);
    assert.equal(await page.getByLabel('Password', { exact: false }).count(), 0, 'no registration form');
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/sign-in'),
      page.getByRole('link', { name: 'Go to sign-in', exact: true }).click(),
    ]);
    h.forgive(problems, /status of 410 .*\/register\/[^/]+\)$/);
    assert.deepEqual(problems, [], 'no other console errors');
  });

  test('7. another invitee registers with a code sent by email', async () => {
    assert.ok(state.invited, 'the invitations of step 2 went out');
    const { context, page, problems } = await h.openPage('pat');
    const mailbox = await adminMailbox();
    const [message] = await waitForMail(mailbox, PAT.email, INVITATION_SUBJECT, { filtered: false });
    await openMail(mailbox, message);
    const link = await invitationLink(mailbox);
    await page.goto(link);
    await fillDetails(page, PAT);
    await chooseMethod(page, 'A code sent to my email');
    assert.equal(await page.locator('.qr').count(), 0, 'no QR code for an emailed code');
    assert.match(await page.getByRole('status').innerText(), new RegExp(`We sent a 6-digit code to ${PAT.email.replace(/\./g, '\\.')}`));

    // The code, read in the mailbox in another tab.
    const mail = await adminMailbox();
    const codeOf = async (count) => {
      const [m] = await waitForMail(mail, PAT.email, CODE_SUBJECT, { count });
      const body = await openMail(mail, m);
      const found = body.match(/\b(\d{6})\b/);
      assert.ok(found, `a 6-digit code in: ${body}`);
      return found[1];
    };
    await confirmEnrolment(page, await codeOf(1));
    await acceptTerms(page, PAT);

    // Signing in again asks for a fresh code by email.
    await signInAgain(page, PAT);
    assert.match(await page.getByRole('status').innerText(), new RegExp(`We sent a 6-digit code to ${PAT.email.replace(/\./g, '\\.')}`));
    const res = await submitSignInCode(page, await codeOf(2));
    assert.equal(res.status(), 303);
    await page.waitForURL((u) => u.pathname === '/home');
    await expectWelcome(page, PAT);

    assert.deepEqual(problems, [], 'no console errors while registering with an emailed code');
  });

  test('no console errors or CSP violations on any page', () => {
    assert.deepEqual(h.consoleProblems, [], 'no console errors on any page in this run');
  });
});
