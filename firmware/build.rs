//! Puts memory.x (and device.x: this board's interrupts) where cortex-m-rt's link.x finds them,
//! and compiles the vendored micro-ecc (vendor/micro-ecc) for the signature check at install.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    // The board's 32 interrupts all go to the default handler (board.rs: `__INTERRUPTS`);
    // cortex-m-rt's `device` feature includes this file.
    fs::write(out.join("device.x"), "/* every interrupt: DefaultHandler (src/board.rs) */\n")
        .expect("write device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    micro_ecc();
}

/// micro-ecc with secp256k1 only (every other curve compiled out), at the optimisation level
/// chosen for size and speed in ADR 0021, with `uECC_decompress` (the owner key is enrolled
/// compressed).
fn micro_ecc() {
    let dir = "vendor/micro-ecc";
    let mut build = cc::Build::new();
    build.file(format!("{dir}/uECC.c")).include(dir).opt_level_str("s");
    for (name, value) in [
        ("uECC_SUPPORTS_secp160r1", "0"),
        ("uECC_SUPPORTS_secp192r1", "0"),
        ("uECC_SUPPORTS_secp224r1", "0"),
        ("uECC_SUPPORTS_secp256r1", "0"),
        ("uECC_SUPPORTS_secp256k1", "1"),
        ("uECC_OPTIMIZATION_LEVEL", OPTIMIZATION_LEVEL),
        ("uECC_SUPPORT_COMPRESSED_POINT", "1"),
    ] {
        build.define(name, value);
    }
    // Sections per function (the linker keeps only what the image calls), and no loop turned
    // into a call to memset (the image's own is small, `src/mem.rs`, but a call is a call).
    build.flag("-ffunction-sections").flag("-fdata-sections");
    build.flag("-fno-tree-loop-distribute-patterns");
    // r7 is Thumb's frame pointer, and micro-ecc's assembly (levels 3 and up) needs it.
    build.flag("-fomit-frame-pointer");
    build.warnings(false).compile("uecc");
    println!("cargo:rerun-if-changed={dir}");
}

/// micro-ecc's `uECC_OPTIMIZATION_LEVEL` (0 smallest … 3 fastest; 4 equals 3 with one curve):
/// 3 is its ARM assembly, 3.6 M instructions per verification against 6.7 M at 2, for 432 B
/// (ADR 0021, decision 7).
const OPTIMIZATION_LEVEL: &str = "3";
