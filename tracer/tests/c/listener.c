// listener CMD...: run CMD under a seccomp filter that already has a user-notification
// listener (for getppid only, answered "continue"), as another runtime's filter would be.
// A second listener in the same filter chain is refused (EBUSY), so a tracer started
// inside must fall back to answering the stat family at ptrace stops.
#include "common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static int lfd = -1;
static volatile int ready;

static void *answer(void *arg) {
    (void)arg;
    while (!ready) usleep(1000);
    for (;;) {
        struct seccomp_notif n;
        struct seccomp_notif_resp r;
        memset(&n, 0, sizeof n);
        if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
            if (errno == EINTR || errno == ENOENT) continue;
            return NULL;
        }
        memset(&r, 0, sizeof r);
        r.id = n.id;
        r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &r);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    // The answering thread exists before the filter, so it is not filtered itself.
    pthread_t th;
    pthread_create(&th, NULL, answer, NULL);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog p = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return perror("prctl"), 125;
    lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);
    if (lfd < 0) return perror("seccomp"), 125;
    ready = 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(lfd);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) return 125;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
