// The story of issue #7, as people would live it, in headless Chromium (Debian's
// /usr/bin/chromium, or $PORTCULLIS_CHROMIUM) with JavaScript off:
//
//   1. a customer checks the criteria and applies;
//   2. two officials of two authorities take it up and sign off;
//   3. the customer creates an API key in the portal, and the key works (a real
//      /v1/chat/completions call through the mock upstream);
//   4. an official drafts a directive, views its impact, and only then issues it;
//   5. the customer's key is cut; the customer sees the notice and appeals;
//   6. a different official of the same authority reverses it on appeal; the key works again;
//   7. the public register shows all of it.
//
//   node story.mjs <base-url> <password>
//
// Needs the world of `crates/gateway/tests/api/portal.rs` (`world`): accounts acme-ops,
// j.doe@bis, a.roe@aisi, m.lee@bis with <password>. Assertions are on what the pages show.
// Exits 0 when every check passed, 1 with one line per failure.

import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const [baseArg, password] = process.argv.slice(2);
const base = (baseArg ?? '').replace(/\/$/, '');
if (!/^https?:\/\//.test(base) || !password) {
  console.error('usage: node story.mjs <base-url> <password>');
  process.exit(2);
}
const executablePath = process.env.PORTCULLIS_CHROMIUM ?? '/usr/bin/chromium';

const DIRECTIVE = `@id("us-nationals-only")
forbid (principal, action, resource)
unless { context has end_user && context.end_user has nationalities && context.end_user.nationalities.contains("US") };`;

const failures = [];
let passed = 0;
function check(ok, what) {
  if (ok) passed += 1;
  else failures.push(what);
}
/** Stops the story: later steps depend on this one. */
function need(ok, what) {
  check(ok, what);
  if (!ok) throw new Error(`cannot go on: ${what}`);
}
const squash = (text) => text.replace(/\s+/g, ' ').trim();

async function chat(key) {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'frontier', messages: [{ role: 'user', content: 'hello' }] }),
  });
  return { status: response.status, body: await response.json() };
}

const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
/** A person in their own browser context (own cookies), signed in. */
async function signIn(login) {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const text = squash(await page.locator('body').innerText());
  need(text.includes(`Signed in as ${login}`), `${login}: not signed in (${text.slice(0, 200)})`);
  return page;
}
/** What every portal page must have. */
async function pageChecks(page, where) {
  check((await page.locator('h1').count()) === 1, `${where}: not exactly one <h1>`);
  check((await page.locator('main').count()) === 1, `${where}: no <main>`);
  check((await page.locator('script').count()) === 0, `${where}: has a <script>`);
  for (const table of await page.locator('table').all()) {
    check((await table.locator('caption').count()) === 1, `${where}: a table without a caption`);
  }
  // Every form field has a label a screen reader announces.
  for (const field of await page.locator('main input:not([type=hidden]), main textarea, main select').all()) {
    const id = await field.getAttribute('id');
    const type = await field.getAttribute('type');
    const labelled = (id && (await page.locator(`label[for="${id}"]`).count()) > 0)
      || (await field.locator('xpath=ancestor::label').count()) > 0
      || (type === 'radio' || type === 'checkbox');
    check(labelled, `${where}: a form field without a label (${id ?? type})`);
  }
  return squash(await page.locator('body').innerText());
}

