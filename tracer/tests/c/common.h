#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static int failures __attribute__((unused));
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (cond) {                                                                        \
            printf("ok   %s:%d %s\n", __FILE__, __LINE__, #cond);                          \
        } else {                                                                           \
            printf("FAIL %s:%d %s (errno %d) ", __FILE__, __LINE__, #cond, errno);         \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            failures++;                                                                    \
        }                                                                                  \
        fflush(stdout);                                                                    \
    } while (0)
#define DONE() do { printf("%s\n", failures ? "SOME FAILED" : "ALL OK"); return failures ? 1 : 0; } while (0)
