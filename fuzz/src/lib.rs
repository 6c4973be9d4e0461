//! Fuzz targets for voronka's untrusted-input parsers, and a stable-Rust
//! driver for them (this machine has no nightly toolchain, which
//! `cargo fuzz` needs for its sanitizer and coverage flags).
//!
//! Targets (each takes arbitrary bytes and must never panic):
//!
//! - [`vendor_normalize`]: a stored vendor response whose body is the
//!   input, normalized by its connector (every slug, every entity the
//!   seeds cover: the same call `Pipeline::normalize` makes);
//! - [`webhook_normalize`]: a Tilda, Salebot or GetCourse webhook body as
//!   the receiver stores it (`webhook_envelope`), normalized;
//! - [`raw_envelope`]: `RawEnvelope::from_json` on any stored object.
//!
//! The driver ([`run`]) mutates seed inputs with a deterministic PRNG
//! (bit flips, byte and token edits, truncation, splices between seeds),
//! catches panics, and saves each panicking input under `artifacts/`.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use voronka_connectors::{NormalizeContext, RawEnvelope};
use voronka_core::config::AccountConfig;

/// A seed: an envelope (its metadata drives which parser runs) and the
/// body bytes to mutate.
#[derive(Clone)]
pub struct Seed {
    pub name: String,
    pub envelope: RawEnvelope,
    pub body: Vec<u8>,
}

/// Which webhook receiver body handling a webhook seed exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Tilda,
    Salebot,
    Getcourse,
}

fn account() -> AccountConfig {
    AccountConfig {
        id: "main".into(),
        base_url: None,
        credentials: BTreeMap::new(),
        timezone: None,
        currency: Some("RUB".into()),
        spend_multiplier: None,
        lookback_days: None,
        start_date: None,
        options: BTreeMap::new(),
    }
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_460_800, 0).expect("valid instant")
}

/// Normalizes `env` with its body replaced by `body`.
pub fn vendor_normalize(env: &RawEnvelope, body: &[u8]) -> usize {
    let mut env = env.clone();
    let (enc, b) = RawEnvelope::encode_body(body);
    env.body_encoding = enc;
    env.body = b;
    let Some(c) = voronka_connectors::connector(&env.source) else {
        return 0;
    };
    let account = account();
    let ctx = NormalizeContext {
        account: &account,
        school_tz: chrono_tz::Europe::Moscow,
    };
    let n = c.normalize(&env, &ctx);
    n.records.len() + n.rejected.len()
}

/// A webhook body stored as the receiver stores it, then normalized.
pub fn webhook_normalize(hook: Hook, body: &[u8]) -> usize {
    let env = match hook {
        Hook::Tilda => voronka_connectors::tilda::webhook_envelope(
            "main",
            "",
            "application/x-www-form-urlencoded",
            body,
            at(),
            "fuzz",
            1,
        ),
        Hook::Salebot => {
            voronka_connectors::salebot::webhook_envelope("main", body, at(), "fuzz", 1)
        }
        Hook::Getcourse => voronka_connectors::getcourse::webhook_envelope(
            "main",
            "POST",
            "",
            if body.first() == Some(&b'{') {
                "application/json"
            } else {
                "application/x-www-form-urlencoded"
            },
            body,
            at(),
            "fuzz",
            1,
        ),
    };
    let body = env.body_bytes().unwrap_or_default();
    vendor_normalize(&env, &body)
}

/// `RawEnvelope::from_json` on arbitrary bytes.
pub fn raw_envelope(bytes: &[u8]) -> bool {
    RawEnvelope::from_json(bytes).is_ok()
}

/// Every `*.json` envelope under `dir` (e.g. a demo lake's `raw/`).
pub fn envelope_seeds(dir: &Path) -> Vec<Seed> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json")
                && let Ok(bytes) = std::fs::read(&p)
                && let Ok(env) = RawEnvelope::from_json(&bytes)
            {
                let body = env.body_bytes().unwrap_or_default();
                out.push(Seed {
                    name: p.display().to_string(),
                    envelope: env,
                    body,
                });
            }
        }
    }
    out
}

/// Webhook seeds from `fixtures/` (Tilda `*.txt`, Salebot `webhook_*`,
/// GetCourse `webhooks/*`).
pub fn webhook_seeds(fixtures: &Path) -> Vec<(Hook, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |hook: Hook, dir: PathBuf, filter: &dyn Fn(&str) -> bool| {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_file()
                && filter(name)
                && let Ok(b) = std::fs::read(&p)
            {
                out.push((hook, b));
            }
        }
    };
    add(Hook::Tilda, fixtures.join("tilda"), &|n| {
        n.ends_with(".txt")
    });
    add(Hook::Salebot, fixtures.join("salebot"), &|n| {
        n.starts_with("webhook_")
    });
    add(
        Hook::Getcourse,
        fixtures.join("getcourse/webhooks"),
        &|_| true,
    );
    out
}

/// xorshift64*: deterministic, seedable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"false",
    b"0",
    b"-1",
    b"1e309",
    b"\"\"",
    b"[]",
    b"{}",
    b"\"\\u0000\"",
    b"99999999999999999999999",
    b"-0.0000001",
    b"NaN",
    b"\xd0\xb0",
    b"\xff\xfe",
    b"\"2026-13-45\"",
    b"\"2026-02-30 25:61:61\"",
    b"%",
    b"%zz",
    b"&",
    b"=",
    b"\t",
    b"\n",
    b",",
    b"\"",
    b"\\",
];

