/* POSIX ACLs naming unmapped IDs (tracer/src/acl.rs), at the syscall level.
 * Run in an empty work directory under `rlrt-fakeroot` (full mode). */
#include "common.h"
#include <sys/wait.h>
#include <sys/xattr.h>

#define ACCESS "system.posix_acl_access"
#define DEFAULT "system.posix_acl_default"
#define PRIVATE "user.rootlessrt.acl_access"
#define U 0xffffffffu

struct ent { unsigned short tag, perm; unsigned id; };
struct acl { unsigned version; struct ent e[8]; };

static size_t mk(struct acl *a, const struct ent *e, int n) {
    a->version = 2;
    memcpy(a->e, e, n * sizeof(*e));
    return 4 + n * sizeof(*e);
}

/* u::rw- u:4242:rw- g::r-- g:4:r-x m::rwx o::r-- */
static const struct ent BOB[] = {
    {1, 6, U}, {2, 6, 4242}, {4, 4, U}, {8, 5, 4}, {0x10, 7, U}, {0x20, 4, U},
};

static int has_entry(const struct acl *a, ssize_t n, unsigned short tag, unsigned id, unsigned short perm) {
    for (int i = 0; i < (n - 4) / 8; i++)
        if (a->e[i].tag == tag && a->e[i].id == id && a->e[i].perm == perm) return 1;
    return 0;
}

struct xattr_args { unsigned long long value; unsigned size, flags; };

