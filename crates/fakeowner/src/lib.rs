//! How rootlessrt keeps fake ownership where more than one process reads it:
//! the xattr format on disk, and the contract between the tracer and the
//! in-process stat shim (`crates/statshim`), which answers the stat family
//! inside the workload without a round trip to the tracer.
//!
//! `no_std` and free of dependencies, because the shim is built from this
//! source straight by rustc (see tracer/build.rs) as a tiny preload library.
#![cfg_attr(not(test), no_std)]

pub mod creds;
pub mod xattr;

/// What the tracer publishes for the shim, and how the shim gets past the
/// tracer's seccomp filter.
pub mod shim {
    /// The directory, on the container's own /dev tmpfs, that holds both files.
    pub const DIR: &str = "/dev/.rootlessrt";
    /// The preload library (`LD_PRELOAD`).
    pub const LIB: &str = "/dev/.rootlessrt/statshim.so";
    /// [`LIB`], NUL-terminated.
    pub const LIB_C: &[u8] = b"/dev/.rootlessrt/statshim.so\0";
    /// The owners map: a bit per (device, inode) hash, set by the tracer for
    /// every inode whose fake view is not fully on disk (owners of symlinks,
    /// inodes whose xattr could not be written, device numbers kept in
    /// memory). The shim leaves those to the tracer.
    pub const MAP: &str = "/dev/.rootlessrt/owners.map";
    /// [`MAP`], NUL-terminated.
    pub const MAP_C: &[u8] = b"/dev/.rootlessrt/owners.map\0";
    /// Size of the owners map in bytes.
    pub const MAP_BYTES: usize = 8192;

    /// A statx mask bit no kernel defines (it ignores unknown bits below
    /// STATX__RESERVED): the tracer's filter lets statx calls with it run
    /// untrapped. Only the shim sets it; a program that did would see the
    /// kernel's owners, which is no more than it can read anyway.
    pub const STATX_BYPASS: u32 = 0x4000_0000;

    /// `usize` bit of getxattrat(2) (Linux 6.13) that the tracer's filter
    /// lets through: the shim passes a 24-byte `struct xattr_args` (a zero
    /// tail is allowed), programs the 16 bytes of XATTR_ARGS_SIZE_VER0.
    pub const XATTRAT_BYPASS: u32 = 0x8;
    /// The `usize` the shim passes.
    pub const XATTRAT_USIZE: usize = 24;

    /// The owners map's bit for an inode.
    pub fn map_bit(dev_major: u32, dev_minor: u32, ino: u64) -> usize {
        let dev = (u64::from(dev_major) << 32) | u64::from(dev_minor);
        let mut h =
            ino.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ dev.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        h ^= h >> 31;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 29;
        (h % (MAP_BYTES as u64 * 8)) as usize
    }

    /// Is the bit for this inode set in `map`?
    pub fn map_has(map: &[u8], dev_major: u32, dev_minor: u32, ino: u64) -> bool {
        let b = map_bit(dev_major, dev_minor, ino);
        map.get(b / 8).is_some_and(|v| v & (1 << (b % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::shim::*;

    #[test]
    fn c_paths_match() {
        assert_eq!(LIB_C, [LIB.as_bytes(), b"\0"].concat());
        assert_eq!(MAP_C, [MAP.as_bytes(), b"\0"].concat());
        assert!(LIB.starts_with(DIR) && MAP.starts_with(DIR));
        assert!(XATTRAT_USIZE as u32 & XATTRAT_BYPASS != 0 && 16 & XATTRAT_BYPASS == 0);
    }

    #[test]
    fn map_bits_spread_and_stay_in_range() {
        let mut seen = [0u8; MAP_BYTES];
        for ino in 0..4096u64 {
            let b = map_bit(8, 1, ino);
            assert!(b < MAP_BYTES * 8);
            seen[b / 8] |= 1 << (b % 8);
        }
        let set: u32 = seen.iter().map(|v| v.count_ones()).sum();
        // 4096 keys into 65536 bits: a handful of collisions at most.
        assert!(set > 3900, "{set}");
        assert!(map_has(&seen, 8, 1, 17));
        assert_ne!(map_bit(8, 1, 5), map_bit(8, 2, 5));
    }
}
