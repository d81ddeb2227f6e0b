/* SCM_CREDENTIALS carry fake IDs (tracer/src/passcred.rs), under
 * `rlrt-fakeroot` (the ptrace engine):
 *   passcred receiver  as fake root (ids or full): root's own messages show
 *                      root; a child that changed its IDs (real 1001:2001,
 *                      effective 1000:2000) shows its real ones
 *   passcred sender    started as fake 1000:2000 (RLRT_FAKEROOT_USER, full:
 *                      the creator trap checks its claims), to itself */
#include "common.h"
#include <sys/socket.h>
#include <sys/wait.h>

static int sock[2];

/* Send one byte with explicit credentials `u` (NULL: none). */
static long send_creds(int fd, const struct ucred *u) {
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } c;
    char x = 'x';
    struct iovec iov = {&x, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (u) {
        m.msg_control = c.buf;
        m.msg_controllen = sizeof c.buf;
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_CREDENTIALS;
        h->cmsg_len = CMSG_LEN(sizeof *u);
        memcpy(CMSG_DATA(h), u, sizeof *u);
    }
    return sendmsg(fd, &m, 0);
}

/* Receive one message: its credentials (pid -1 if none). */
static struct ucred receive(void) {
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred)) + 64];
        struct cmsghdr align;
    } c;
    char x;
    struct iovec iov = {&x, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf};
    struct ucred u = {-1, 0, 0};
    if (recvmsg(sock[1], &m, 0) != 1) return u;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS) memcpy(&u, CMSG_DATA(h), sizeof u);
    return u;
}

static struct ucred cred(pid_t pid, uid_t uid, gid_t gid) {
    struct ucred u = {pid, uid, gid};
    return u;
}

static int receiver(void) {
    int sync_[2];
    CHECK(pipe(sync_) == 0, "pipe");
    /* Root's own message: root. */
    CHECK(send_creds(sock[0], NULL) == 1, "send");
    struct ucred u = receive();
    CHECK(u.pid == getpid() && u.uid == 0 && u.gid == 0, "own %d %u:%u", u.pid, u.uid, u.gid);
    pid_t pid = fork();
    if (pid == 0) {
        char x;
        if (setresgid(2001, 2000, 2001) || setresuid(1001, 1000, 1001)) _exit(90);
        if (send_creds(sock[0], NULL) != 1) _exit(91);
        (void)!read(sync_[0], &x, 1); /* alive until the message is read */
        _exit(0);
    }
    u = receive();
    CHECK(u.pid == pid && u.uid == 1001 && u.gid == 2001, "implicit %d %u:%u", u.pid, u.uid, u.gid);
    (void)!write(sync_[1], "x", 1);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender: status %x", status);
    DONE();
}

static int sender(void) {
    pid_t me = getpid();
    CHECK(getuid() == 1000 && getgid() == 2000, "started as %u:%u", getuid(), getgid());
    struct ucred u;
    CHECK(send_creds(sock[0], NULL) == 1, "implicit");
    u = receive();
    CHECK(u.pid == me && u.uid == 1000 && u.gid == 2000, "implicit %d %u:%u", u.pid, u.uid, u.gid);
    struct ucred own = cred(me, 1000, 2000);
    CHECK(send_creds(sock[0], &own) == 1, "explicit");
    u = receive();
    CHECK(u.pid == me && u.uid == 1000 && u.gid == 2000, "explicit %d %u:%u", u.pid, u.uid, u.gid);
    struct ucred root = cred(me, 0, 0), bad = cred(me, (uid_t)-1, 2000), other = cred(getppid(), 1000, 2000),
                 badgid = cred(me, 1000, 0);
    CHECK(send_creds(sock[0], &root) == -1 && errno == EPERM, "root claim");
    CHECK(send_creds(sock[0], &badgid) == -1 && errno == EPERM, "gid 0 claim");
    CHECK(send_creds(sock[0], &bad) == -1 && errno == EINVAL, "-1 claim");
    CHECK(send_creds(sock[0], &other) == -1 && errno == EPERM, "other pid");
    /* sendmmsg: the second message is refused, the first goes. */
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } c[2];
    char d = 'y';
    struct iovec iov = {&d, 1};
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    const struct ucred *claims[2] = {&own, &root};
    for (int i = 0; i < 2; i++) {
        struct msghdr *m = &mm[i].msg_hdr;
        m->msg_iov = &iov;
        m->msg_iovlen = 1;
        m->msg_control = c[i].buf;
        m->msg_controllen = sizeof c[i].buf;
        struct cmsghdr *h = CMSG_FIRSTHDR(m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_CREDENTIALS;
        h->cmsg_len = CMSG_LEN(sizeof(struct ucred));
        memcpy(CMSG_DATA(h), claims[i], sizeof(struct ucred));
    }
    CHECK(sendmmsg(sock[0], mm, 2, 0) == 1, "sendmmsg");
    u = receive();
    CHECK(u.pid == me && u.uid == 1000 && u.gid == 2000, "sendmmsg %d %u:%u", u.pid, u.uid, u.gid);
    /* The caller's buffer is as it was. */
    struct ucred after;
    memcpy(&after, CMSG_DATA(CMSG_FIRSTHDR(&mm[0].msg_hdr)), sizeof after);
    CHECK(after.uid == 1000 && after.gid == 2000, "buffer %u:%u", after.uid, after.gid);
    DONE();
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: passcred receiver|sender");
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sock) == 0, "socketpair");
    int one = 1;
    CHECK(setsockopt(sock[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0, "SO_PASSCRED");
    /* A message that does not come must not hang the test. */
    struct timeval tv = {5, 0};
    CHECK(setsockopt(sock[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    return strcmp(argv[1], "sender") == 0 ? sender() : receiver();
}
