//! Link options of the `skiff` binary that keep the resident memory of a
//! running server small (BENCHMARKS.md, "idle RSS"). They change where the
//! linker puts code and how relocations are stored, never what the code does.
//!
//! Release builds on Linux only: debug builds have other symbols and nobody
//! measures their memory. RELR needs LLD, the default linker of Rust on
//! x86_64 Linux since 1.90.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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
}
