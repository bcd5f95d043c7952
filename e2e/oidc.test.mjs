// Sign in with Rollcall, as a real app would use it: a small relying party built on the
// maintained `openid-client` package signs a staff member in through Chromium (password and an
// authenticator-app code on Rollcall's own pages), gets tokens whose signatures the library checks
// against Rollcall's JWKS, reads userinfo and the permission claims, refreshes, and is refused
// once the person is deactivated.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import * as oidc from 'openid-client';
import { ADMIN, createHarness, freePort, shot } from './harness.mjs';

const h = createHarness();
const STAFF = { email: 'jordan.oidc@riverside.example', first: 'Jordan', last: 'Park', password: 'a quiet harbour at dawn' };

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of text.replace(/[\s=-]/g, '').toUpperCase()) {
    value = ((value << 5) | alphabet.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The authenticator app: RFC 6238, 6 digits, 30-second steps. */
function totp(secret, timeMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 30_000)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** The app's callback: a real listener on this machine that only answers "signed in". */
async function startCallback() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html lang="en"><title>Scheduling</title><h1>Signed in</h1></html>');
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { server, redirect: `http://127.0.0.1:${port}/callback` };
}

async function api(token, method, path, body) {
  const res = await fetch(`${h.base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

let callback;
before(async () => {
  await h.start();
  callback = await startCallback();
});
after(async () => {
  callback?.server.close();
  await h.stop();
});

test('an app signs a staff member in through Rollcall with openid-client', async () => {
  // The company admin registers the app on the console and makes an API token for the set-up.
  const { page: admin } = await h.openPage('admin');
  await h.signIn(admin, ADMIN);
  // Staff sign in with a second step (an authenticator app among the methods).
  await admin.goto(`${h.base}/settings`);
  const security = admin.locator('#security form');
  await security.getByLabel('Require a second sign-in step (2FA)').check();
  await security.locator('input[name=allowed_2fa][value=totp]').check();
  await Promise.all([
    admin.waitForURL((u) => u.searchParams.get('saved') === 'settings'),
    security.getByRole('button', { name: 'Save settings', exact: true }).click(),
  ]);
  await admin.goto(`${h.base}/settings/sign-in-apps`);
  await admin.getByLabel('Name', { exact: true }).fill('Scheduling');
  await admin.getByLabel(/^Redirect URIs/).fill(callback.redirect);
  await admin.getByRole('button', { name: 'Register app', exact: true }).click();
  const clientId = await admin.locator('#new-client-id').inputValue();
  const clientSecret = (await admin.locator('#new-client-secret').innerText()).trim();
  assert.match(clientSecret, /^rollcall_oidc_[0-9a-f]{64}$/);
  // The screenshot also runs the page's accessibility and layout checks.
  await shot(admin, 'sign-in-apps.png');

  await admin.goto(`${h.base}/settings/api-tokens`);
  await admin.getByLabel('Name', { exact: true }).fill('set-up');
  await admin.locator('input[name=scope][value="users:write"]').check();
  await admin.locator('input[name=scope][value="users:read"]').check();
  await admin.getByRole('button', { name: 'Create token', exact: true }).click();
  const token = (await admin.locator('#new-token').innerText()).trim();

  // A new staff member is invited and registers with an authenticator app.
  const locations = await api(token, 'GET', '/locations');
  const invited = await api(token, 'POST', '/invitations', {
    email: STAFF.email, full_name: `${STAFF.first} ${STAFF.last}`,
    location: locations.body[0].id, role: 'Provider', user_type: 'pt',
  });
  assert.equal(invited.status, 201, JSON.stringify(invited.body));
  let link;
  for (let i = 0; i < 60 && !link; i++) {
    await admin.goto(`${h.base}/mailbox?to=${encodeURIComponent(STAFF.email)}`);
    const href = await admin.locator('table#mailbox tbody a').first().getAttribute('href').catch(() => null);
    if (href) {
      await admin.goto(`${h.base}${href}`);
      link = (await admin.locator('#message a').evaluateAll((as) => as.map((a) => a.href)))
        .find((u) => new URL(u).pathname.startsWith('/register/'));
    } else {
      await admin.waitForTimeout(250);
    }
  }
  assert.ok(link, 'the invitation arrived');
  const { page } = await h.openPage('staff');
  await page.goto(link);
  await page.getByLabel('First name', { exact: true }).fill(STAFF.first);
  await page.getByLabel('Last name', { exact: true }).fill(STAFF.last);
  await page.getByLabel('Mobile number', { exact: true }).fill('+1 415 555 2671');
  await page.getByLabel(/^Password \(at least/).fill(STAFF.password);
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/register/2fa').catch(async () => {
    throw new Error(`registration stopped at ${page.url()}: ${await page.locator('main').innerText()}`);
  });
  await page.getByLabel('An authenticator app (TOTP)', { exact: true }).check();
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  await page.getByLabel('Code', { exact: true }).fill(totp(secret));
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();
  await page.getByRole('link', { name: 'I have stored them — continue', exact: true }).click();
  await page.getByRole('button', { name: 'I accept', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/home');
  await page.context().clearCookies();

  // The relying party: discovery, PKCE, state and nonce, all by the library.
  const config = await oidc.discovery(
    new URL(h.base),
    clientId,
    { client_secret: clientSecret, id_token_signed_response_alg: 'ES256' },
    undefined,
    { execute: [oidc.allowInsecureRequests] },
  );
  // ID token signatures are checked against the JWKS by the library.
  oidc.enableNonRepudiationChecks(config);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizeUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: callback.redirect,
    scope: 'openid profile email rollcall offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });

  // Not signed in: Rollcall's own sign-in page, password, then the authenticator code.
  await page.goto(authorizeUrl.href);
  await page.waitForURL((u) => u.pathname === '/sign-in');
  await page.getByLabel('Email', { exact: true }).fill(STAFF.email);
  await page.getByLabel('Password', { exact: true }).fill(STAFF.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/sign-in/code');
  // A fresh step: the code used at enrolment may not be used twice.
  await page.waitForTimeout(Math.max(0, 30_000 - (Date.now() % 30_000)) + 200);
  await page.getByLabel('Code', { exact: true }).fill(totp(secret));
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();
  await page.waitForURL((u) => u.href.startsWith(callback.redirect)).catch(async () => {
    throw new Error(`the sign-in stopped at ${page.url()}: ${await page.locator('body').innerText()}`);
  });
  const back = new URL(page.url());

  const tokens = await oidc.authorizationCodeGrant(config, back, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  const claims = tokens.claims();
  assert.equal(claims.email, STAFF.email);
  assert.equal(claims.rollcall.user_type, 'pt');

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.name, `${STAFF.first} ${STAFF.last}`);
  const profile = await api(token, 'GET', `/users/${claims.sub}`);
  assert.deepEqual(info.rollcall.permissions, profile.body.effective.map((e) => e.key));
  assert.ok(info.rollcall.permissions.length > 0, 'a Provider holds permissions');

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates');
  assert.equal(refreshed.claims().sub, claims.sub);

  // Deactivated: the next refresh is refused and the access token stops working.
  const off = await api(token, 'POST', `/users/${claims.sub}/deactivate`);
  assert.equal(off.status, 204, JSON.stringify(off.body));
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === 'invalid_grant');
  await assert.rejects(oidc.fetchUserInfo(config, refreshed.access_token, claims.sub));
});
