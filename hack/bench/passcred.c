// Per-message cost of the SCM_CREDENTIALS emulation (issue 15, passcred.rs):
// sendmsg + recvmsg of one byte on a unix datagram socketpair, N times, in
// one process. Build static on the host (gcc -O2 -static), copy into a
// container rootfs, run as root and as `su bob -c` (docs/performance.md).
// usage: passcred N PASSCRED(0|1) CLAIM(0|1)
//   PASSCRED: the receiving end enables SO_PASSCRED
//   CLAIM: each message carries explicit SCM_CREDENTIALS (own pid, uid, gid)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int n = atoi(argv[1]), pass = atoi(argv[2]), claim = atoi(argv[3]);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) { perror("socketpair"); return 1; }
    if (pass && setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &(int){1}, sizeof(int))) { perror("passcred"); return 1; }
    struct ucred me = { getpid(), getuid(), getgid() };
    union { char buf[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr al; } sc, rc;
    char data[8] = "x", in[8];
    struct timespec t0, t1;
    unsigned last_uid = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        struct iovec iov = { data, 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (claim) {
            m.msg_control = sc.buf; m.msg_controllen = sizeof sc.buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_CREDENTIALS;
            c->cmsg_len = CMSG_LEN(sizeof me);
            memcpy(CMSG_DATA(c), &me, sizeof me);
        }
        if (sendmsg(sv[0], &m, 0) < 0) { perror("sendmsg"); return 1; }
        struct iovec riov = { in, sizeof in };
        struct msghdr r = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = rc.buf, .msg_controllen = sizeof rc.buf };
        if (recvmsg(sv[1], &r, 0) < 0) { perror("recvmsg"); return 1; }
        struct cmsghdr *c = CMSG_FIRSTHDR(&r);
        if (c && c->cmsg_type == SCM_CREDENTIALS) last_uid = ((struct ucred *)CMSG_DATA(c))->uid;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
    printf("passcred n=%d passcred=%d claim=%d uid=%u seen-uid=%u: %.2f us/message\n", n, pass, claim, getuid(), last_uid, us);
    return 0;
}
