//! Renders a site from a `marts.json` (e.g. the demo's) into a folder, to
//! look at the pages: `cargo run -p voronka-site --example render_marts --
//! /tmp/demo-site/marts/marts.json /tmp/site-out [link-secret]`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: render_marts <marts.json> <out-dir> [link-secret]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(input).expect("read marts.json");
    let marts: voronka_core::metrics::Marts = serde_json::from_str(&text).expect("parse marts");
    let stamp = marts.as_of.and_hms_opt(18, 0, 0).expect("time");
    let secret = args.get(3).map(|s| s.as_bytes());
    let files = voronka_site::render_site(&voronka_site::SiteInput {
        marts: &marts,
        title: "Демо-школа",
        generated_at_local: stamp,
        link_secret: secret,
    })
    .expect("render");
    for f in &files {
        let p = std::path::Path::new(out).join(&f.path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, &f.bytes).expect("write");
    }
    if let Some(s) = secret {
        let names: Vec<String> = marts
            .managers
            .iter()
            .map(|r| r.manager.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for (name, link) in voronka_site::manager_links(s, &names) {
            println!("{name}\t{link}");
        }
    }
    println!("{} files", files.len());
}
