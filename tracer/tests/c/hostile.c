// Hostile / racy workloads: hostile <test> [args]
#include "common.h"
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define NTHREADS 8
static int thread_fail;
static void *racer(void *arg) {
    long me = (long)arg;
    for (int i = 0; i < 2000; i++) {
        uid_t want = 1000 + me * 10000 + i, r, e, s;
        if (syscall(SYS_setresuid, -1, want, -1) != 0) { __sync_fetch_and_add(&thread_fail, 1); break; }
        if (syscall(SYS_getresuid, &r, &e, &s) != 0 || e != want) { __sync_fetch_and_add(&thread_fail, 1); break; }
        if (syscall(SYS_setresuid, -1, 0, -1) != 0) { __sync_fetch_and_add(&thread_fail, 1); break; }
    }
    return NULL;
}

static void on_segv(int s) {
    (void)s;
    static const char m[] = "ok   int80: no ia32 emulation in this kernel (SIGSEGV)\nALL OK\n";
    write(1, m, sizeof m - 1);
    _exit(0);
}

static unsigned long long rnd = 88172645463325252ULL;
static unsigned long long xr(void) { rnd ^= rnd << 13; rnd ^= rnd >> 7; rnd ^= rnd << 17; return rnd; }

int main(int argc, char **argv) {
    const char *t = argc > 1 ? argv[1] : "";
    int st;
    if (!strcmp(t, "race")) {
        pthread_t th[NTHREADS];
        for (long i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, racer, (void *)i);
        for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
        CHECK(thread_fail == 0, "racing threads saw foreign state");
        // glibc's setresuid broadcasts to every thread
        CHECK(setresuid(-1, 5, -1) == 0 && geteuid() == 5 && seteuid(0) == 0, "broadcast");
    } else if (!strcmp(t, "clone3")) {
        CHECK(setresuid(-1, 55, -1) == 0, "seteuid 55");
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.exit_signal = SIGCHLD;
        // clone3 keeps its flags in memory, out of a filter's sight: ENOSYS
        // (the C library falls back to clone), with or without CLONE_UNTRACED.
        errno = 0;
        CHECK(syscall(SYS_clone3, &ca, sizeof ca) == -1 && errno == ENOSYS, "clone3 ENOSYS");
        ca.flags = CLONE_UNTRACED;
        errno = 0;
        CHECK(syscall(SYS_clone3, &ca, sizeof ca) == -1 && errno == ENOSYS,
              "clone3(CLONE_UNTRACED) ENOSYS");
        // A traced process (it dropped its fake IDs) asking for an untraced
        // child: the child is traced all the same and keeps euid 55 (an
        // untraced one would be fake root again).
        long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(geteuid() == 55 ? 0 : 1);
        CHECK(pid > 0, "clone(CLONE_UNTRACED)");
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "CLONE_UNTRACED child saw euid 55");
        // fork() and pthreads still work (glibc falls back from clone3).
        pid = fork();
        if (pid == 0) _exit(geteuid() == 55 ? 0 : 1);
        waitpid(pid, &st, 0);
        CHECK(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child saw euid 55");
    } else if (!strcmp(t, "vfork")) {
        pid_t pid = vfork();
        if (pid == 0) {
            execl(argv[2], argv[2], (char *)NULL);
            _exit(127);
        }
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork+exec");
    } else if (!strcmp(t, "forks")) {
        int n = argc > 2 ? atoi(argv[2]) : 10000, bad = 0;
        CHECK(setresgid(7, 7, 7) == 0, "setresgid 7");
        for (int i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid == 0) _exit(getgid() == 7 && getegid() == 7 ? 0 : 1);
            if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
        }
        CHECK(bad == 0, "%d of %d forks failed", bad, n);
    } else if (!strcmp(t, "seccomp")) {
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0x1234),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog p = {sizeof f / sizeof f[0], f};
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "nnp");
        CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "nnp reads back");
        CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p) == 0, "install own filter");
        CHECK(syscall(SYS_getpid) > 1, "foreign RET_TRACE tag ignored");
        errno = 0;
        CHECK(syscall(SYS_getppid) == -1 && errno == EPERM, "own filter works");
        CHECK(setuid(3) == 0 && getuid() == 3, "emulation still works");
    } else if (!strcmp(t, "iouring")) {
        char params[120] = {0};
        errno = 0;
        CHECK(syscall(425, 1, params) == -1 && errno == ENOSYS, "io_uring_setup ENOSYS");
    } else if (!strcmp(t, "int80")) {
        signal(SIGSEGV, on_segv);
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(199) : "memory"); // getuid32
        CHECK(ret == -ENOSYS, "int 0x80 getuid32 returned %ld", ret);
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory"); // getpid: untrapped, works
        CHECK(ret > 0, "int 0x80 getpid returned %ld", ret);
    } else if (!strcmp(t, "fuzz")) {
        // Random arguments to every trapped call: the tracer must neither crash nor hang.
        static const long nrs[] = {102, 107, 104, 108, 118, 120, 115, 116, 105, 106, 113, 114, 117, 119, 122, 123,
                                   125, 126, 157, 92,  94,  93,  260, 133, 259, 4,   6,   5,   262, 332, 194, 195,
                                   196, 191, 192, 193, 188, 189, 190, 197, 198, 199};
        static char buf[8192];
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 20000; i++) {
                for (size_t k = 0; k < sizeof buf; k++) buf[k] = (xr() % 5) ? 'a' + xr() % 26 : 0;
                long a[6];
                for (int j = 0; j < 6; j++) {
                    switch (xr() % 6) {
                    case 0: a[j] = 0; break;
                    case 1: a[j] = 8; break;
                    case 2: a[j] = -1; break;
                    case 3: a[j] = (long)xr(); break;
                    case 4: a[j] = (long)(buf + xr() % sizeof buf); break;
                    default: a[j] = (long)(buf + sizeof buf - 1 - xr() % 16); break;
                    }
                }
                long nr = nrs[xr() % (sizeof nrs / sizeof nrs[0])];
                if (nr == 157 && (a[0] == 22 || a[0] == 35 || a[0] == 1 || a[0] == 4)) continue;
                syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            }
            _exit(0);
        }
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fuzz child status %x", st);
        CHECK(getuid() == 0, "tracer alive");
    } else {
        printf("unknown test %s\n", t);
        return 2;
    }
    DONE();
}
