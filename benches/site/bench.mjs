// Page weight and Lighthouse scores of every page of a built voronka site.
// A benchmark, not a test: it prints figures and marks the ones over target
// (≤ 400 KB transferred per page, performance and accessibility ≥ 95), and
// exits 0 either way. Usage: node bench.mjs <site-dir> [page.html …]
//
// The site is served on 127.0.0.1 gzip-compressed (level 6, as a CDN
// would), so Lighthouse sees CDN-like transfer sizes. Sizes are summed from
// the requests Lighthouse recorded (HTML, JS, CSS, JSON; fonts/images as
// "other"), each as its gzip size.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const SITE = resolve(process.argv[2] || '');
if (!process.argv[2] || !existsSync(join(SITE, 'index.html'))) {
  console.error('usage: node bench.mjs <site-dir> [page.html …]');
  process.exit(2);
}
const CHROME = process.env.CHROME_PATH || '/usr/bin/chromium';
const LIMIT_KB = 400;
const TARGET_SCORE = 95;
const PRESETS = (process.env.BENCH_PRESETS || 'desktop,mobile').split(',');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.txt', '.svg']);
const gzCache = new Map();
const gz = (file) => {
  if (!gzCache.has(file)) gzCache.set(file, gzipSync(readFileSync(file), { level: 6 }));
  return gzCache.get(file);
};

function fileOf(pathname) {
  let file = resolve(SITE, '.' + decodeURIComponent(pathname));
  if (file !== SITE && !file.startsWith(SITE + sep)) return null;
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
  return existsSync(file) ? file : null;
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const file = fileOf(url.pathname);
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  const ext = extname(file).toLowerCase();
  const headers = {
    'content-type': TYPES[ext] || 'application/octet-stream',
    'cache-control': ext === '.html' || file.endsWith('version.json') ? 'no-cache' : 'public, max-age=3600',
    vary: 'accept-encoding',
  };
  let body;
  if (COMPRESSIBLE.has(ext) && /\bgzip\b/.test(req.headers['accept-encoding'] || '')) {
    body = gz(file);
    headers['content-encoding'] = 'gzip';
  } else {
    body = readFileSync(file);
  }
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(body);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

function htmlPages() {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.html')) out.push(relative(SITE, p).split(sep).join('/'));
    }
  };
  walk(SITE);
  return out;
}

const lighthouseCli = join(here, 'node_modules', 'lighthouse', 'cli', 'index.js');
const CHROME_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
].join(' ');

function lighthouse(url, preset, out) {
  const args = [
    lighthouseCli,
    url,
    '--output=json',
    `--output-path=${out}`,
    '--quiet',
    `--chrome-flags=${CHROME_FLAGS}`,
    '--only-categories=performance,accessibility',
  ];
  if (preset === 'desktop') args.push('--preset=desktop');
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, args, { env: { ...process.env, CHROME_PATH: CHROME }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) =>
      code === 0 ? ok(JSON.parse(readFileSync(out, 'utf8'))) : fail(new Error(`lighthouse ${preset} ${url}: exit ${code}\n${err}`)),
    );
  });
}

const kb = (n) => (n / 1024).toFixed(1);
const score = (s) => (s === null || s === undefined ? '  —' : String(Math.round(s * 100)).padStart(3));
const flag = (ok) => (ok ? ' ' : '!');