/// One mutation of `input` (another seed may be spliced in).
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(9) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(16).min(v.len() - i);
                v.drain(i..i + n);
            }
            3 => {
                let i = rng.below(v.len() + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
            4 if !v.is_empty() => {
                // Replace a digit run or a quoted string by a token.
                let i = rng.below(v.len());
                let mut j = i;
                while j < v.len() && (v[j].is_ascii_alphanumeric() || v[j] == b'.' || v[j] == b'-')
                {
                    j += 1;
                }
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..j.max(i + 1).min(v.len()), t.iter().copied());
            }
            5 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            6 if !other.is_empty() => {
                let a = rng.below(other.len());
                let b = a + rng.below(other.len() - a + 1);
                let i = rng.below(v.len() + 1);
                v.splice(i..i, other[a..b].iter().copied());
            }
            7 if !v.is_empty() => {
                // Duplicate a chunk (repeated keys, rows).
                let a = rng.below(v.len());
                let b = a + rng.below((v.len() - a).min(256) + 1);
                let chunk = v[a..b].to_vec();
                v.splice(b..b, chunk);
            }
            _ => {
                let n = rng.below(8);
                for _ in 0..n {
                    v.push(rng.next() as u8);
                }
            }
        }
    }
    v
}

/// A panic found: where, what, and the saved input.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: String,
    pub seed: String,
    pub message: String,
    pub artifact: PathBuf,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub execs: BTreeMap<String, u64>,
    /// Unique by panic message (which starts with the location).
    pub findings: Vec<Finding>,
}

fn save(dir: &Path, target: &str, n: usize, input: &[u8]) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let p = dir.join(format!("{target}-{n}.bin"));
    let _ = std::fs::write(&p, input);
    p
}

/// Runs the selected targets (`all`, `vendor_normalize`,
/// `webhook_normalize`, `raw_envelope`) round-robin for `budget`.
pub fn run(
    target: &str,
    envelopes: &[Seed],
    hooks: &[(Hook, Vec<u8>)],
    budget: Duration,
    seed: u64,
    artifacts: &Path,
) -> Report {
    let last_panic: std::sync::Arc<std::sync::Mutex<String>> = Default::default();
    {
        let last = last_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            *last.lock().unwrap_or_else(|e| e.into_inner()) = format!("{loc}: {msg}");
        }));
    }
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let started = Instant::now();
    let want = |t: &str| target == "all" || target == t;
    let mut i: u64 = 0;
    while started.elapsed() < budget {
        i += 1;
        let mut one = |name: &str, seed_name: String, input: Vec<u8>, f: &dyn Fn(&[u8])| {
            *report.execs.entry(name.to_string()).or_default() += 1;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input)));
            if r.is_err() {
                let message = last_panic.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if !report.findings.iter().any(|x| x.message == message) {
                    let artifact = save(artifacts, name, report.findings.len(), &input);
                    report.findings.push(Finding {
                        target: name.to_string(),
                        seed: seed_name,
                        message,
                        artifact,
                    });
                }
            }
        };
        if want("vendor_normalize") && !envelopes.is_empty() {
            let s = &envelopes[rng.below(envelopes.len())];
            let other = &envelopes[rng.below(envelopes.len())].body;
            let input = if i % 50 == 0 {
                s.body.clone()
            } else {
                mutate(&mut rng, &s.body, other)
            };
            one("vendor_normalize", s.name.clone(), input, &|b| {
                vendor_normalize(&s.envelope, b);
            });
        }
        if want("webhook_normalize") && !hooks.is_empty() {
            let (hook, body) = &hooks[rng.below(hooks.len())];
            let other = &hooks[rng.below(hooks.len())].1;
            let input = mutate(&mut rng, body, other);
            let hook = *hook;
            one("webhook_normalize", format!("{hook:?}"), input, &|b| {
                webhook_normalize(hook, b);
            });
        }
        if want("raw_envelope") && !envelopes.is_empty() {
            let s = &envelopes[rng.below(envelopes.len())];
            let json = s.envelope.to_json();
            let input = mutate(&mut rng, &json, b"");
            one("raw_envelope", s.name.clone(), input, &|b| {
                raw_envelope(b);
            });
        }
    }
    let _ = std::panic::take_hook();
    report
}

/// Command line shared by the binaries: `--seconds N` (60), `--seed N`
/// (1), `--lake DIR` (envelope seeds: every `*.json` under DIR/raw, and
/// under `fixtures/raw`), `--fixtures DIR` (`fixtures`), `--artifacts
/// DIR` (`fuzz/artifacts`). Exits 1 when a panic was found.
pub fn main_for(target: &str) {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixtures = arg("--fixtures")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fixtures"));
    let artifacts = arg("--artifacts")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fuzz/artifacts"));
    let mut envelopes = envelope_seeds(&fixtures.join("raw"));
    if let Some(lake) = arg("--lake") {
        envelopes.extend(envelope_seeds(&Path::new(&lake).join("raw")));
    }
    let hooks = webhook_seeds(&fixtures);
    let mut slugs: BTreeMap<String, usize> = BTreeMap::new();
    for s in &envelopes {
        *slugs
            .entry(format!("{}/{}", s.envelope.source, s.envelope.entity))
            .or_default() += 1;
    }
    eprintln!(
        "fuzz {target}: {} envelope seeds ({} source/entity pairs), {} webhook seeds, {seconds}s, seed {seed}",
        envelopes.len(),
        slugs.len(),
        hooks.len()
    );
    let report = run(
        target,
        &envelopes,
        &hooks,
        Duration::from_secs(seconds),
        seed,
        &artifacts,
    );
    for (t, n) in &report.execs {
        eprintln!("  {t}: {n} inputs");
    }
    if report.findings.is_empty() {
        eprintln!("no panic found");
        return;
    }
    for f in &report.findings {
        eprintln!(
            "PANIC in {} (seed {}): {}\n  input saved to {}",
            f.target,
            f.seed,
            f.message,
            f.artifact.display()
        );
    }
    std::process::exit(1);
}
