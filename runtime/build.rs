//! Link flags for the `rootlessrt` binary.
fn main() {
    // 22,000 relative relocations (a PIE Rust binary) cost every start of the
    // runtime a walk over half a megabyte of .rela.dyn; packed (DT_RELR,
    // glibc ≥ 2.36, binutils ≥ 2.38) they take a few kilobytes.
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
