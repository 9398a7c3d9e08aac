//! Puts memory.x (and device.x: this board's interrupts) where cortex-m-rt's link.x finds them.
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
}
