// axe-core on every page of the built site, after its charts are drawn:
// 0 violations. Failures list each rule, its impact and the offending nodes.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { htmlPages, launch, open, serve, waitForCharts } from './lib/site.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

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

function describeViolations(rel, violations) {
  const lines = [`${violations.length} axe violation(s) on ${rel}:`];
  for (const v of violations) {
    lines.push(`  • [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`);
    for (const node of v.nodes.slice(0, 8)) {
      lines.push(`      at ${node.target.join(' ')}`);
      lines.push(`         ${node.html.replace(/\s+/g, ' ').slice(0, 200)}`);
      const why = (node.failureSummary || '').split('\n').map((s) => s.trim()).filter(Boolean);
      for (const w of why.slice(0, 4)) lines.push(`         ${w}`);
    }
    if (v.nodes.length > 8) lines.push(`      … and ${v.nodes.length - 8} more node(s)`);
  }
  return lines.join('\n');
}

for (const rel of pages) {
  test(`axe: ${rel} has no accessibility violations`, async () => {
    const { page } = await open(context, `${server.origin}/${rel}`);
    try {
      await waitForCharts(page);
      // Injected through the DevTools protocol: not a network request, and
      // unaffected by the page's Content-Security-Policy.
      await page.evaluate(AXE_SOURCE);
      const results = await page.evaluate(() =>
        window.axe.run(document, { resultTypes: ['violations'] }),
      );
      const violations = results.violations;
      assert.equal(violations.length, 0, describeViolations(rel, violations));
    } finally {
      await page.close();
    }
  });
}
