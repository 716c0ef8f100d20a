//! Declares the `loom` cfg, under which the pool's locked core is built on loom's types for the
//! model checks (`make loom`), so `--cfg loom` is an expected cfg and not a warning.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
