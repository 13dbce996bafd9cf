// The public register in a real browser: headless Chromium (Debian's /usr/bin/chromium, or
// $PORTCULLIS_CHROMIUM) driven by playwright-core, with JavaScript disabled, since the register
// must work without it.
//
//   node register.mjs http://127.0.0.1:8080
//
// What the pages show is compared with what the public JSON API says (the same core and logic
// behind both), so this script needs no fixture of its own; it does need a world with an
// emergency directive and a model with at least two criteria versions, and fails if the world
// lacks them rather than check less. Exits 0 when every check passed, 1 with one line per failure.

import { chromium } from 'playwright-core';

// Root in CI needs --no-sandbox; the rest keep Chromium off the (closed) network, where its
// background connections would only be refused.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const base = (process.argv[2] ?? '').replace(/\/$/, '');
if (!/^https?:\/\//.test(base)) {
  console.error('usage: node register.mjs <base-url>   (e.g. http://127.0.0.1:8080)');
  process.exit(2);
}
const executablePath = process.env.PORTCULLIS_CHROMIUM ?? '/usr/bin/chromium';

const failures = [];
let passed = 0;
/** Records a check: `what` names the page and the expectation, for a readable failure. */
function check(ok, what) {
  if (ok) passed += 1;
  else failures.push(what);
}

async function json(path) {
  const response = await fetch(base + path);
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return response.json();
}

/** Whether a row's text is `label value`, optionally followed by a note. */
const shows = (text, label, value) => text === `${label} ${value}` || text.startsWith(`${label} ${value} `);

/** Collapses whitespace, as a reader sees text. */
const squash = (text) => text.replace(/\s+/g, ' ').trim();

