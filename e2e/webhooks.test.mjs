// Webhooks on the console, in Chromium at 1280 px: the company admin adds an endpoint (a
// receiver on this machine), sees its signing secret once, sends a test event and watches it
// arrive in the endpoint's delivery log.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ADMIN, checkPage, createHarness, freePort, shot } from './harness.mjs';

const h = createHarness();

/** A receiver that answers 204 and keeps the headers of each request. */
async function startReceiver() {
  const port = await freePort();
  const got = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(req.headers);
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { server, got, url: `http://127.0.0.1:${port}/hook` };
}

let receiver;
before(async () => {
  // The receiver is on this machine, which endpoints may only reach when allowed.
  process.env.ROLLCALL_WEBHOOKS_ALLOW_PRIVATE = 'true';
  await h.start();
  receiver = await startReceiver();
});
after(async () => {
  receiver?.server.close();
  await h.stop();
});

test('a company admin adds a webhook, sees its secret once and its test delivery', async () => {
  const { page, problems } = await h.openPage('admin');
  await h.signIn(page, ADMIN);
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/settings/webhooks');
  await page.getByLabel('Address (URL)', { exact: true }).fill(receiver.url);
  await page.getByLabel('Description (optional)', { exact: true }).fill('Scheduling app');
  await page.getByLabel('A person is deactivated', { exact: true }).check();
  await page.getByRole('button', { name: 'Add endpoint', exact: true }).click();
  const secret = (await page.locator('#new-webhook-secret').innerText()).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/);
  assert.match(await page.locator('[role=status]').first().innerText(), /copy it now/);
  assert.match(await page.locator('table').innerText(), /A person is deactivated/);
  await shot(page, 'webhooks.png');

  await page.getByRole('link', { name: 'Send a test event', exact: true }).click();
  await page.getByRole('button', { name: 'Save changes', exact: true }).waitFor();
  await checkPage(page, 'webhook endpoint');
  await page.getByRole('button', { name: 'Send test event', exact: true }).first().click();
  // The answer sends the browser on to the log, so a reload queues nothing again.
  await page.waitForURL((u) => u.pathname.endsWith('/deliveries'));
  assert.match(await page.locator('[role=status]').first().innerText(), /test event is on its way/);
  const log = page.locator('#deliveries tbody');
  assert.match(await log.innerText(), /Test event/);
  const logUrl = page.url().split('?')[0];
  for (let i = 0; i < 60 && !/Delivered/.test(await log.innerText()); i++) {
    await page.waitForTimeout(250);
    await page.goto(logUrl);
  }
  const row = await log.locator('tr').first().innerText();
  assert.match(row, /Test event/);
  assert.match(row, /Delivered/);
  assert.match(row, /204/);
  assert.equal(receiver.got.length, 1, 'the receiver got the test event once');
  assert.ok(receiver.got[0]['webhook-signature'], 'it is signed');
  await shot(page, 'webhook-deliveries.png');
  assert.deepEqual(problems, [], 'no console errors');
});
