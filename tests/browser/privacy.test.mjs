// Private manager pages (`m/<token>/index.html`) show only the manager's
// own money; no public page links into `m/`; robots.txt keeps `/m/` out of
// search engines.
//
// "Other managers' money" = every revenue figure of another manager in
// `marts/marts.json` (monthly revenue and forecast, weekly revenue) of at
// least 10 000 ₽ that is not also one of the page owner's own figures,
// searched in the page's HTML, its rendered text and every same-site JSON
// or JS file it downloads (spelled in roubles or kopecks, with any spacing).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  SITE,
  htmlPages,
  isPrivate,
  launch,
  martsJson,
  open,
  readSite,
  rubVariants,
  serve,
  waitForCharts,
} from './lib/site.mjs';

const pages = htmlPages();
const privatePages = pages.filter(isPrivate);
const publicPages = pages.filter((p) => !isPrivate(p));
const marts = martsJson();

const NO_MANAGER = (name) => !name || name.startsWith('(');

/** manager name -> Set of revenue amounts (strings as in marts.json). */
function managerMoney() {
  const money = new Map();
  const add = (name, v) => {
    if (NO_MANAGER(name) || v === null || v === undefined) return;
    if (!money.has(name)) money.set(name, new Set());
    if (Math.abs(Number(v)) >= 10_000) money.get(name).add(String(v));
  };
  for (const row of marts?.managers ?? []) {
    add(row.manager, row.revenue);
    add(row.manager, row.forecast);
  }
  for (const row of marts?.manager_weeks ?? []) add(row.manager, row.revenue);
  return money;
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Finds `amount` spelled as a whole number, not as a piece of a longer one:
 * "2 978 500" matches "2 978 500 ₽", "2 978 500,00" and "2978500.0" but not
 * "12 978 500" or "2 978 500,37".
 */
function findAmount(text, amount) {
  for (const spelled of rubVariants(amount)) {
    const re = new RegExp(escapeRe(spelled), 'g');
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const before = text.slice(Math.max(0, m.index - 2), m.index);
      const after = text.slice(m.index + spelled.length, m.index + spelled.length + 8);
      if (/\d$|\d[\u202f\u00a0 ]$|[,.]$/.test(before)) continue;
      if (/^\d/.test(after) || /^[\u202f\u00a0 ]\d{3}(?!\d)/.test(after)) continue;
      if (/^[,.]\d/.test(after) && !/^[,.]0+(?!\d)/.test(after)) continue;
      return text.slice(Math.max(0, m.index - 60), m.index + spelled.length + 20).replace(/\s+/g, ' ');
    }
  }
  return null;
}

/** The page's manager: the one name in its <title>, <h1> or first <h2>. */
function ownerOf(html, names) {
  const heads = [/<title>([\s\S]*?)<\/title>/i, /<h1[^>]*>([\s\S]*?)<\/h1>/i, /<h2[^>]*>([\s\S]*?)<\/h2>/i]
    .map((re) => re.exec(html)?.[1] ?? '')
    .join(' ');
  const hits = names.filter((n) => heads.includes(n));
  return hits.length === 1 ? hits[0] : null;
}

test('robots.txt disallows /m/', () => {
  assert.ok(existsSync(join(SITE, 'robots.txt')), 'robots.txt is missing');
  // Groups: consecutive User-agent lines followed by rules.
  const lines = readSite('robots.txt')
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  let agents = [];
  let inRules = false;
  let disallowed = false;
  for (const line of lines) {
    const [k, ...rest] = line.split(':');
    const key = k.trim().toLowerCase();
    const value = rest.join(':').trim();
    if (key === 'user-agent') {
      if (inRules) agents = [];
      inRules = false;
      agents.push(value);
    } else {
      inRules = true;
      if (key === 'disallow' && agents.includes('*') && ['/m/', '/m', '/m/*'].includes(value)) {
        disallowed = true;
      }
    }
  }
  assert.ok(disallowed, `robots.txt has no "User-agent: *" group with "Disallow: /m/":\n${lines.join('\n')}`);
});

