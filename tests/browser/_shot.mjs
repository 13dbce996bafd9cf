import { chromium } from 'playwright-core';
const [base, path, out] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(base + path);
await page.screenshot({ path: out, fullPage: true });
await browser.close();