try {
  // 1. The customer checks the criteria and applies.
  const acme = await signIn('acme-ops');
  await acme.getByRole('link', { name: 'Apply', exact: true }).click();
  await acme.getByRole('link', { name: 'frontier' }).click();
  let text = await pageChecks(acme, 'apply');
  check(text.includes('Your attributes meet these criteria'), 'apply: the criteria check result is not shown before applying');
  check(text.includes('kyc-verified') && text.includes('holds'), 'apply: the clause kyc-verified is not shown as holding');
  await acme.getByLabel('Purpose').fill('Protein structure research for drug discovery');
  await acme.getByRole('button', { name: 'Submit application' }).click();
  text = await pageChecks(acme, 'application');
  check(text.includes('Your application was submitted.'), 'application: no confirmation');
  check(text.includes('submitted'), 'application: status submitted not shown');
  const applicationUrl = acme.url().split('?')[0];
  const applicationId = applicationUrl.split('/').pop();
  need(applicationId.startsWith('app_'), `no application id in ${applicationUrl}`);

  // 2. Two officials of two authorities sign off.
  const jdoe = await signIn('j.doe@bis');
  text = await pageChecks(jdoe, 'queue');
  check(text.includes(applicationId), 'queue: the new application is not listed');
  await jdoe.getByRole('link', { name: applicationId }).click();
  await jdoe.getByRole('button', { name: 'Take it up for review' }).click();
  check(squash(await jdoe.locator('body').innerText()).includes('The application is under review.'), 'take up: no confirmation');
  for (const [official, reasons] of [[jdoe, 'KYC verified; purpose within the criteria'], [null, 'Agreed: meets the criteria']]) {
    const person = official ?? (await signIn('a.roe@aisi'));
    if (!official) await person.goto(`${base}/console/authority/applications/${applicationId}`);
    const form = person.locator('#signoff');
    await form.getByLabel('approve').check();
    await form.getByLabel('Reasons').fill(reasons);
    await form.getByLabel('kyc-verified').check();
    if (official) {
      await form.getByLabel('What it is').fill('KYC report of Acme Research');
      await form.getByLabel('Disclosure').selectOption('subject');
      await form.getByLabel('The document').fill('Acme Research passed KYC on 2026-10-01.');
    }
    await form.getByRole('button', { name: 'Record sign-off' }).click();
    text = await pageChecks(person, 'sign-off');
    check(text.includes('Your sign-off was recorded.'), `sign-off: not recorded (${text.slice(0, 300)})`);
  }
  text = squash(await jdoe.reload().then(() => jdoe.locator('body').innerText()));
  check(text.includes('Decision: approved'), 'console: the application is not shown approved after the second sign-off');

  await acme.goto(applicationUrl);
  text = await pageChecks(acme, 'decided application');
  check(text.includes('Decision: approved'), 'customer: the decision is not shown');
  check(text.includes('KYC verified; purpose within the criteria'), 'customer: the reasons are not shown');
  check(text.includes('Agreed: meets the criteria'), 'customer: the second sign-off is not shown');
  const evidence = acme.getByRole('link', { name: 'Read the document' });
  check((await evidence.count()) === 1, 'customer: the evidence disclosed to it is not linked');
  if ((await evidence.count()) === 1) {
    const document = await acme.context().request.get(base + (await evidence.getAttribute('href')));
    check((await document.text()) === 'Acme Research passed KYC on 2026-10-01.', 'customer: the evidence document is not readable');
  }

  // 3. The customer creates a key in the portal; it is shown once, and it works.
  await acme.getByRole('link', { name: 'API keys' }).click();
  await acme.getByLabel('Label').fill('story');
  await acme.getByRole('button', { name: 'Create key' }).click();
  text = await pageChecks(acme, 'new key');
  check(text.includes('it is shown this once'), 'keys: the key is not flagged as shown once');
  const key = squash(await acme.locator('#secret').innerText());
  need(key.startsWith('pcl_'), `keys: no key shown (${key})`);
  let answer = await chat(key);
  check(answer.status === 200 && Array.isArray(answer.body.choices), `chat with the new key: ${answer.status} ${JSON.stringify(answer.body)}`);
  await acme.getByRole('link', { name: 'Overview' }).click();
  text = await pageChecks(acme, 'overview');
  check(/frontier preview granted .* allowed/.test(text), `overview: frontier is not shown allowed (${text.slice(0, 600)})`);
  await acme.getByRole('link', { name: 'API keys' }).click();
  check(!(await acme.content()).includes(key), 'keys: the key is shown a second time');

  // 4. An official drafts a directive, views its impact, then issues it.
  await jdoe.getByRole('link', { name: 'Issue a directive' }).click();
  check((await jdoe.getByRole('button', { name: 'Issue the directive' }).count()) === 0, 'directive: issuing is offered before the impact was shown');
  const draft = jdoe.locator('#directive');
  await draft.getByLabel('Directive id').fill('EC-2026-007');
  await draft.getByLabel('Legal basis').fill('15 CFR 744.23');
  await draft.getByLabel('What it orders, in words').fill('Frontier models only for end users attested as US nationals.');
  await draft.getByLabel('frontier').check();
  await draft.getByLabel('Condition (Cedar forbid policies)').fill(DIRECTIVE);
  await draft.getByLabel('Emergency justification (zero notice only)').fill('Order received at 17:21 for immediate effect.');
  await draft.getByLabel('What it is').fill('Export-control assessment');
  await draft.getByLabel('Disclosure').selectOption('withheld');
  await draft.getByLabel('Why it is withheld').fill('classified under E.O. 13526');
  await draft.getByRole('button', { name: 'Show the impact' }).click();
  text = await pageChecks(jdoe, 'impact');
  check(text.includes('Impact, if issued now'), 'directive: the impact is not shown');
  check(squash(await jdoe.locator('#impact-customers').innerText()) === '1', 'directive: the impact does not count acme as affected');
  check(squash(await jdoe.locator('#impact-grants').innerText()) === '1', 'directive: the impact does not count acme\'s grant');
  check(Number(squash(await jdoe.locator('#impact-requests').innerText())) >= 1, 'directive: the recent request is not counted');
  check((await jdoe.getByLabel('Directive id').inputValue()) === 'EC-2026-007', 'directive: the draft was not kept');
  await jdoe.getByRole('button', { name: 'Issue the directive' }).click();
  text = await pageChecks(jdoe, 'issued');
  check(text.includes('The directive was issued, with its notice.'), `directive: not issued (${text.slice(0, 400)})`);
  check(text.includes('EC-2026-007'), 'queue: the directive is not listed');

  // 5. The customer is cut, sees the notice, and appeals.
  answer = await chat(key);
  check(answer.status === 403 && JSON.stringify(answer.body).includes('EC-2026-007'), `chat under the directive: ${answer.status}`);
  await acme.getByRole('link', { name: 'Notices' }).click();
  text = await pageChecks(acme, 'notices');
  check(text.includes('EC-2026-007'), 'notices: the directive\'s notice is not shown');
  const notice = acme.locator('section.notice', { hasText: 'EC-2026-007' }).first();
  await notice.locator('summary').click();
  await notice.getByLabel('Grounds').fill('Our end users are verified researchers; the directive cuts them without cause.');
  await notice.getByRole('button', { name: 'File the appeal' }).click();
  text = await pageChecks(acme, 'appeal');
  check(text.includes('Your appeal was filed.'), `appeal: not filed (${text.slice(0, 300)})`);
  check(text.includes('pending') && text.includes('the original action stays in force'), 'appeal: status and effect not shown');
  const appealId = acme.url().split('?')[0].split('/').pop();

  // The official who issued it may not decide the appeal; a different official of bis does.
  await jdoe.goto(`${base}/console/authority/appeals/${appealId}`);
  await jdoe.getByLabel('reversed').check();
  await jdoe.getByLabel('Reasons').fill('I would like to reverse my own directive.');
  await jdoe.getByRole('button', { name: 'Record the decision' }).click();
  text = squash(await jdoe.locator('body').innerText());
  check(text.includes('Not done:') && text.includes('j.doe'), `appeal: the issuing official was not refused (${text.slice(0, 300)})`);

  // 6. A different official reverses it.
  const mlee = await signIn('m.lee@bis');
  text = await pageChecks(mlee, 'queue (m.lee)');
  check(text.includes(appealId), 'queue: the appeal is not listed');
  await mlee.getByRole('link', { name: appealId }).click();
  await mlee.getByLabel('reversed').check();
  await mlee.getByLabel('Reasons').fill('The appellant\'s end users are verified; exempted.');
  await mlee.getByRole('button', { name: 'Record the decision' }).click();
  text = await pageChecks(mlee, 'decided appeal');
  check(text.includes('The appeal was decided.') && text.includes('Decision: reversed'), `appeal: not decided (${text.slice(0, 300)})`);
  await acme.goto(`${base}/portal/appeals/${appealId}`);
  text = await pageChecks(acme, 'customer appeal');
  check(text.includes('Decision: reversed') && text.includes('exempted'), 'customer: the appeal decision is not shown');
  answer = await chat(key);
  check(answer.status === 200, `chat after the reversal: ${answer.status} ${JSON.stringify(answer.body)}`);

  // 7. The register shows all of it, without a login.
  const reader = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await reader.goto(`${base}/register/directives/EC-2026-007`);
  text = squash(await reader.locator('body').innerText());
  check(text.includes('Emergency') && text.includes('Order received at 17:21'), 'register: the emergency and its justification are not shown');
  check(text.includes('Exemptions on appeal 1'), `register: the exemption on appeal is not shown (${text.slice(0, 800)})`);
  check(/reversed/i.test(text), 'register: the appeal outcome is not shown on the directive');
  await reader.goto(`${base}/register/models/frontier`);
  text = squash(await reader.locator('body').innerText());
  check(/Approved 1\b/.test(text), 'register: the approval is not counted');
  check(/Reversed 1\b/.test(text), 'register: the reversed appeal is not counted');
  check(text.includes('EC-2026-007'), 'register: the directive is not listed on the model');

  // Signing out ends the session.
  await acme.getByRole('button', { name: 'Sign out' }).click();
  await acme.goto(`${base}/portal`);
  check(acme.url().includes('/login'), 'sign-out: the portal is still reachable');
} catch (err) {
  failures.push(`could not finish: ${err.stack ?? err}`);
} finally {
  await browser.close();
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL ${failure}`);
  console.error(`story: ${failures.length} failed, ${passed} passed`);
  process.exitCode = 1;
} else {
  console.log(`story: all checks passed (${passed} checks)`);
}
