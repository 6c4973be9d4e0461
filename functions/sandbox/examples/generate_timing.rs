//! `cargo run --release -p voronka-sandbox --example generate_timing`:
//! how long the default school takes to generate.

fn main() {
    let spec = voronka_sandbox::SchoolSpec::default();
    let t = std::time::Instant::now();
    let school = voronka_sandbox::generate(&spec);
    let took = t.elapsed();
    let deliveries = voronka_sandbox::tilda_deliveries(&school);
    println!(
        "{} days, scale {}: {:?} ({} registrations, {} deliveries, {} deals, {} orders, {} payments)",
        spec.days,
        spec.scale,
        took,
        school.registrations.len(),
        deliveries.len(),
        school.deals.len(),
        school.orders.len(),
        school.payments.len()
    );
    println!(
        "{} ad rows (TikTok/VK/myTarget/Google), {} webinars, {} viewers, {} GA4 rows, {} Salebot clients, {} Salebot deliveries, {} lost-lead applications",
        school.ad_rows.len(),
        school.webinars.len(),
        school.webinar_viewers.len(),
        school.ga4_rows.len(),
        school.salebot_clients.len(),
        voronka_sandbox::salebot_deliveries(&school).len(),
        school.registrations.iter().filter(|r| r.lost_lead).count()
    );
}
