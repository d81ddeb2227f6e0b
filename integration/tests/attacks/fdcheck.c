// fdcheck [MAXFD]
//
// CVE-2024-21626 from the workload's side: a runtime fd leaked into the
// container (a directory of the host, say) or a working directory outside
// the rootfs lets the workload walk `..` out of it. Checks the working
// directory and every open fd: a directory must lead back to our own `/`,
// and no fd above MAXFD (default 2: stdio) may be open at all. Then the
// same for the fds of every other process whose image is not a file of
// the container (the runtime's: a tracer, an init): none may be reached
// through /proc/PID/fd or pidfd_getfd.
#include "attack.h"

// Walks `..` from FD; 1 when it tops out somewhere that is not our `/`.
static int outside_root(int fd) {
    struct stat root, cur, up;
    if (stat("/", &root) < 0) return 1;
    int d = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; d >= 0 && i < 256; i++) {
        if (fstat(d, &cur) < 0) break;
        if (cur.st_dev == root.st_dev && cur.st_ino == root.st_ino) {
            close(d);
            return 0;
        }
        int u = openat(d, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (u < 0 || fstat(u, &up) < 0) break;
        close(d);
        d = u;
        if (up.st_dev == cur.st_dev && up.st_ino == cur.st_ino) break; // a top
    }
    if (d >= 0) close(d);
    return 1;
}

// As overwrite.c: PID runs a file of this container.
static int own_image(int pid) {
    char p[64], l[4096];
    snprintf(p, sizeof p, "/proc/%d/exe", pid);
    ssize_t n = readlink(p, l, sizeof l - 1);
    if (n < 0) return 0;
    l[n] = 0;
    struct stat a, b;
    return stat(p, &a) == 0 && stat(l, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void others(void) {
    int pids[4096];
    int n = list_pids(pids, 4096);
    for (int i = 0; i < n; i++) {
        int pid = pids[i];
        if (pid == getpid() || own_image(pid)) continue;
        char comm[64];
        comm_of(pid, comm, sizeof comm);
        say("target %d %s", pid, comm);
        for (int fd = 0; fd < 64; fd++) {
            char p[64], l[4096];
            snprintf(p, sizeof p, "/proc/%d/fd/%d", pid, fd);
            ssize_t k = readlink(p, l, sizeof l - 1);
            if (k >= 0) {
                l[k] = 0;
                ESCAPE("runtime-fd-readlink", pid, "fd %d -> %s", fd, l);
            }
            int f = open(p, O_PATH | O_CLOEXEC);
            if (f >= 0) {
                ESCAPE("runtime-fd-open", pid, "fd %d", fd);
                close(f);
            }
        }
        int pfd = syscall(SYS_pidfd_open, pid, 0);
        for (int fd = 0; pfd >= 0 && fd < 64; fd++) {
            int f = syscall(SYS_pidfd_getfd, pfd, fd, 0);
            if (f >= 0) {
                ESCAPE("runtime-fd-getfd", pid, "fd %d", fd);
                close(f);
            }
        }
        if (pfd >= 0) close(pfd);
    }
}

int main(int argc, char **argv) {
    int maxfd = argc > 1 ? atoi(argv[1]) : 2;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "(getcwd: %s)", strerrorname_np(errno));
    say("note cwd %s", cwd);
    if (outside_root(AT_FDCWD)) ESCAPE("cwd-outside-rootfs", getpid(), "cwd %s leads out of /", cwd);
    if (cwd[0] != '/') ESCAPE("cwd-unreachable", getpid(), "%s", cwd);
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        say("note /proc/self/fd: %s", strerrorname_np(errno));
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        int fd = atoi(de->d_name);
        if (fd == dirfd(d)) continue;
        char p[64], l[4096];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, l, sizeof l - 1);
        l[n < 0 ? 0 : n] = 0;
        say("note fd %d -> %s", fd, l);
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && outside_root(fd))
            ESCAPE("fd-outside-rootfs", getpid(), "fd %d -> %s", fd, l);
        if (fd > maxfd) ESCAPE("fd-leaked", getpid(), "fd %d -> %s", fd, l);
    }
    closedir(d);
    others();
    say("done");
    return 0;
}
