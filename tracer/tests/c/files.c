// Ownership: chown family, stat family, xattr hiding, mknod placeholders.
// Run in an empty directory.
#include "common.h"
#include <sys/sysmacros.h>
#include <sys/xattr.h>

static int owner_statx(int dirfd, const char *p, int flags, uid_t *u, gid_t *g) {
    struct statx sx;
    if (statx(dirfd, p, flags, STATX_UID | STATX_GID, &sx) != 0) return -1;
    *u = sx.stx_uid;
    *g = sx.stx_gid;
    return 0;
}
static int owner_at(int dirfd, const char *p, int flags, uid_t *u, gid_t *g) {
    struct stat st;
    if (fstatat(dirfd, p, &st, flags) != 0) return -1;
    *u = st.st_uid;
    *g = st.st_gid;
    return 0;
}

int main(void) {
    uid_t u = 1;
    gid_t g = 1;
    struct stat st;
    int fd = open("f", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0, "create");
    CHECK(chown("f", 42, 42) == 0, "chown 42:42");
    CHECK(owner_statx(AT_FDCWD, "f", 0, &u, &g) == 0 && u == 42 && g == 42, "statx %d:%d", u, g);
    CHECK(owner_at(AT_FDCWD, "f", 0, &u, &g) == 0 && u == 42 && g == 42, "newfstatat %d:%d", u, g);
    CHECK(stat("f", &st) == 0 && st.st_uid == 42, "stat");
    CHECK(lstat("f", &st) == 0 && st.st_uid == 42, "lstat");
    CHECK(fstat(fd, &st) == 0 && st.st_uid == 42 && st.st_gid == 42, "fstat");
    CHECK(syscall(SYS_fstat, fd, &st) == 0 && st.st_uid == 42, "raw fstat");
    CHECK(owner_at(fd, "", AT_EMPTY_PATH, &u, &g) == 0 && u == 42, "AT_EMPTY_PATH");
    CHECK(owner_statx(fd, "", AT_EMPTY_PATH, &u, &g) == 0 && u == 42, "statx AT_EMPTY_PATH");
    // statx mask without UID/GID: values untouched (real owner 0)
    struct statx sx;
    CHECK(statx(AT_FDCWD, "f", 0, STATX_SIZE, &sx) == 0, "statx size");
    // fchown + chown :7 keeps uid
    CHECK(fchown(fd, -1, 7) == 0 && fstat(fd, &st) == 0 && st.st_uid == 42 && st.st_gid == 7, "fchown :7 -> %d:%d",
          st.st_uid, st.st_gid);
    CHECK(chown("f", 43, -1) == 0 && stat("f", &st) == 0 && st.st_uid == 43 && st.st_gid == 7, "chown 43: -> %d:%d",
          st.st_uid, st.st_gid);
    CHECK(chown("f", 42, 42) == 0, "chown back 42:42");
    // relative paths and dirfds
    CHECK(mkdir("d", 0755) == 0, "mkdir");
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    CHECK(close(open("d/g", O_CREAT | O_WRONLY, 0600)) == 0, "create d/g");
    CHECK(fchownat(dfd, "g", 5, 6, 0) == 0, "fchownat dirfd");
    CHECK(owner_at(dfd, "g", 0, &u, &g) == 0 && u == 5 && g == 6, "fstatat dirfd %d:%d", u, g);
    CHECK(chdir("d") == 0 && owner_statx(AT_FDCWD, "../d/./g", 0, &u, &g) == 0 && u == 5 && g == 6, "relative %d:%d",
          u, g);
    CHECK(chdir("..") == 0, "chdir back");
    CHECK(owner_at(AT_FDCWD, "d/g", 0, &u, &g) == 0 && u == 5, "d/g from cwd");
    errno = 0;
    CHECK(fstatat(12345, "g", &st, 0) == -1 && errno == EBADF, "bad dirfd EBADF");
    errno = 0;
    CHECK(stat("nonexistent", &st) == -1 && errno == ENOENT, "ENOENT");
    errno = 0;
    CHECK(chown("nonexistent", 1, 1) == -1 && errno == ENOENT, "chown ENOENT");
    errno = 0;
    CHECK(stat("f", (void *)8) == -1 && errno == EFAULT, "stat bad buf");
    errno = 0;
    CHECK(stat((void *)8, &st) == -1 && errno == EFAULT, "stat bad path");
    errno = 0;
    CHECK(chown((void *)8, 1, 1) == -1 && errno == EFAULT, "chown bad path");
    errno = 0;
    CHECK(syscall(SYS_statx, AT_FDCWD, "f", 0, STATX_UID, (void *)8) == -1 && errno == EFAULT, "statx bad buf");
    // symlinks: lchown kept in memory
    CHECK(symlink("f", "l") == 0 && lchown("l", 9, 9) == 0, "lchown");
    CHECK(lstat("l", &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid == 9 && st.st_gid == 9, "lstat symlink %d:%d",
          st.st_uid, st.st_gid);
    CHECK(stat("l", &st) == 0 && st.st_uid == 42, "stat through symlink %d", st.st_uid);
    // chown clears S_ISUID, and S_ISGID only with S_IXGRP
    CHECK(close(open("s", O_CREAT | O_WRONLY, 0755)) == 0 && chmod("s", 06755) == 0, "suid file");
    CHECK(chown("s", 1, 1) == 0 && stat("s", &st) == 0 && (st.st_mode & 07777) == 0755, "suid/sgid cleared: %o",
          st.st_mode & 07777);
    CHECK(chmod("s", 06745) == 0 && chown("s", 2, 2) == 0 && stat("s", &st) == 0 && (st.st_mode & 07777) == 02745,
          "sgid kept without g+x: %o", st.st_mode & 07777);
    // mknod: device placeholder stats as a device with its rdev
    CHECK(mknod("null", S_IFCHR | 0666, makedev(1, 3)) == 0, "mknod");
    CHECK(stat("null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
          "mknod stat mode %o rdev %lx", st.st_mode, (unsigned long)st.st_rdev);
    CHECK(statx(AT_FDCWD, "null", 0, STATX_BASIC_STATS, &sx) == 0 && S_ISCHR(sx.stx_mode) && sx.stx_rdev_major == 1 &&
              sx.stx_rdev_minor == 3,
          "mknod statx");
    CHECK(mknodat(AT_FDCWD, "blk", S_IFBLK | 0600, makedev(8, 1)) == 0 && stat("blk", &st) == 0 && S_ISBLK(st.st_mode) &&
              st.st_rdev == makedev(8, 1),
          "mknodat blk");
    CHECK(mknod("fifo", S_IFIFO | 0600, 0) == 0 && stat("fifo", &st) == 0 && S_ISFIFO(st.st_mode), "fifo native");
    // xattr hidden
    char list[256];
    ssize_t n = listxattr("f", list, sizeof list);
    CHECK(n == 0, "listxattr hides ours: %zd", n);
    CHECK(listxattr("f", NULL, 0) == 0, "listxattr size probe");
    CHECK(setxattr("f", "user.other", "v", 1, 0) == 0, "setxattr other");
    n = listxattr("f", list, sizeof list);
    CHECK(n == 11 && strcmp(list, "user.other") == 0, "listxattr other only: %zd", n);
    n = flistxattr(fd, list, sizeof list);
    CHECK(n == 11, "flistxattr %zd", n);
    errno = 0;
    CHECK(getxattr("f", "user.rootlesscontainers", list, sizeof list) == -1 && errno == ENODATA, "getxattr hidden");
    errno = 0;
    CHECK(setxattr("f", "user.rootlesscontainers", "\x08\x01", 2, 0) == -1 && errno == EPERM, "setxattr refused");
    errno = 0;
    CHECK(removexattr("f", "user.rootlesscontainers") == -1 && errno == ENODATA, "removexattr refused");
    CHECK(getxattr("f", "user.other", list, sizeof list) == 1, "getxattr other");
    CHECK(stat("f", &st) == 0 && st.st_uid == 42, "still 42");
    // 0:0 file for the harness to check absence of the xattr
    CHECK(close(open("z", O_CREAT | O_WRONLY, 0644)) == 0 && chown("z", 3, 3) == 0 && chown("z", 0, 0) == 0 &&
              stat("z", &st) == 0 && st.st_uid == 0,
          "chown 0:0");
    // umoci-written value: prepared by the harness in file "umoci" if present
    if (access("umoci", F_OK) == 0)
        CHECK(stat("umoci", &st) == 0 && st.st_uid == 0 && st.st_gid == 42, "umoci 0:42 -> %d:%d", st.st_uid, st.st_gid);
    DONE();
}
