/* SO_PEERCRED reports the peer's fake effective IDs (tracer/src/peercred.rs).
 * Run under `rlrt-fakeroot` (ids or full). */
#include "common.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static struct sockaddr_un addr(void) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "rlrt-peercred-%d", getpid());
    return a;
}

int main(void) {
    struct sockaddr_un a = addr();
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1);
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(srv, (struct sockaddr *)&a, alen) == 0 && listen(srv, 4) == 0, "listen");
    int sync[2];
    CHECK(pipe(sync) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        /* A client with other fake IDs: effective 1000:2000, real 1001:2001. */
        if (setresgid(2001, 2000, 2001) || setresuid(1001, 1000, 1001)) _exit(90);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, alen)) _exit(91);
        struct ucred u;
        socklen_t len = sizeof u;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &u, &len) || len != sizeof u) _exit(92);
        if (u.uid != 0 || u.gid != 0 || u.pid != getppid()) _exit(93); /* the root server */
        char x;
        (void)!read(sync[0], &x, 1); /* keep the connection until the server looked */
        _exit(0);
    }
    int c = accept(srv, NULL, NULL);
    CHECK(c >= 0, "accept");
    struct ucred u = {0};
    socklen_t len = sizeof u;
    CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &u, &len) == 0 && len == sizeof u, "getsockopt");
    CHECK(u.pid == pid && u.uid == 1000 && u.gid == 2000, "peer %d %u:%u", u.pid, u.uid, u.gid);
    /* A short buffer gets the start of the struct, and its length. */
    int p = 0;
    len = sizeof p;
    CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &p, &len) == 0 && len == sizeof p && p == pid, "short");
    len = (socklen_t)-1;
    CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &u, &len) == -1 && errno == EINVAL, "negative length");
    len = sizeof u;
    CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, (void *)8, &len) == -1 && errno == EFAULT, "EFAULT");
    CHECK(getsockopt(sync[1], SOL_SOCKET, SO_PEERCRED, &u, &len) == -1 && errno == ENOTSOCK, "ENOTSOCK");
    CHECK(getsockopt(99, SOL_SOCKET, SO_PEERCRED, &u, &len) == -1 && errno == EBADF, "EBADF");
    /* Other options are the kernel's, untouched. */
    int type = 0;
    len = sizeof type;
    CHECK(getsockopt(c, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM, "SO_TYPE");
    (void)!write(sync[1], "x", 1);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client: status %x", status);
    DONE();
}