/* A second run, in a new tracer: what the first left is read back. */
static int again(void) {
    struct acl a, b;
    struct ent def[] = {{1, 7, U}, {2, 7, 4242}, {4, 5, U}, {8, 5, 4}, {0x10, 7, U}, {0x20, 0, U}};
    size_t dn = mk(&a, def, 6);
    CHECK(getxattr("d", DEFAULT, &b, sizeof b) == (ssize_t)dn && memcmp(&a, &b, dn) == 0, "default ACL");
    ssize_t r = getxattr("d/new", ACCESS, &b, sizeof b);
    CHECK(r == 52 && has_entry(&b, r, 2, 4242, 7), "inherited ACL");
    size_t n = mk(&a, BOB, 6);
    CHECK(getxattr("mine", ACCESS, &b, sizeof b) == (ssize_t)n && memcmp(&a, &b, n) == 0, "ACL of mine");
    CHECK(getxattr("f", ACCESS, &b, sizeof b) == -1 && errno == ENODATA, "removed ACL");
    DONE();
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "again") == 0) return again();
    struct acl a, b;
    size_t n = mk(&a, BOB, 6);
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    CHECK(fd >= 0, "create f");
    CHECK(setxattr("f", ACCESS, &a, n, 0) == 0, "set an ACL naming 4242");
    CHECK(getxattr("f", ACCESS, NULL, 0) == (ssize_t)n, "size query");
    memset(&b, 0, sizeof b);
    CHECK(getxattr("f", ACCESS, &b, sizeof b) == (ssize_t)n && memcmp(&a, &b, n) == 0, "read back");
    CHECK(getxattr("f", ACCESS, &b, n - 1) == -1 && errno == ERANGE, "ERANGE");
    memset(&b, 0, sizeof b);
    CHECK(fgetxattr(fd, ACCESS, &b, sizeof b) == (ssize_t)n && memcmp(&a, &b, n) == 0, "fgetxattr");
    CHECK(lgetxattr("f", ACCESS, &b, sizeof b) == (ssize_t)n, "lgetxattr");
    struct stat st;
    CHECK(stat("f", &st) == 0 && (st.st_mode & 0777) == 0674, "mode from the ACL: %o", st.st_mode);

    /* The private copy is hidden; the ACL is listed. */
    char list[1024];
    ssize_t ln = listxattr("f", list, sizeof list);
    int acc = 0, priv = 0;
    for (char *p = list; ln > 0 && p < list + ln; p += strlen(p) + 1) {
        acc |= strcmp(p, ACCESS) == 0;
        priv |= strncmp(p, "user.rootlessrt.", 16) == 0;
    }
    CHECK(acc && !priv, "listxattr shows the ACL, not the private copy");
    CHECK(getxattr("f", PRIVATE, &b, sizeof b) == -1 && errno == ENODATA, "private: get");
    CHECK(setxattr("f", PRIVATE, "x", 1, 0) == -1 && errno == EPERM, "private: set");
    CHECK(removexattr("f", PRIVATE) == -1 && errno == ENODATA, "private: remove");

    /* chmod changes the mask, as the kernel does; named entries stay. */
    CHECK(chmod("f", 0640) == 0, "chmod");
    ssize_t r = getxattr("f", ACCESS, &b, sizeof b);
    CHECK(r == (ssize_t)n && has_entry(&b, r, 0x10, U, 4) && has_entry(&b, r, 0x20, U, 0) &&
              has_entry(&b, r, 2, 4242, 6) && has_entry(&b, r, 8, 4, 5),
          "after chmod 640");

    /* The kernel's errors. */
    struct ent nomask[] = {{1, 6, U}, {2, 6, 4242}, {4, 4, U}, {0x20, 4, U}};
    CHECK(fsetxattr(fd, ACCESS, &a, mk(&a, nomask, 4), 0) == -1 && errno == EINVAL, "no mask");
    struct ent noid[] = {{1, 6, U}, {2, 6, U}, {4, 4, U}, {0x10, 7, U}, {0x20, 4, U}};
    CHECK(fsetxattr(fd, ACCESS, &a, mk(&a, noid, 5), 0) == -1 && errno == EINVAL, "id -1");
    n = mk(&a, BOB, 6);
    a.version = 1;
    CHECK(fsetxattr(fd, ACCESS, &a, n, 0) == -1 && errno == EOPNOTSUPP, "version 1");
    a.version = 2;
    CHECK(setxattr("f", DEFAULT, &a, n, 0) == -1 && errno == EACCES, "default ACL on a file");
    CHECK(setxattr("f", ACCESS, &a, n, 4) == -1 && errno == EINVAL, "bad flags");

    /* Default ACLs: new files and directories inherit them. */
    CHECK(mkdir("d", 0755) == 0, "mkdir d");
    struct ent def[] = {{1, 7, U}, {2, 7, 4242}, {4, 5, U}, {8, 5, 4}, {0x10, 7, U}, {0x20, 0, U}};
    size_t dn = mk(&a, def, 6);
    CHECK(setxattr("d", DEFAULT, &a, dn, 0) == 0, "set a default ACL");
    CHECK(getxattr("d", DEFAULT, &b, sizeof b) == (ssize_t)dn && memcmp(&a, &b, dn) == 0, "read it back");
    int nf = open("d/new", O_CREAT | O_RDWR, 0666);
    CHECK(nf >= 0, "create in d");
    r = getxattr("d/new", ACCESS, &b, sizeof b);
    CHECK(r == 52 && has_entry(&b, r, 2, 4242, 7) && has_entry(&b, r, 8, 4, 5) &&
              has_entry(&b, r, 0x10, U, 6) && has_entry(&b, r, 1, U, 6),
          "inherited access ACL (%zd)", r);
    CHECK(fstat(nf, &st) == 0 && (st.st_mode & 0777) == 0660, "inherited mode %o", st.st_mode);
    CHECK(mkdir("d/sub", 0777) == 0, "mkdir in d");
    r = getxattr("d/sub", DEFAULT, &b, sizeof b);
    CHECK(r == (ssize_t)dn && memcmp(&a, &b, dn) == 0, "inherited default ACL");
    r = getxattr("d/sub", ACCESS, &b, sizeof b);
    CHECK(r == 52 && has_entry(&b, r, 2, 4242, 7), "inherited access ACL of a directory");
    r = getxattr("./d/../d/new", ACCESS, &b, sizeof b);
    CHECK(r == 52 && has_entry(&b, r, 2, 4242, 7), "by another path (%zd)", r);

    /* The *xattrat calls of Linux 6.13 (ENOSYS before). */
    n = mk(&a, BOB, 6);
    struct xattr_args xa = {(unsigned long)&a, n, 0};
    long rc = syscall(463, AT_FDCWD, "g", 0, ACCESS, &xa, sizeof xa);
    if (rc == -1 && errno == ENOSYS) {
        printf("skip *xattrat (kernel < 6.13)\n");
    } else {
        CHECK(rc == -1 && errno == ENOENT, "setxattrat on a missing file");
        close(open("g", O_CREAT | O_RDWR, 0644));
        CHECK(syscall(463, AT_FDCWD, "g", 0, ACCESS, &xa, sizeof xa) == 0, "setxattrat");
        memset(&b, 0, sizeof b);
        struct xattr_args xg = {(unsigned long)&b, sizeof b, 0};
        CHECK(syscall(464, AT_FDCWD, "g", 0, ACCESS, &xg, sizeof xg) == (long)n && memcmp(&a, &b, n) == 0,
              "getxattrat");
        CHECK(syscall(466, AT_FDCWD, "g", 0, ACCESS) == 0, "removexattrat");
        CHECK(getxattr("g", ACCESS, &b, sizeof b) == -1 && errno == ENODATA, "removed");
    }

    /* Only the (fake) owner, or CAP_FOWNER, changes an ACL. */
    close(open("mine", O_CREAT | O_RDWR, 0644));
    close(open("theirs", O_CREAT | O_RDWR, 0644));
    CHECK(chown("mine", 1000, 1000) == 0 && chown("theirs", 2000, 2000) == 0, "chown");
    CHECK(setxattr("theirs", ACCESS, &a, n, 0) == 0, "root sets it");
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) _exit(90);
        int bad = 0;
        if (setxattr("mine", ACCESS, &a, n, 0) != 0) bad |= 1;
        if (!(setxattr("theirs", ACCESS, &a, n, 0) == -1 && errno == EPERM)) bad |= 2;
        if (!(removexattr("theirs", ACCESS) == -1 && errno == EPERM)) bad |= 4;
        if (getxattr("theirs", ACCESS, &b, sizeof b) != (ssize_t)n) bad |= 8;
        _exit(bad);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "as uid 1000: status %x", status);

    /* Removal takes the private copy with it (checked from outside too). */
    CHECK(removexattr("f", ACCESS) == 0, "remove");
    CHECK(getxattr("f", ACCESS, &b, sizeof b) == -1 && errno == ENODATA, "removed");
    DONE();
}
