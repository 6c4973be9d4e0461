//! Every fuzz target, round-robin: `cargo run --release --manifest-path
//! fuzz/Cargo.toml --bin fuzz_all -- --seconds 60 [--lake DIR]`.

fn main() {
    voronka_fuzz::main_for("all");
}
