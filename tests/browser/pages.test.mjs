// Every page of the built site loads cleanly and draws its charts:
// no console errors, no failed requests, nothing fetched from another host,
// every chart container holds an ECharts instance with a non-empty surface.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { htmlPages, launch, open, serve, waitForCharts } from './lib/site.mjs';

const pages = htmlPages();
let server;
let context;

before(async () => {
  server = await serve();
  context = await launch();
});
after(async () => {
  await context?.close();
  await server?.close();
});

test('the site has pages', () => {
  assert.ok(pages.includes('index.html'), `index.html missing; found: ${pages.join(', ')}`);
});

for (const rel of pages) {
  describe(rel, () => {
    let page;
    let problems;
    before(async () => {
      context.foreign.length = 0;
      ({ page, problems } = await open(context, `${server.origin}/${rel}`));
      await waitForCharts(page);
      problems.foreign = [...context.foreign];
    });
    after(async () => {
      await page?.close();
    });

    test('loads without console errors or uncaught exceptions', () => {
      assert.deepEqual(
        { console: problems.console, exceptions: problems.pageErrors },
        { console: [], exceptions: [] },
      );
    });

    test('every request succeeds', () => {
      assert.deepEqual({ failed: problems.failed, http: problems.http }, { failed: [], http: [] });
    });

    test('requests nothing from any host but 127.0.0.1', () => {
      const foreign = [
        ...problems.foreign,
        ...problems.requests.filter((u) => {
          const url = new URL(u);
          return !['data:', 'blob:'].includes(url.protocol) && url.hostname !== '127.0.0.1';
        }),
      ];
      assert.deepEqual([...new Set(foreign)], []);
    });

    test('every chart container draws an ECharts chart', async () => {
      const charts = await page.evaluate(() =>
        [...document.querySelectorAll('[data-chart], [data-live-chart], [_echarts_instance_]')].map((el) => {
          const inst = window.echarts ? window.echarts.getInstanceByDom(el) : undefined;
          const canvas = el.querySelector('canvas');
          const svg = el.querySelector('svg');
          const box = el.getBoundingClientRect();
          return {
            id: el.id || el.getAttribute('data-chart') || el.getAttribute('data-live-chart') || el.className,
            instance: Boolean(inst),
            hasSeries: Boolean(inst && (inst.getOption().series || []).length > 0),
            width: Math.round(box.width),
            height: Math.round(box.height),
            surface: canvas
              ? canvas.width > 0 && canvas.height > 0
              : Boolean(svg && svg.querySelectorAll('path, rect, text, circle, polyline').length > 0),
          };
        }),
      );
      const bad = charts.filter(
        (c) => !c.instance || !c.hasSeries || !c.surface || c.width < 50 || c.height < 50,
      );
      assert.deepEqual(bad, [], `charts without a drawn ECharts instance on ${rel}`);
    });
  });
}
