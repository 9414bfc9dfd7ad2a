// SPDX-License-Identifier: ISC
/*
 * Headless Chromium for the integration tests, driven by playwright-core
 * (no browser download: Debian's /usr/bin/chromium, or $CHROMIUM).
 *   node browser.js URL PROFILE-DIR TIMEOUT-MS [SPKI-SHA256-BASE64]
 * Loads URL in a fresh profile, waits until the page's #result has
 * data-state="done", and prints the text of #result and of #messages as one
 * JSON line {result, messages}.  With SPKI, Chromium accepts a certificate
 * whose public key hashes to it (the test server's key) and still rejects
 * any other certificate error.  The browser is closed on every path; exit 1
 * if the page did not finish in time.
 */
'use strict';

const { chromium } = require('playwright-core');

async function main() {
	const [url, profile, ms, spki] = process.argv.slice(2);
	const args = ['--no-first-run', '--disable-gpu',
	    '--disable-dev-shm-usage', '--disable-breakpad',
	    '--disable-crash-reporter'];
	if (spki)
		args.push(`--ignore-certificate-errors-spki-list=${spki}`);
	const ctx = await chromium.launchPersistentContext(profile, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args,
		timeout: +ms,
	});
	let code = 0;
	try {
		const page = ctx.pages()[0] || await ctx.newPage();
		const console_ = [];
		page.on('console', (m) => console_.push(m.text()));
		page.on('pageerror', (e) => console_.push(String(e)));
		await page.goto(url, { timeout: +ms });
		try {
			await page.waitForSelector(
			    '#result[data-state="done"]', { timeout: +ms,
			    state: 'attached' });
		} catch (e) {
			code = 1;
		}
		const result = await page.textContent('#result');
		const messages = await page.$$eval('#messages li',
		    (l) => l.map((x) => x.textContent));
		process.stdout.write(JSON.stringify({ done: code === 0,
		    result: result ? JSON.parse(result) : null, messages,
		    console: console_ }) + '\n');
	} finally {
		await ctx.close();
	}
	return code;
}

main().then((c) => process.exit(c), (e) => {
	process.stderr.write(`browser.js: ${e.stack || e}\n`);
	process.exit(2);
});
