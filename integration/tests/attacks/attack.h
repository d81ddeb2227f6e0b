// Shared by the attack programs that integration/tests/e2e/containment.rs
// builds (gcc -static) into a container's rootfs and runs as the workload.
//
// Output protocol, one line per event, read by the Rust side:
//   target PID COMM        a process the attack went after
//   ESCAPE WHAT PID DETAIL something the workload must never get succeeded
//   held WHAT PID ERRNO     the attempt failed (informational)
//   note TEXT               anything else worth showing in a failure
//   done                    the program ran to its end
// A test fails on any ESCAPE line and when `done` is missing.
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

#define ESCAPE(what, pid, ...)                                  \
    do {                                                        \
        printf("ESCAPE %s %d ", (what), (int)(pid));            \
        say(__VA_ARGS__);                                       \
    } while (0)

#define HELD(what, pid) say("held %s %d %s", (what), (int)(pid), strerrorname_np(errno) ? strerrorname_np(errno) : "?")

// A syscall result: r >= 0 is an escape, r < 0 is held (errno kept).
#define VERDICT(r, what, pid, ...)                 \
    do {                                           \
        if ((r) >= 0)                              \
            ESCAPE((what), (pid), __VA_ARGS__);    \
        else                                       \
            HELD((what), (pid));                   \
    } while (0)

static inline long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// /proc/PID/comm without the newline ("" when unreadable).
static inline void comm_of(int pid, char *buf, size_t n) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/comm", pid);
    buf[0] = 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0) r = 0;
    buf[r] = 0;
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
}

// /proc/PID/cmdline with NULs as spaces ("" when unreadable).
static inline void cmdline_of(int pid, char *buf, size_t n) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
    buf[0] = 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0) r = 0;
    for (ssize_t i = 0; i < r; i++)
        if (buf[i] == 0) buf[i] = ' ';
    buf[r] = 0;
}

// Field 4 of /proc/PID/stat.
static inline int ppid_of(int pid) {
    char p[64], b[512];
    snprintf(p, sizeof p, "/proc/%d/stat", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t r = read(fd, b, sizeof b - 1);
    close(fd);
    if (r <= 0) return -1;
    b[r] = 0;
    char *e = strrchr(b, ')');
    int ppid = -1;
    char st;
    if (!e || sscanf(e + 1, " %c %d", &st, &ppid) != 2) return -1;
    return ppid;
}

// Every pid in /proc, ascending; returns how many (at most max).
static inline int list_pids(int *out, int max) {
    DIR *d = opendir("/proc");
    int n = 0;
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        out[n++] = atoi(de->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}
