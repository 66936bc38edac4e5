//! The default ruleset is embedded in the binary (`src/rules.rs`, include_dir); cargo
//! must rebuild it when any file under `rules/` changes, which include_dir alone cannot
//! tell it on stable Rust.

fn main() {
    println!("cargo:rerun-if-changed=../../rules");
    println!("cargo:rerun-if-changed=build.rs");
}
