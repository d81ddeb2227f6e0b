//! x86_64 syscall numbers of the trapped set.
use super::row as r;
use super::{clone_row, creator_row, msg_row};
use super::{
    ArchTable, Entry::*, Exit, Level::*, Row, Sys::*, PASSCRED_ONLY, PEERCRED_ONLY, PRCTL_TRAPPED,
    STATX_BYPASS, XATTRAT_BYPASS,
};

const N: Exit = Exit::None;

pub static ROWS: &[Row] = &[
    r(102, Getuid, Ids, Emulate, N),
    r(107, Geteuid, Ids, Emulate, N),
    r(104, Getgid, Ids, Emulate, N),
    r(108, Getegid, Ids, Emulate, N),
    r(118, Getresuid, Ids, Emulate, N),
    r(120, Getresgid, Ids, Emulate, N),
    r(115, Getgroups, Ids, Emulate, N),
    r(116, Setgroups, Ids, Emulate, N),
    r(105, Setuid, Ids, Emulate, N),
    r(106, Setgid, Ids, Emulate, N),
    r(113, Setreuid, Ids, Emulate, N),
    r(114, Setregid, Ids, Emulate, N),
    r(117, Setresuid, Ids, Emulate, N),
    r(119, Setresgid, Ids, Emulate, N),
    r(122, Setfsuid, Ids, Emulate, N),
    r(123, Setfsgid, Ids, Emulate, N),
    r(125, Capget, Ids, Emulate, N),
    r(126, Capset, Ids, Emulate, N),
    Row {
        nr: 157,
        sys: Prctl,
        level: Ids,
        entry: Emulate,
        exit: N,
        only_arg0: PRCTL_TRAPPED,
        bypass: None,
        only_bits: None,
        only_eq: &[],
    },
    r(92, Chown, Ids, DoItself, N),
    r(94, Lchown, Ids, DoItself, N),
    r(93, Fchown, Ids, DoItself, N),
    r(260, Fchownat, Ids, DoItself, N),
    r(133, Mknod, Ids, Rewrite, Exit::Record),
    r(259, Mknodat, Ids, Rewrite, Exit::Record),
    r(4, Stat, Full, Answer, N),
    r(6, Lstat, Full, Answer, N),
    r(5, Fstat, Full, Answer, N),
    r(262, Newfstatat, Full, Answer, N),
    Row {
        bypass: STATX_BYPASS,
        ..r(332, Statx, Full, Answer, N)
    },
    r(194, Listxattr, Full, DoItself, N),
    r(195, Llistxattr, Full, DoItself, N),
    r(196, Flistxattr, Full, DoItself, N),
    r(191, Getxattr, Full, Filter, N),
    r(192, Lgetxattr, Full, Filter, N),
    r(193, Fgetxattr, Full, Filter, N),
    r(188, Setxattr, Full, Filter, N),
    r(189, Lsetxattr, Full, Filter, N),
    r(190, Fsetxattr, Full, Filter, N),
    r(197, Removexattr, Full, Filter, N),
    r(198, Lremovexattr, Full, Filter, N),
    r(199, Fremovexattr, Full, Filter, N),
    // The *xattrat calls of Linux 6.13: one number on every architecture.
    r(463, Setxattrat, Full, Filter, N),
    Row {
        bypass: XATTRAT_BYPASS,
        ..r(464, Getxattrat, Full, Filter, N)
    },
    r(465, Listxattrat, Full, DoItself, N),
    r(466, Removexattrat, Full, Filter, N),
    r(317, SeccompInstall, Ids, Note, N),
    r(161, RootChange, Ids, Note, N), // chroot
    r(155, RootChange, Ids, Note, N), // pivot_root
    r(272, RootChange, Ids, Note, N), // unshare
    r(308, RootChange, Ids, Note, N), // setns
    clone_row(56),
    creator_row(2, Open, Some(1)),
    creator_row(85, Creat, None),
    creator_row(257, Openat, Some(2)),
    creator_row(437, Openat2, None),
    creator_row(83, Mkdir, None),
    creator_row(258, Mkdirat, None),
    creator_row(88, Symlink, None),
    creator_row(266, Symlinkat, None),
    creator_row(49, Bind, None),
    Row {
        only_eq: PEERCRED_ONLY,
        ..r(55, Getsockopt, Ids, Emulate, N)
    },
    Row {
        only_eq: PASSCRED_ONLY,
        ..r(54, Setsockopt, Ids, Note, N)
    },
    msg_row(46, Sendmsg, Sender),
    msg_row(307, Sendmmsg, Sender),
    msg_row(47, Recvmsg, Receiver),
    msg_row(299, Recvmmsg, Receiver),
];

/// i386 (`int 0x80`) numbers of the same calls: ENOSYS (16-bit and 32-bit ID calls,
/// chown/stat/mknod families, capget/capset, prctl).
pub static I386_ENOSYS: &[u32] = &[
    // 16-bit ID calls
    23, 24, 46, 47, 49, 50, 70, 71, 80, 81, 164, 165, 170, 171, 138,
    139, // chown16 / lchown16 / fchown16
    182, 16, 95, // 32-bit ID calls
    198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216,
    // fchownat, capget, capset, prctl, mknod, mknodat
    298, 184, 185, 172, 14, 297, // stat family
    18, 28, 84, 106, 107, 108, 195, 196, 197, 300, 383,
];

pub static TABLE: ArchTable = ArchTable {
    audit_arch: 0xc000_003e, // AUDIT_ARCH_X86_64
    rows: ROWS,
    compat_arch: 0x4000_0003, // AUDIT_ARCH_I386
    compat_enosys: I386_ENOSYS,
    x32_bit: 0x4000_0000,
    io_uring_setup: 425,
    clone3: 435,
    compat_clone: (120, 435),
    exec: &[59, 322],
    execveat: 322,
};