const tmp = mkdtempSync(join(tmpdir(), 'voronka-lh-'));
const pages = process.argv.length > 3 ? process.argv.slice(3) : htmlPages();
const rows = [];
try {
  for (const rel of pages) {
    const url = `${origin}/${rel}`;
    const row = { page: rel, scores: {}, metrics: {} };
    let requests = [];
    for (const preset of PRESETS) {
      const t0 = Date.now();
      const lhr = await lighthouse(url, preset, join(tmp, `${preset}.json`));
      row.scores[preset] = {
        performance: lhr.categories.performance?.score,
        accessibility: lhr.categories.accessibility?.score,
      };
      const a = lhr.audits;
      row.metrics[preset] = {
        fcp: a['first-contentful-paint']?.numericValue,
        lcp: a['largest-contentful-paint']?.numericValue,
        tbt: a['total-blocking-time']?.numericValue,
        cls: a['cumulative-layout-shift']?.numericValue,
        bytes: a['total-byte-weight']?.numericValue,
        seconds: (Date.now() - t0) / 1000,
      };
      if (!requests.length) requests = a['network-requests']?.details?.items ?? [];
      if (preset === PRESETS[PRESETS.length - 1]) {
        const failing = Object.values(lhr.categories.accessibility?.auditRefs ?? [])
          .map((r) => a[r.id])
          .filter((x) => x && x.score !== null && x.score < 1 && x.scoreDisplayMode === 'binary')
          .map((x) => x.id);
        row.a11yFailing = failing;
      }
    }
    // gzip sizes of what the page requested from the site, by kind.
    const sizes = { html: 0, js: 0, css: 0, json: 0, other: 0 };
    const seen = new Set();
    for (const r of requests) {
      const u = new URL(r.url);
      if (u.origin !== origin || seen.has(u.pathname)) continue;
      seen.add(u.pathname);
      const file = fileOf(u.pathname);
      if (!file) continue;
      const ext = extname(file).toLowerCase();
      const size = COMPRESSIBLE.has(ext) ? gz(file).length : statSync(file).size;
      const kind = { '.html': 'html', '.js': 'js', '.css': 'css', '.json': 'json' }[ext] || 'other';
      sizes[kind] += size;
      if (/echarts/.test(u.pathname)) row.echarts = size;
    }
    row.sizes = sizes;
    row.total = Object.values(sizes).reduce((a, b) => a + b, 0);
    row.requests = seen.size;
    rows.push(row);
    const s = row.scores;
    console.error(
      `${rel}: ${kb(row.total)} KB gzip; ` +
        PRESETS.map((p) => `${p} perf ${score(s[p].performance)} a11y ${score(s[p].accessibility)}`).join('; '),
    );
  }
} finally {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
}

// ----------------------------------------------------------------- report
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
console.log('');
console.log(`voronka site: transferred size (gzip -6, KB) and Lighthouse 12.2.3 scores; ! = misses target (≤ ${LIMIT_KB} KB, ≥ ${TARGET_SCORE})`);
console.log(
  pad('page', 22) + lpad('html', 7) + lpad('js', 8) + lpad('css', 6) + lpad('json', 8) + lpad('other', 7) + lpad('total', 9) + lpad('req', 5) +
    PRESETS.map((p) => lpad(`${p.slice(0, 4)} perf`, 11) + lpad('a11y', 6)).join(''),
);
for (const r of rows) {
  const over = r.total / 1024 > LIMIT_KB;
  console.log(
    pad(r.page, 22) +
      lpad(kb(r.sizes.html), 7) + lpad(kb(r.sizes.js), 8) + lpad(kb(r.sizes.css), 6) + lpad(kb(r.sizes.json), 8) + lpad(kb(r.sizes.other), 7) +
      lpad(kb(r.total) + flag(!over), 9) + lpad(r.requests, 5) +
      PRESETS.map((p) => {
        const s = r.scores[p];
        return lpad(score(s.performance) + flag(s.performance * 100 >= TARGET_SCORE), 11) +
          lpad(score(s.accessibility) + flag(s.accessibility * 100 >= TARGET_SCORE), 6);
      }).join(''),
  );
}
console.log('');
console.log('metrics (ms): FCP / LCP / TBT, CLS; Lighthouse transfer incl. headers');
for (const r of rows) {
  console.log(
    pad(r.page, 22) +
      PRESETS.map((p) => {
        const m = r.metrics[p];
        return `  ${p}: ${Math.round(m.fcp)} / ${Math.round(m.lcp)} / ${Math.round(m.tbt)}, ${m.cls.toFixed(3)}; ${kb(m.bytes)} KB`;
      }).join(''),
  );
  if (r.a11yFailing?.length) console.log(pad('', 22) + '  accessibility audits failing: ' + r.a11yFailing.join(', '));
}
const ech = rows.find((r) => r.echarts);
if (ech) {
  console.log('');
  console.log(
    `echarts.min.js: ${kb(statSync(join(SITE, 'assets', 'echarts.min.js')).size)} KB raw, ${kb(ech.echarts)} KB gzip ` +
      `(${Math.round((100 * ech.echarts) / ech.total)} % of ${ech.page})`,
  );
}