const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const visited = new Set();
  const links = new Set();

  /** Opens a page, checks what every page must have, collects its internal links. */
  async function open(path) {
    const response = await page.goto(base + path);
    const where = `${path}`;
    check(response && response.status() === 200, `${where}: answered ${response?.status()}, not 200`);
    check((await page.getAttribute('html', 'lang'))?.length > 0, `${where}: <html> has no lang attribute`);
    check((await page.locator('h1').count()) === 1, `${where}: not exactly one <h1>`);
    check((await page.locator('main').count()) === 1, `${where}: no <main> landmark`);
    check((await page.title()).length > 0, `${where}: no <title>`);
    check((await page.locator('script').count()) === 0, `${where}: has a <script>`);
    for (const table of await page.locator('table').all()) {
      check((await table.locator('caption').count()) === 1, `${where}: a table without a caption`);
    }
    for (const href of await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.href))) {
      const url = new URL(href);
      if (url.origin === new URL(base).origin) links.add(url.pathname + url.search);
    }
    visited.add(path);
    return squash(await page.locator('body').innerText());
  }

  /** The visible text of the table row whose header cell is `name`. */
  async function row(name) {
    const cell = page.locator('tbody th', { hasText: new RegExp(`^\\s*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) });
    if ((await cell.count()) === 0) return '';
    return squash(await cell.first().locator('xpath=..').innerText());
  }

  const { models } = await json('/admin/v1/models');
  const { directives } = await json('/admin/v1/directives');
  const log = await json('/admin/v1/log');

  // The index: every model with its stage, criteria version and decision counts; the verify command.
  const index = await open('/register');
  check(index.includes(log.verify), `/register: the verify command \`${log.verify}\` is not shown`);
  if (log.size > 0) check(index.includes(`Entries ${log.size}`), `/register: the checkpoint size ${log.size} is not shown`);
  for (const model of models) {
    const text = await row(model.name);
    check(text.includes(model.stage), `/register: the row of \`${model.name}\` does not show stage \`${model.stage}\` (${text})`);
    if (model.criteria) {
      check(text.includes(`version ${model.criteria.version}`), `/register: \`${model.name}\` does not show criteria version ${model.criteria.version}`);
    }
    const a = model.statistics.applications;
    const counts = [a.approved, a.denied, a.pending].join(' ');
    check(text.includes(counts), `/register: \`${model.name}\` does not show approved/denied/pending ${counts} (${text})`);
  }

  // Each model: stage, criteria hash, decision and appeal statistics; a diff between versions.
  let diffed = 0;
  for (const model of models) {
    const path = `/register/models/${encodeURIComponent(model.name)}`;
    const text = await open(path);
    check(text.includes(model.stage), `${path}: stage \`${model.stage}\` not shown`);
    const a = model.statistics.applications;
    const p = model.statistics.appeals;
    for (const [label, value] of [['Approved', a.approved], ['Denied', a.denied], ['Pending', a.pending], ['Overdue', a.overdue]]) {
      const shown = await row(label);
      check(shows(shown, label, value), `${path}: "${label}" shows \`${shown}\`, the API says ${value}`);
    }
    for (const [label, value] of [['Upheld (the action stands)', p.upheld], ['Reversed', p.reversed]]) {
      const shown = await row(label);
      check(shows(shown, label, value), `${path}: appeals "${label}" shows \`${shown}\`, the API says ${value}`);
    }
    if (!model.criteria) continue;
    const criteria = await json(`/admin/v1/models/${encodeURIComponent(model.name)}/criteria`);
    check(text.includes(criteria.content_hash), `${path}: criteria hash ${criteria.content_hash} not shown`);
    const cedar = squash(await page.locator('pre.code').first().innerText());
    check(cedar === squash(criteria.policies), `${path}: the Cedar source shown is not the published one`);
    if (criteria.history.length < 2) continue;

    // The newest two versions: lines only in the newer must show as added, only in the older as removed.
    const [older, newer] = criteria.history.slice(-2);
    const entry = await json(`/admin/v1/events/${older.log_index + 1}`);
    const oldPolicies = JSON.parse(entry.entry).event.policies;
    const diffPath = `${path}?diff=${older.version}..${newer.version}`;
    const diffText = await open(diffPath);
    check(diffText.includes(`Changes from version ${older.version} to version ${newer.version}`), `${diffPath}: no changes heading`);
    const lines = (text) => text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    const oldLines = new Set(lines(oldPolicies));
    const newLines = new Set(lines(criteria.policies));
    const added = (await page.locator('table.diff').first().locator('tr.added td code').allInnerTexts()).map((l) => l.trim());
    const removed = (await page.locator('table.diff').first().locator('tr.removed td code').allInnerTexts()).map((l) => l.trim());
    for (const line of newLines) if (!oldLines.has(line)) check(added.includes(line), `${diffPath}: \`${line}\` is not shown as added`);
    for (const line of oldLines) if (!newLines.has(line)) check(removed.includes(line), `${diffPath}: \`${line}\` is not shown as removed`);
    const marks = await page.locator('table.diff tr.added td.mark').first().innerText();
    check(marks.includes('+') && marks.includes('added'), `${diffPath}: an added line is not marked in words ("${marks}")`);
    diffed += 1;
  }
  check(diffed > 0, 'the world has no model with two criteria versions, so no diff was checked');

  // Directives: the list, and each page with issuer, legal basis and (for emergencies) the flag and justification.
  await open('/register/directives');
  let emergencies = 0;
  for (const directive of directives) {
    const listed = await row(directive.id);
    check(listed.length > 0, `/register/directives: \`${directive.id}\` is not listed`);
    if (directive.emergency) {
      check(listed.includes('Emergency'), `/register/directives: \`${directive.id}\` is not flagged as an emergency (${listed})`);
    }
  }
  for (const directive of directives) {
    const path = `/register/directives/${encodeURIComponent(directive.id)}`;
    const text = await open(path);
    check(text.includes(directive.issuer) && text.includes(directive.legal_basis), `${path}: issuer or legal basis not shown`);
    check(text.includes(directive.status.replace('_', ' ')), `${path}: status \`${directive.status}\` not shown`);
    if (directive.emergency) {
      emergencies += 1;
      const callout = squash(await page.locator('.callout.emergency').innerText());
      check(callout.includes('Emergency: no notice period'), `${path}: the emergency is not flagged in words`);
      check(callout.includes(directive.emergency_justification), `${path}: the justification "${directive.emergency_justification}" is not shown`);
    }
    for (const item of directive.evidence) {
      if (item.disclosure === 'public') {
        check((await page.locator(`a[href="/register/evidence/${item.sha256}"]`).count()) === 1, `${path}: no link to public evidence ${item.sha256}`);
      } else if (item.disclosure === 'withheld') {
        check(text.includes(`Withheld: ${item.reason}`), `${path}: the reason "${item.reason}" for withholding is not shown`);
      }
    }
  }
  check(emergencies > 0, 'the world has no emergency directive, so the flag was not checked');

  // One log entry page, then every internal link found on the pages is fetched: none may be broken.
  if (log.size > 0) await open(`/register/entries/${log.size - 1}`);
  let checkedLinks = 0;
  for (const link of links) {
    const response = await context.request.get(base + link, { maxRedirects: 0 });
    check(response.status() === 200, `broken link ${link}: ${response.status()}`);
    checkedLinks += 1;
  }

  if (failures.length > 0) {
    for (const failure of failures) console.error(`FAIL ${failure}`);
    console.error(`register: ${failures.length} failed, ${passed} passed`);
    process.exitCode = 1;
  } else {
    console.log(`register: all checks passed (${passed} checks, ${visited.size} pages, ${checkedLinks} links)`);
  }
} catch (err) {
  console.error(`register: could not finish: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
