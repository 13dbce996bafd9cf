// Full-page screenshots of the main register pages, for docs/register.md and the README.
//
//   node screenshots.mjs <base-url> <out-dir> [<password>]
//
// Run by docs/screenshots/make.sh against `portcullis demo`; uses Debian's /usr/bin/chromium (or
// $PORTCULLIS_CHROMIUM) with JavaScript off, as a reader without it would see the pages. With a
// password, also the portals (docs/portal.md), signed in as the accounts make.sh creates:
// `acme-ops` (customer), `a.reviewer@bis` (official) and `ops-staff` (provider).

import { chromium } from 'playwright-core';

// Root in CI needs --no-sandbox; the rest keep Chromium off the (closed) network, where its
// background connections would only be refused.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const [baseArg, outDir, password] = process.argv.slice(2);
if (!baseArg || !outDir) {
  console.error('usage: node screenshots.mjs <base-url> <out-dir>');
  process.exit(2);
}
const base = baseArg.replace(/\/$/, '');
const directives = (await (await fetch(`${base}/admin/v1/directives`)).json()).directives;
const emergency = directives.find((d) => d.emergency) ?? directives[0];
const shots = [
  ['register-index.png', '/register'],
  ['register-model.png', '/register/models/frontier?diff=1..2'],
  ['register-directives.png', '/register/directives'],
  ['register-directive.png', `/register/directives/${encodeURIComponent(emergency.id)}`],
  ['register-entry.png', `/register/entries/${emergency.log_index}`],
];

const browser = await chromium.launch({
  executablePath: process.env.PORTCULLIS_CHROMIUM ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
});
try {
  const page = await browser.newPage({ javaScriptEnabled: false, viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
  for (const [file, path] of shots) {
    const response = await page.goto(base + path);
    if (response?.status() !== 200) throw new Error(`${path}: ${response?.status()}`);
    await page.screenshot({ path: `${outDir}/${file}`, fullPage: true });
    console.log(`${outDir}/${file}  ←  ${path}`);
  }
  if (password) await portals(browser);
} finally {
  await browser.close();
}

/** The portals, each signed in in its own context; a shot after `prepare` has run on the page. */
async function portals(browser) {
  const shots = [
    [null, 'portal-login.png', '/login'],
    ['acme-ops', 'portal-customer.png', '/portal'],
    ['acme-ops', 'portal-apply.png', '/portal/apply?model=frontier'],
    ['a.reviewer@bis', 'console-queue.png', '/console/authority'],
    ['a.reviewer@bis', 'console-directive-impact.png', '/console/authority/directives/new', async (page) => {
      const form = page.locator('#directive');
      await form.getByLabel('Directive id').fill('EC-2026-014');
      await form.getByLabel('Legal basis').fill('15 CFR 744.23');
      await form.getByLabel('What it orders, in words').fill('workhorse only for end users attested as US nationals.');
      await form.getByLabel('workhorse').check();
      await form.getByLabel('Condition (Cedar forbid policies)').fill('@id("us-nationals-only")\nforbid (principal, action, resource)\nunless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };');
      await form.getByLabel('Effective at').fill(new Date(Date.now() + 14 * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z'));
      await form.getByLabel('What it is').fill('Export-control assessment');
      await form.getByLabel('Disclosure').selectOption('withheld');
      await form.getByLabel('Why it is withheld').fill('classified');
      await form.getByRole('button', { name: 'Show the impact' }).click();
    }],
    ['ops-staff', 'console-provider-model.png', '/console/provider/models/frontier'],
  ];
  for (const [login, file, path, prepare] of shots) {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    if (login) {
      await page.goto(`${base}/login`);
      await page.getByLabel('Login').fill(login);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    const response = await page.goto(base + path);
    if (response?.status() !== 200) throw new Error(`${path}: ${response?.status()}`);
    if (prepare) await prepare(page);
    await page.screenshot({ path: `${outDir}/${file}`, fullPage: true });
    console.log(`${outDir}/${file}  ←  ${path}${login ? ` (as ${login})` : ''}`);
    await context.close();
  }
}
