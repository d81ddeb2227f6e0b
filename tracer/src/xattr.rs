//! The `user.rootlesscontainers` extended attribute (umoci's format); the
//! codec lives in crates/fakeowner, shared with the in-process stat shim.
pub use fakeowner::xattr::*;
