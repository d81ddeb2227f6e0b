// untraced
//
// A process that dropped its fake root IDs (so the tracer follows it with
// ptrace) asks for a child the tracer cannot follow: clone(CLONE_UNTRACED),
// then clone3 (whose flags a seccomp filter cannot see). The child must
// not be root again; fork must still work.
#include "attack.h"
#include <linux/sched.h>
#include <signal.h>
#include <sys/wait.h>

// In a child: still the dropped uid 1000, unable to become root again? An
// untraced child shows root, or (under a filter nobody answers) ENOSYS.
static void child_report(const char *how) {
    uid_t u = getuid(), e = geteuid();
    long r = syscall(SYS_setuid, 0);
    if (u != 1000 || e != 1000 || r != -1 || errno != EPERM)
        ESCAPE(how, getpid(), "child uid %u euid %u setuid(0) %ld", u, e, r);
    else
        say("note %s child uid %u euid %u setuid(0) %s", how, u, e, strerrorname_np(errno));
    fflush(stdout);
    _exit(7);
}

static void reap(const char *how, long pid) {
    int st;
    if (waitpid(pid, &st, __WALL) != pid)
        say("note %s: waitpid: %s", how, strerrorname_np(errno));
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 7)
        say("note %s: child status %#x", how, st);
    else
        say("%s ok", how);
}

int main(void) {
    if (setresuid(1000, 1000, 1000) != 0 || getuid() != 1000) {
        say("note setresuid(1000): %s, uid %u", strerrorname_np(errno), getuid());
        return 1;
    }
    say("note dropped to uid %u", getuid());
    fflush(stdout);
    long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0) child_report("clone-untraced");
    if (pid < 0)
        say("clone-untraced refused %s", strerrorname_np(errno));
    else
        reap("clone-untraced", pid);

    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_UNTRACED;
    ca.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) child_report("clone3-untraced");
    if (pid < 0) {
        say("clone3 %s", strerrorname_np(errno));
    } else {
        say("note clone3 made a child");
        reap("clone3-untraced", pid);
    }

    pid = fork();
    if (pid == 0) child_report("fork");
    if (pid < 0)
        say("note fork: %s", strerrorname_np(errno));
    else
        reap("fork", pid);
    say("done");
    return 0;
}
