//! Fuzz target `webhook_normalize` (see `voronka_fuzz::webhook_normalize`): on stable Rust, a
//! random-input loop: `cargo run --release --manifest-path fuzz/Cargo.toml
//! --bin webhook_normalize -- --seconds 60 [--lake DIR]`.

fn main() {
    voronka_fuzz::main_for("webhook_normalize");
}
