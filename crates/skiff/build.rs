//! Link options of the `skiff` binary that keep the resident memory of a
//! running server small (BENCHMARKS.md, "idle RSS"). They change where the
//! linker puts code and how relocations are stored, never what the code does.
//!
//! Release builds on Linux only: debug builds have other symbols and nobody
//! measures their memory. Both options need LLD, the default linker of Rust on
//! x86_64 Linux since 1.90.

use std::hash::{Hash, Hasher};
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !release || !linux {
        return;
    }

    // The binary is position independent, so the dynamic loader relocates
    // every pointer in its read-only data at start. As RELA records (24 bytes
    // per pointer) that table was 1.7 MB, read whole at every start and then
    // resident; packed RELR records are a few KB. Needs glibc >= 2.36.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");

    // The functions an idle server runs (start, controllers and scheduler
    // syncing, health checks) were spread over the whole 33 MB of `.text`,
    // and the kernel maps 64 KiB around every page fault of a file mapping:
    // 23 MiB of code stayed resident for 6 MiB that ever ran. Placing those
    // functions first keeps them on few pages. `scripts/symbol-order`
    // regenerates the list; a symbol that no longer exists is skipped
    // quietly, so a stale list costs memory, never correctness.
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if let Ok(list) = std::fs::read(&order) {
        // The linker reads the list, but Cargo relinks only when the
        // arguments change: name a copy after its content.
        let mut hasher = std::hash::DefaultHasher::new();
        list.hash(&mut hasher);
        // Cargo always sets OUT_DIR for a build script.
        let out_dir = std::env::var_os("OUT_DIR").unwrap_or_default();
        let copy = Path::new(&out_dir).join(format!("symbol-order-{:016x}.txt", hasher.finish()));
        if let Err(e) = std::fs::write(&copy, &list) {
            panic!("failed to write {}: {e}", copy.display());
        }
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            copy.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