describe('no public page links to a private m/ page', () => {
  for (const rel of publicPages) {
    test(rel, () => {
      const html = readSite(rel);
      const base = new URL(rel, 'http://127.0.0.1/');
      const bad = [];
      for (const m of html.matchAll(/\b(?:href|src|action|data-href|content)\s*=\s*("([^"]*)"|'([^']*)')/gi)) {
        const raw = m[2] ?? m[3] ?? '';
        let url;
        try {
          url = new URL(raw, base);
        } catch {
          continue;
        }
        if (url.host === '127.0.0.1' && /^\/m(\/|$)/.test(url.pathname)) bad.push(raw);
      }
      // Tokens must not leak as text either (e.g. in a JSON blob).
      for (const p of privatePages) {
        const token = p.split('/')[1];
        if (token && token.length >= 8 && html.includes(token)) bad.push(`token ${token} of ${p}`);
      }
      assert.deepEqual(bad, []);
    });
  }
});

describe('private manager pages show only their own money', () => {
  if (privatePages.length === 0) {
    // Private pages are rendered only when a link secret is configured
    // (the demo configures one).
    test('m/<token>/index.html pages', (t) => t.skip('no link secret configured: the site has no m/ pages'));
    return;
  }
  const money = managerMoney();
  const names = [...money.keys()];
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

  test('marts.json lists the managers', () => {
    assert.ok(marts, 'marts/marts.json not found beside the site');
    assert.ok(names.length >= 2, `managers in marts.json: ${names.join(', ')}`);
  });

  for (const rel of privatePages) {
    test(rel, async () => {
      const html = readSite(rel);
      const owner = ownerOf(html, names);
      assert.ok(owner, `cannot tell whose page ${rel} is: no single manager name in its <title>, <h1> or first <h2>`);

      const { page, problems } = await open(context, `${server.origin}/${rel}`);
      const bodies = [];
      try {
        await waitForCharts(page);
        const text = await page.evaluate(() => document.body.innerText);
        // Same-site data the page downloaded (a JSON with everyone's revenue
        // is a leak even if the page shows only the owner's).
        for (const u of new Set(problems.requests)) {
          const url = new URL(u);
          if (url.hostname !== '127.0.0.1' || /echarts/.test(url.pathname)) continue;
          if (!/\.(json|js)$/.test(url.pathname)) continue;
          const res = await page.request.get(u);
          bodies.push({ where: url.pathname, text: await res.text() });
        }
        const own = money.get(owner);
        const leaks = [];
        for (const [name, amounts] of money) {
          if (name === owner) continue;
          for (const amount of amounts) {
            if (own.has(amount)) continue;
            for (const where of [
              { where: 'HTML', text: html },
              { where: 'rendered text', text },
              ...bodies,
            ]) {
              const ctx = findAmount(where.text, amount);
              if (ctx) leaks.push(`${name}: ${amount} ₽ in ${where.where}: …${ctx}…`);
            }
          }
        }

        // Another manager's name in the same row/item/card as a money figure.
        const others = names.filter((n) => n !== owner);
        const beside = await page.evaluate((others) => {
          const out = [];
          const money = /\d[\d\u202f\u00a0 ]*(,\d+)?[\u00a0 ]?(₽|руб|тыс\.|млн)/;
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            const name = others.find((o) => n.nodeValue.includes(o));
            if (!name) continue;
            const box = n.parentElement.closest('tr, li, .card, dd, p, figure, article') || n.parentElement;
            const t = box.innerText || box.textContent || '';
            if (money.test(t)) out.push(`${name}: "${t.replace(/\s+/g, ' ').slice(0, 160)}"`);
          }
          return out;
        }, others);
        assert.deepEqual(
          [...new Set([...leaks, ...beside])],
          [],
          `${rel} (page of ${owner}) shows other managers' money`,
        );
      } finally {
        await page.close();
      }
    });
  }
});
