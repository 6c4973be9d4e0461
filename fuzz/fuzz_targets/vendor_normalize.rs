//! Fuzz target `vendor_normalize` (see `voronka_fuzz::vendor_normalize`): on stable Rust, a
//! random-input loop: `cargo run --release --manifest-path fuzz/Cargo.toml
//! --bin vendor_normalize -- --seconds 60 [--lake DIR]`.

fn main() {
    voronka_fuzz::main_for("vendor_normalize");
}
