// Credentials: getters report what setters set; kernel error rules.
#include "common.h"
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static int capget_raw(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d) {
    return syscall(SYS_capget, h, d);
}
static int capset_raw(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d) {
    return syscall(SYS_capset, h, d);
}

static void *thread_ids(void *arg) {
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    *(uid_t *)arg = e;
    // A raw per-thread call changes only this thread.
    syscall(SYS_setresuid, -1, 4321, -1);
    return NULL;
}

int main(void) {
    uid_t r, e, s;
    gid_t rg, eg, sg;
    CHECK(getuid() == 0 && geteuid() == 0 && getgid() == 0 && getegid() == 0, "not fake root");
    errno = 0;
    CHECK(setuid(-1) == -1 && errno == EINVAL, "setuid(-1)");
    CHECK(syscall(SYS_setgid, -1) == -1 && errno == EINVAL, "setgid(-1)");

    // setgroups / getgroups: sorted, duplicates kept, counted like the kernel
    gid_t gl[] = {30, 10, 20, 10};
    CHECK(setgroups(4, gl) == 0, "setgroups");
    gid_t out[8] = {0};
    CHECK(getgroups(0, NULL) == 4, "getgroups count");
    errno = 0;
    CHECK(getgroups(2, out) == -1 && errno == EINVAL, "getgroups too small");
    CHECK(getgroups(8, out) == 4 && out[0] == 10 && out[1] == 10 && out[2] == 20 && out[3] == 30, "sorted %d %d %d %d",
          out[0], out[1], out[2], out[3]);
    errno = 0;
    CHECK(syscall(SYS_getgroups, -1, out) == -1 && errno == EINVAL, "getgroups(-1)");
    errno = 0;
    CHECK(syscall(SYS_setgroups, 65537, out) == -1 && errno == EINVAL, "setgroups huge");
    errno = 0;
    CHECK(syscall(SYS_setgroups, 2, (void *)8) == -1 && errno == EFAULT, "setgroups bad ptr");
    errno = 0;
    CHECK(syscall(SYS_getgroups, 8, (void *)8) == -1 && errno == EFAULT, "getgroups bad ptr");
    CHECK(setgroups(0, NULL) == 0 && getgroups(0, NULL) == 0, "setgroups empty");

    // set*id family
    CHECK(setresgid(100, 101, 102) == 0, "setresgid");
    CHECK(getresgid(&rg, &eg, &sg) == 0 && rg == 100 && eg == 101 && sg == 102, "getresgid %d %d %d", rg, eg, sg);
    CHECK(getgid() == 100 && getegid() == 101, "getgid");
    errno = 0;
    CHECK(syscall(SYS_getresuid, (void *)8, &e, &s) == -1 && errno == EFAULT, "getresuid EFAULT");
    CHECK(setregid(7, 8) == 0 && getresgid(&rg, &eg, &sg) == 0 && rg == 7 && eg == 8 && sg == 8, "setregid %d %d %d", rg,
          eg, sg);
    CHECK(setgid(0) == 0 && getgid() == 0 && getegid() == 0, "setgid(0)");

    // setfsuid returns the old value
    CHECK(setfsuid(55) == 0, "setfsuid old 0");
    CHECK(setfsuid(-1) == 55, "setfsuid old 55");
    CHECK(setfsuid(0) == 55, "setfsuid back");
    CHECK(setfsgid(66) == 0 && setfsgid(-1) == 66 && setfsgid(0) == 66, "setfsgid");

    // euid change keeps saved root; caps effective cleared then restored
    CHECK(seteuid(1000) == 0 && geteuid() == 1000 && getuid() == 0, "seteuid");
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    CHECK(capget_raw(&h, d) == 0 && d[0].effective == 0 && d[0].permitted != 0, "eff cleared eff=%x perm=%x",
          d[0].effective, d[0].permitted);
    CHECK(seteuid(0) == 0 && capget_raw(&h, d) == 0 && d[0].effective == d[0].permitted, "eff restored");
    CHECK(getresuid(&r, &e, &s) == 0 && r == 0 && e == 0 && s == 0, "back to root");

    // capget/capset rules
    struct __user_cap_header_struct bad = {0x1234, 0};
    errno = 0;
    CHECK(capget_raw(&bad, d) == -1 && errno == EINVAL && bad.version == _LINUX_CAPABILITY_VERSION_3, "capget bad version");
    bad.version = 0x1234;
    CHECK(capget_raw(&bad, NULL) == 0 && bad.version == _LINUX_CAPABILITY_VERSION_3, "capget probe");
    errno = 0;
    CHECK(capget_raw((void *)8, d) == -1 && errno == EFAULT, "capget EFAULT");
    struct __user_cap_header_struct other = {_LINUX_CAPABILITY_VERSION_3, 1};
    errno = 0;
    CHECK(capset_raw(&other, d) == -1 && errno == EPERM, "capset other pid");

    // Threads: state copied at clone; per-thread raw calls stay per-thread.
    uid_t seen = 0;
    pthread_t t;
    CHECK(syscall(SYS_setresuid, -1, 77, -1) == 0, "raw seteuid 77");
    pthread_create(&t, NULL, thread_ids, &seen);
    pthread_join(t, NULL);
    CHECK(seen == 77, "thread inherited euid %d", seen);
    CHECK(geteuid() == 77, "thread's raw call did not leak: %d", geteuid());
    CHECK(syscall(SYS_setresuid, -1, 0, -1) == 0, "raw seteuid 0");

    // fork: child inherits; unprivileged rules in the child
    CHECK(setresgid(1000, 1000, 1000) == 0 && setgroups(0, NULL) == 0, "drop gids");
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        if (getgid() != 1000) bad |= 1;
        if (setresuid(1000, 1000, 1000) != 0) bad |= 2;
        errno = 0;
        if (setuid(0) != -1 || errno != EPERM) bad |= 4;
        errno = 0;
        if (setgroups(0, NULL) != -1 || errno != EPERM) bad |= 8;
        if (setfsuid(0) != 1000 || setfsuid(-1) != 1000) bad |= 16;
        struct __user_cap_data_struct dd[2];
        struct __user_cap_header_struct hh = {_LINUX_CAPABILITY_VERSION_3, 0};
        if (capget_raw(&hh, dd) != 0 || dd[0].permitted != 0 || dd[0].effective != 0) bad |= 32;
        dd[0].permitted = 1;
        dd[0].effective = 0;
        errno = 0;
        if (capset_raw(&hh, dd) != -1 || errno != EPERM) bad |= 64;
        _exit(bad);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged child bits %d", WEXITSTATUS(st));

    // keepcaps: setuid to non-root keeps permitted
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0 && prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 1, "keepcaps");
    pid = fork();
    if (pid == 0) {
        struct __user_cap_data_struct dd[2];
        struct __user_cap_header_struct hh = {_LINUX_CAPABILITY_VERSION_3, 0};
        if (syscall(SYS_setresuid, 1000, 1000, 1000) != 0) _exit(1);
        if (capget_raw(&hh, dd) != 0 || dd[0].permitted == 0 || dd[0].effective != 0) _exit(2);
        dd[0].effective = dd[0].permitted;
        if (capset_raw(&hh, dd) != 0) _exit(3);
        if (syscall(SYS_setresuid, 0, 0, 0) != 0) _exit(4);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "keepcaps child %d", WEXITSTATUS(st));
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 0, 0, 0) == 0, "ambient not set");
    errno = 0;
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 0, 0, 0) == -1 && errno == EPERM, "ambient raise needs inh");
    DONE();
}
