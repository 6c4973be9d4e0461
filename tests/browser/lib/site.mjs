// Shared helpers of the browser tests: the built site, a tiny static server,
// a headless Debian chromium and page-load bookkeeping.
//
// The site comes from VORONKA_SITE (the `site/` folder of
// `voronka demo --out DIR`); .ci/browser.sh builds it and sets it. Without it
// the tests fall back to ./demo/site at the repository root.

import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..', '..');

export const SITE = resolve(process.env.VORONKA_SITE || join(REPO, 'demo', 'site'));
/** The demo's output folder: `marts/marts.json` lives beside `site/`. */
export const OUT = dirname(SITE);

if (!existsSync(join(SITE, 'index.html'))) {
  throw new Error(
    `no built site at ${SITE}: run .ci/browser.sh, or build one with ` +
      '`cargo run -p voronka -- demo --out DIR --days 60` and set VORONKA_SITE=DIR/site',
  );
}

/** Every `.html` file of the built site, as site-relative paths with `/`. */
export function htmlPages() {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        walk(p);
      } else if (name.endsWith('.html')) {
        out.push(relative(SITE, p).split(sep).join('/'));
      }
    }
  };
  walk(SITE);
  return out;
}

/** Private manager pages live under `m/<token>/`. */
export const isPrivate = (page) => page.startsWith('m/');

export function readSite(rel) {
  return readFileSync(join(SITE, rel), 'utf8');
}

// ---------------------------------------------------------------- server

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.webmanifest': 'application/manifest+json',
  '.xml': 'application/xml; charset=utf-8',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/**
 * Serves SITE on 127.0.0.1 (a free port) the way the CDN does: `/` and
 * `dir/` answer with `index.html`, files are read on every request (so a
 * test can rewrite `version.json`), unknown paths are 404.
 * Resolves to { origin, log, close }; `log` lists every request path.
 */
export function serve(root = SITE) {
  const log = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    log.push({ method: req.method, path: url.pathname, at: Date.now() });
    let path;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    let file = resolve(root, '.' + path);
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) {
      file = join(file, 'index.html');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    let body;
    try {
      body = readFileSync(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] || 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      ok({
        origin: `http://127.0.0.1:${port}`,
        log,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

// --------------------------------------------------------------- browser

export const CHROMIUM = process.env.CHROMIUM_PATH || process.env.CHROME_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--lang=ru-RU',
];

export const VIEWPORT = { width: 1400, height: 900 };

/**
 * Headless chromium with a fresh, empty user-data-dir (removed on close).
 * Returns a BrowserContext; every request to a host other than 127.0.0.1 is
 * recorded in `context.foreign` and aborted, so nothing leaves the machine.
 */
export async function launch({ viewport = VIEWPORT } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'voronka-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    locale: 'ru-RU',
    timezoneId: 'Europe/Moscow',
    serviceWorkers: 'block',
  });
  context.foreign = [];
  await context.route(
    (url) => url.protocol !== 'data:' && url.protocol !== 'blob:' && url.hostname !== '127.0.0.1',
    (route) => {
      context.foreign.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/**
 * Opens `url` in a new tab and records what went wrong while it loaded:
 * console errors, uncaught exceptions, failed requests and HTTP errors.
 */
export async function open(context, url, { settle = 300 } = {}) {
  const page = await context.newPage();
  const problems = { console: [], pageErrors: [], failed: [], http: [], requests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      problems.console.push(`${msg.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (err) => problems.pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on('request', (req) => problems.requests.push(req.url()));
  page.on('requestfailed', (req) =>
    problems.failed.push(`${req.method()} ${req.url()}: ${req.failure() ? req.failure().errorText : '?'}`),
  );
  page.on('response', (res) => {
    if (res.status() >= 400) {
      problems.http.push(`${res.status()} ${res.request().method()} ${res.url()}`);
    }
  });
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  await page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => {});
  if (settle) {
    await page.waitForTimeout(settle);
  }
  return { page, problems };
}

/** Chart containers: static charts (embedded options) and live ones (drawn from data/*.json). */
export const CHART_SELECTOR = '[data-chart], [data-live-chart], [_echarts_instance_]';

/** Waits until every chart container holds a drawn ECharts instance. */
export async function waitForCharts(page, timeout = 10_000) {
  await page
    .waitForFunction(
      (sel) => {
        const els = [...document.querySelectorAll(sel)];
        if (els.length === 0) return true;
        if (!window.echarts) return false;
        return els.every((el) => {
          const inst = window.echarts.getInstanceByDom(el);
          const surface = el.querySelector('canvas, svg');
          return inst && surface;
        });
      },
      CHART_SELECTOR,
      { timeout },
    )
    .catch(() => {});
}

/** Waits for the charts' entry animations to finish (max `timeout`). */
export async function waitForChartAnimations(page, timeout = 3_000) {
  await page.evaluate(async (timeout) => {
    if (!window.echarts) return;
    const els = [...document.querySelectorAll('[data-chart], [data-live-chart], [_echarts_instance_]')];
    const done = els
      .map((el) => window.echarts.getInstanceByDom(el))
      .filter(Boolean)
      .map((chart) => new Promise((ok) => {
        chart.on('finished', ok);
      }));
    await Promise.race([Promise.all(done), new Promise((ok) => setTimeout(ok, timeout))]);
  }, timeout);
  await page.waitForTimeout(150);
}

// ------------------------------------------------------ Russian numbers

const NNBSP = '\u202f';

/** 2978500 -> "2 978 500" with narrow no-break spaces (as voronka_site::format). */
export function groupRu(intDigits) {
  return intDigits.replace(/\B(?=(\d{3})+(?!\d))/g, NNBSP);
}

/**
 * The Russian spellings of a money amount a page could show: roubles
 * ("2 978 500") and kopecks ("2 978 500,00"), each also with a plain space,
 * a no-break space or no separator, and as a JSON number, since the point
 * is to find the figure whatever the template's spacing.
 */
export function rubVariants(value) {
  const n = Number(value);
  const out = new Set();
  const rub = Math.round(n);
  const [i, f] = Math.abs(n).toFixed(2).split('.');
  for (const s of [NNBSP, '\u00a0', ' ', '']) {
    const g = (d) => d.replace(/\B(?=(\d{3})+(?!\d))/g, s);
    out.add(g(String(Math.abs(rub))));
    out.add(`${g(i)},${f}`);
  }
  // As a JSON file or chart option would carry it.
  out.add(`${i}.${f}`);
  out.add(String(value).replace(/^-/, ''));
  return [...out];
}

export function martsJson() {
  const p = join(OUT, 'marts', 'marts.json');
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : null;
}
