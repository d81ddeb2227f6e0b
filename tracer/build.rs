//! Builds the in-process stat shim (crates/statshim) as a small no_std
//! preload library, embedded in the tracer (preload.rs) and written into
//! full-mode containers. rustc is called directly: a cdylib needs
//! `panic=abort`, which cargo cannot set for one package of the workspace.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let crates = manifest.join("../crates");
    let src = crates.join("statshim/src/lib.rs");
    for f in [
        "statshim/src/lib.rs",
        "statshim/src/sys.rs",
        "statshim/src/procfs.rs",
        "fakeowner/src/lib.rs",
        "fakeowner/src/xattr.rs",
        "fakeowner/src/creds.rs",
    ] {
        println!("cargo:rerun-if-changed={}", crates.join(f).display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("statshim.so");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = std::env::var("TARGET").unwrap();
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition",
        "2021",
        "--crate-type",
        "cdylib",
        "--crate-name",
        "statshim",
    ])
    .args(["--cfg", "shim_cdylib", "--target", &target])
    .args([
        "-C",
        "panic=abort",
        "-C",
        "opt-level=2",
        "-C",
        "debuginfo=0",
    ])
    .args(["-C", "strip=debuginfo", "--cap-lints", "warn", "-o"])
    .arg(&out)
    .arg(&src);
    if let Ok(linker) = std::env::var(format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    )) {
        cmd.arg("-C").arg(format!("linker={linker}"));
    } else if std::env::var("HOST").ok().as_deref() != Some(target.as_str()) {
        // Cross (e.g. `cargo check --target aarch64-unknown-linux-gnu`): the
        // host's cc cannot link for the target, but the shim needs no libc,
        // so rustc's own lld can.
        cmd.args(["-C", "linker-flavor=ld.lld", "-C", "linker=rust-lld"]);
    }
    let status = cmd.status().expect("running rustc for the stat shim");
    assert!(
        status.success(),
        "building the stat shim (crates/statshim) failed"
    );
}
