// The office TV page (`tv/index.html`) polls `version.json` and reloads
// itself when a new build is published.
//
// The test opens `tv/index.html?poll=1` (the page accepts `poll=<seconds>`
// to shorten its 60 s interval) and expects two polls within a few seconds.
// It measures the interval between two requests of version.json (no reload
// while the file is unchanged), rewrites version.json in the served folder
// and expects a main-frame navigation within one poll interval (plus a
// second of slack). version.json is restored after.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SITE, launch, open, serve } from './lib/site.mjs';

const TV = 'tv/index.html';
const VERSION = join(SITE, 'version.json');
const hasTv = existsSync(join(SITE, TV));
/** How long ?poll=1 gets to show its effect (real time). */
const FAST_POLL_WAIT_MS = 3_500;

let server;
let context;
let original;

before(async () => {
  if (!hasTv) return;
  original = readFileSync(VERSION);
  server = await serve();
  context = await launch({ viewport: { width: 1920, height: 1080 } });
});
after(async () => {
  if (original) writeFileSync(VERSION, original);
  await context?.close();
  await server?.close();
});

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const polls = (since) => server.log.filter((r) => r.path.endsWith('/version.json') && r.at >= since).length;

/** Opens the TV page and returns a driver that waits in steps of real time. */
async function openTv(url) {
  const page = await context.newPage();
  const navigations = [];
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const since = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations.push(Date.now());
  });
  let pageMs = 0;
  const driver = {
    page,
    navigations,
    errors,
    since,
    get pageMs() {
      return pageMs;
    },
    step: 100,
    async advance(ms) {
      await sleep(ms);
      pageMs += ms;
    },
    /** Advances until cond() or `limit` ms of page time; page ms taken or -1. */
    async until(cond, limit) {
      const from = pageMs;
      while (!cond()) {
        if (pageMs - from >= limit) return -1;
        await driver.advance(driver.step);
      }
      return pageMs - from;
    },
  };
  return driver;
}

test('TV page reloads when version.json changes', { timeout: 120_000 }, async (t) => {
  if (!hasTv) {
    t.todo(`${TV} is not in the site yet`);
    return;
  }
  const url = `${server.origin}/${TV}?poll=1`;
  const tv = await openTv(url);
  try {
    const fast = await tv.until(() => polls(tv.since) >= 2, FAST_POLL_WAIT_MS);
    assert.ok(
      fast >= 0,
      `${TV} ignores ?poll=1 (fewer than 2 polls of version.json in ${FAST_POLL_WAIT_MS} ms): ` +
        'the TV page should accept ?poll=<seconds>',
    );
    const first = await tv.until(() => polls(tv.since) >= 1, 5_000);
    assert.ok(first >= 0, `${TV} did not request version.json on load`);
    // Interval between two polls, with version.json unchanged.
    const mark = polls(tv.since);
    const interval = await tv.until(() => polls(tv.since) > mark, FAST_POLL_WAIT_MS);
    assert.ok(interval >= 0, `${TV} did not poll version.json again within ${FAST_POLL_WAIT_MS} ms (?poll=1)`);
    await sleep(200);
    assert.deepEqual(tv.navigations, [], 'the TV page reloaded although version.json did not change');

    // Publish a new build: the next poll must reload the page.
    const v = JSON.parse(original.toString('utf8'));
    v.build = `browser-test-${Date.now()}`;
    writeFileSync(VERSION, JSON.stringify(v));
    const limit = interval + 2 * tv.step + 1_000;
    const took = await tv.until(() => tv.navigations.length > 0, limit);
    assert.ok(took >= 0, `${TV} did not reload within ${limit} ms after version.json changed (poll every ${interval} ms)`);
    t.diagnostic(
      `poll interval ${interval} ms (real time, ?poll=1); ` +
        `reloaded ${took} ms after version.json changed`,
    );
    await tv.page.waitForLoadState('load');
    assert.deepEqual(tv.errors, [], 'uncaught exceptions on the TV page');
  } finally {
    await tv.page.close();
  }
});
