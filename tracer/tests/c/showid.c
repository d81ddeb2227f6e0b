// Prints the credentials the process sees: "r e s / rg eg sg / secure".
#include "common.h"
#include <sys/auxv.h>
int main(void) {
    uid_t r, e, s;
    gid_t rg, eg, sg;
    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    printf("uid=%u,%u,%u gid=%u,%u,%u secure=%lu atuid=%lu,%lu\n", r, e, s, rg, eg, sg, getauxval(AT_SECURE),
           getauxval(AT_UID), getauxval(AT_EUID));
    return 0;
}
