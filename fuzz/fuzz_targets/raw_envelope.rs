//! Fuzz target `raw_envelope` (see `voronka_fuzz::raw_envelope`): on stable Rust, a
//! random-input loop: `cargo run --release --manifest-path fuzz/Cargo.toml
//! --bin raw_envelope -- --seconds 60 [--lake DIR]`.

fn main() {
    voronka_fuzz::main_for("raw_envelope");
}
