/* What a host pays for sleeping on an epoll set that holds the socket (as
 * a host watching w3s_loop_fd does: the loop's descriptor is an epoll set)
 * instead of on the socket itself. Pure C, no w3sock: two processes play
 * 64-byte ping-pong over loopback TCP; each side waits in epoll_wait on
 * the socket directly, or on an outer epoll holding an inner one holding
 * the socket (then asks the inner one which socket is ready, as
 * w3s_loop_poll does), or on the outer one only. Runs the three kinds
 * interleaved and prints medians with ratios to "direct".
 * Usage: nested_epoll [round_trips] [rounds] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { DIRECT, NESTED, NESTED_NO_INNER_WAIT, KINDS };
static const char *names[KINDS] = {"direct", "nested (+ inner epoll_wait)", "nested, outer wait only"};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void add(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Plays n exchanges on fd; the initiator sends first. Returns 0 on success. */
static int play(int fd, int kind, long n, int initiator) {
    int ep = epoll_create1(0), inner = -1;
    if (kind == DIRECT) {
        add(ep, fd);
    } else {
        inner = epoll_create1(0);
        add(inner, fd);
        add(ep, inner);
    }
    char buf[64] = {0};
    struct epoll_event evs[8];
    if (initiator && send(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) return 1;
    for (long i = 0; i < n; i++) {
        if (epoll_wait(ep, evs, 8, 5000) <= 0) return 1;
        if (kind == NESTED) epoll_wait(inner, evs, 8, 0);
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t r = read(fd, buf + got, sizeof buf - got);
            if (r == 0) return 1;
            if (r > 0) got += (size_t)r;
        }
        if ((!initiator || i + 1 < n) && send(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) return 1;
    }
    close(ep);
    if (inner >= 0) close(inner);
    return 0;
}

static double one_run(int kind, long n) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(ls, (void *)&a, sizeof a) || listen(ls, 1) || getsockname(ls, (void *)&a, &al)) return -1;
    int one = 1;
    pid_t pid = fork();
    if (pid == 0) {
        int s = accept(ls, NULL, NULL);
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(s, F_SETFL, O_NONBLOCK);
        _exit(play(s, kind, n, 0));
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (void *)&a, sizeof a)) return -1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c, F_SETFL, O_NONBLOCK);
    double t0 = now();
    int rc = play(c, kind, n, 1);
    double dt = now() - t0;
    close(c);
    close(ls);
    int status = 0;
    waitpid(pid, &status, 0);
    return rc == 0 ? n / dt : -1;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (n < 1 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: nested_epoll [round_trips] [rounds <= 100]\n");
        return 2;
    }
    double r[KINDS][100];
    for (int i = 0; i < rounds; i++)
        for (int k = 0; k < KINDS; k++)
            if ((r[k][i] = one_run(k, n)) < 0) {
                fprintf(stderr, "nested_epoll: a run failed\n");
                return 1;
            }
    double med[KINDS];
    for (int k = 0; k < KINDS; k++) {
        qsort(r[k], (size_t)rounds, sizeof r[k][0], cmp);
        med[k] = r[k][rounds / 2];
    }
    printf("ping-pong, 64 B, %ld round trips, both ends waiting the same way (median of %d interleaved runs):\n",
           n, rounds);
    for (int k = 0; k < KINDS; k++)
        printf("  %-30s %8.0f round trips/s  ratio %.2f\n", names[k], med[k], med[k] / med[DIRECT]);
    return 0;
}
