// Full-page screenshots of the main register pages, for docs/register.md and the README.
//
//   node screenshots.mjs <base-url> <out-dir>
//
// Run by docs/screenshots/make.sh against `portcullis demo`; uses Debian's /usr/bin/chromium (or
// $PORTCULLIS_CHROMIUM) with JavaScript off, as a reader without it would see the pages.

import { chromium } from 'playwright-core';

// Root in CI needs --no-sandbox; the rest keep Chromium off the (closed) network, where its
// background connections would only be refused.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const [baseArg, outDir] = process.argv.slice(2);
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
} finally {
  await browser.close();
}
