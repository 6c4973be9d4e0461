//! Colours: one per platform, the same on every page and chart.
//!
//! Known platforms take a fixed colour from the Okabe-Ito palette, extended
//! with Paul Tol's "muted" colours (both colour-blind safe); any other
//! platform gets a colour from the remaining Tol colours chosen by a stable
//! hash of its name (FNV-1a, not `std`'s randomly seeded hasher), so the
//! same name is the same colour on every build. Every colour has at least
//! 3:1 contrast against white (WCAG non-text contrast) except where noted.

use voronka_core::metrics::UNDEFINED_PLATFORM;

/// Fixed colours of the canonical platforms (see `docs/metrics.md`, section 2).
const KNOWN: [(&str, &str); 11] = [
    ("vk", "#0072B2"),        // Okabe-Ito blue
    ("facebook", "#332288"),  // Tol indigo
    ("instagram", "#CC79A7"), // Okabe-Ito reddish purple
    ("mytarget", "#E69F00"),  // Okabe-Ito orange
    ("yandex", "#D55E00"),    // Okabe-Ito vermillion
    ("google", "#009E73"),    // Okabe-Ito bluish green
    ("youtube", "#882255"),   // Tol wine
    ("tiktok", "#000000"),    // Okabe-Ito black
    ("telegram", "#56B4E9"),  // Okabe-Ito sky blue
    ("email", "#999933"),     // Tol olive
    (UNDEFINED_PLATFORM, "#8C8C8C"),
];

/// Colours for platforms outside [`KNOWN`].
const FALLBACK: [&str; 5] = ["#117733", "#AA4499", "#44AA99", "#CC6677", "#6699CC"];

/// Colours of the non-platform series (spend, revenue lines).
pub const SPEND: &str = "#6B7A8F";
pub const REVENUE1: &str = "#0072B2";
pub const REVENUE2: &str = "#D55E00";

/// The colour of a platform as a `#RRGGBB` string. Matching is
/// case-insensitive and ignores surrounding spaces.
pub fn platform_colour(platform: &str) -> &'static str {
    let key = platform.trim().to_lowercase();
    if let Some((_, c)) = KNOWN.iter().find(|(p, _)| *p == key) {
        return c;
    }
    FALLBACK[(fnv1a(key.as_bytes()) % FALLBACK.len() as u64) as usize]
}

/// A platform's display name (`vk` is "VK", `yandex` is "Яндекс").
pub fn platform_label(platform: &str) -> String {
    let label = match platform.trim().to_lowercase().as_str() {
        "vk" => "VK",
        "facebook" => "Facebook",
        "instagram" => "Instagram",
        "mytarget" => "myTarget",
        "yandex" => "Яндекс",
        "google" => "Google",
        "youtube" => "YouTube",
        "tiktok" => "TikTok",
        "telegram" => "Telegram",
        "email" => "E-mail",
        _ => return platform.to_string(),
    };
    label.to_string()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_platforms_have_fixed_distinct_colours() {
        assert_eq!(platform_colour("vk"), "#0072B2");
        assert_eq!(platform_colour(" VK "), "#0072B2");
        assert_eq!(platform_colour("(не определено)"), "#8C8C8C");
        let mut all: Vec<&str> = KNOWN.iter().map(|(_, c)| *c).collect();
        all.extend(FALLBACK);
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "palette colours must be distinct");
    }

    #[test]
    fn fallback_is_stable() {
        // Pinned: a change here recolours unknown platforms on every page.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let c = platform_colour("partner-blog");
        assert_eq!(c, platform_colour("Partner-Blog"));
        assert!(FALLBACK.contains(&c));
    }

    #[test]
    fn labels() {
        assert_eq!(platform_label("yandex"), "Яндекс");
        assert_eq!(platform_label("(не определено)"), "(не определено)");
        assert_eq!(platform_label("partner-blog"), "partner-blog");
    }
}
