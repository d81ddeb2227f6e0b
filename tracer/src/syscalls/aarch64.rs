//! aarch64 syscall numbers of the trapped set (asm-generic numbering: no chown,
//! lchown, stat, lstat or mknod; glibc uses fchownat / newfstatat / mknodat).
use super::row as r;
use super::{clone_row, creator_row, msg_row};
use super::{
    ArchTable, Entry::*, Exit, Level::*, Row, Sys::*, PASSCRED_ONLY, PEERCRED_ONLY, PRCTL_TRAPPED,
    STATX_BYPASS, XATTRAT_BYPASS,
};

const N: Exit = Exit::None;

pub static ROWS: &[Row] = &[
    r(174, Getuid, Ids, Emulate, N),
    r(175, Geteuid, Ids, Emulate, N),
    r(176, Getgid, Ids, Emulate, N),
    r(177, Getegid, Ids, Emulate, N),
    r(148, Getresuid, Ids, Emulate, N),
    r(150, Getresgid, Ids, Emulate, N),
    r(158, Getgroups, Ids, Emulate, N),
    r(159, Setgroups, Ids, Emulate, N),
    r(146, Setuid, Ids, Emulate, N),
    r(144, Setgid, Ids, Emulate, N),
    r(145, Setreuid, Ids, Emulate, N),
    r(143, Setregid, Ids, Emulate, N),
    r(147, Setresuid, Ids, Emulate, N),
    r(149, Setresgid, Ids, Emulate, N),
    r(151, Setfsuid, Ids, Emulate, N),
    r(152, Setfsgid, Ids, Emulate, N),
    r(90, Capget, Ids, Emulate, N),
    r(91, Capset, Ids, Emulate, N),
    Row {
        nr: 167,
        sys: Prctl,
        level: Ids,
        entry: Emulate,
        exit: N,
        only_arg0: PRCTL_TRAPPED,
        bypass: None,
        only_bits: None,
        only_eq: &[],
    },
    r(55, Fchown, Ids, DoItself, N),
    r(54, Fchownat, Ids, DoItself, N),
    r(33, Mknodat, Ids, Rewrite, Exit::Record),
    r(80, Fstat, Full, Answer, N),
    r(79, Newfstatat, Full, Answer, N),
    Row {
        bypass: STATX_BYPASS,
        ..r(291, Statx, Full, Answer, N)
    },
    r(11, Listxattr, Full, DoItself, N),
    r(12, Llistxattr, Full, DoItself, N),
    r(13, Flistxattr, Full, DoItself, N),
    r(8, Getxattr, Full, Filter, N),
    r(9, Lgetxattr, Full, Filter, N),
    r(10, Fgetxattr, Full, Filter, N),
    r(5, Setxattr, Full, Filter, N),
    r(6, Lsetxattr, Full, Filter, N),
    r(7, Fsetxattr, Full, Filter, N),
    r(14, Removexattr, Full, Filter, N),
    r(15, Lremovexattr, Full, Filter, N),
    r(16, Fremovexattr, Full, Filter, N),
    // The *xattrat calls of Linux 6.13: one number on every architecture.
    r(463, Setxattrat, Full, Filter, N),
    Row {
        bypass: XATTRAT_BYPASS,
        ..r(464, Getxattrat, Full, Filter, N)
    },
    r(465, Listxattrat, Full, DoItself, N),
    r(466, Removexattrat, Full, Filter, N),
    r(277, SeccompInstall, Ids, Note, N),
    r(51, RootChange, Ids, Note, N),  // chroot
    r(41, RootChange, Ids, Note, N),  // pivot_root
    r(97, RootChange, Ids, Note, N),  // unshare
    r(268, RootChange, Ids, Note, N), // setns
    clone_row(220),
    creator_row(56, Openat, Some(2)),
    creator_row(437, Openat2, None),
    creator_row(34, Mkdirat, None),
    creator_row(36, Symlinkat, None),
    creator_row(200, Bind, None),
    Row {
        only_eq: PEERCRED_ONLY,
        ..r(209, Getsockopt, Ids, Emulate, N)
    },
    Row {
        only_eq: PASSCRED_ONLY,
        ..r(208, Setsockopt, Ids, Note, N)
    },
    msg_row(211, Sendmsg, Sender),
    msg_row(269, Sendmmsg, Sender),
    msg_row(212, Recvmsg, Receiver),
    msg_row(243, Recvmmsg, Receiver),
];

/// arm32 (compat) numbers of the same calls: ENOSYS.
pub static ARM32_ENOSYS: &[u32] = &[
    23, 24, 46, 47, 49, 50, 70, 71, 80, 81, 164, 165, 170, 171, 138, 139, 182, 16, 95, 198, 199,
    200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 325, 184,
    185, 172, 14, 324, 106, 107, 108, 195, 196, 197, 327, 397,
];

pub static TABLE: ArchTable = ArchTable {
    audit_arch: 0xc000_00b7, // AUDIT_ARCH_AARCH64
    rows: ROWS,
    compat_arch: 0x4000_0028, // AUDIT_ARCH_ARM
    compat_enosys: ARM32_ENOSYS,
    x32_bit: 0,
    io_uring_setup: 425,
    clone3: 435,
    compat_clone: (120, 435),
    exec: &[221, 281],
    execveat: 281,
};
