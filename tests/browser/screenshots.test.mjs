// Screenshots of the main pages for the README, 1400×900, into
// docs/screenshots/<page>.png. Only with VORONKA_SCREENSHOTS=1 (skipped
// otherwise, so CI does not rewrite tracked files).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, SITE, launch, open, serve, waitForChartAnimations, waitForCharts } from './lib/site.mjs';

const enabled = process.env.VORONKA_SCREENSHOTS === '1';
const OUT_DIR = process.env.VORONKA_SCREENSHOTS_DIR || join(REPO, 'docs', 'screenshots');

/** Page file -> screenshot name. */
const SHOTS = [
  ['index.html', 'index'],
  ['targeting.html', 'targeting'],
  ['managers.html', 'managers'],
  ['funnel.html', 'funnel'],
  ['tv/index.html', 'tv'],
  ['checks.html', 'checks'],
];

let server;
let context;
before(async () => {
  if (!enabled) return;
  mkdirSync(OUT_DIR, { recursive: true });
  server = await serve();
  context = await launch({ viewport: { width: 1400, height: 900 } });
});
after(async () => {
  await context?.close();
  await server?.close();
});

for (const [rel, name] of SHOTS) {
  test(`screenshot ${name}.png (${rel})`, { skip: !enabled && 'set VORONKA_SCREENSHOTS=1' }, async (t) => {
    if (!existsSync(join(SITE, rel))) {
      t.todo(`${rel} is not in the site yet`);
      return;
    }
    // The TV warns when its data is older than a day; the README shows it
    // as it looks on the morning after the build, not on the day the
    // screenshots happen to be taken (own context: the clock is per context).
    let ctx = context;
    if (rel.startsWith('tv/')) {
      const gen = JSON.parse(readFileSync(join(SITE, 'version.json'), 'utf8')).generated_at;
      const at = Date.parse(`${gen}+03:00`);
      if (!Number.isNaN(at)) {
        ctx = await launch({ viewport: { width: 1400, height: 900 } });
        await ctx.clock.install({ time: at + 9 * 3600_000 });
      }
    }
    const { page } = await open(ctx, `${server.origin}/${rel}`);
    try {
      await waitForCharts(page);
      await waitForChartAnimations(page);
      // No blinking caret or running CSS transitions in the picture.
      await page.addStyleTag({
        content: '*,*::before,*::after{transition:none!important;animation-play-state:paused!important;caret-color:transparent!important}',
      });
      const file = join(OUT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: false, animations: 'disabled' });
      assert.ok(statSync(file).size > 10_000, `${file} looks empty`);
    } finally {
      await page.close();
      if (ctx !== context) await ctx.close();
    }
  });
}
