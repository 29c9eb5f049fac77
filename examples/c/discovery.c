/* discovery -- service discovery over UDP multicast with w3sock.
 *
 *   discovery respond NAME PORT [-6] [-g GROUP] [-p PORT] [-i IFACE] [-t SECONDS]
 *   discovery browse [-6] [-g GROUP] [-p PORT] [-i IFACE] [-e COUNT] [-t SECONDS]
 *
 * A responder joins the group (default 239.255.77.77, or ff15::7777 with -6,
 * port 7777) on IFACE and answers every query with its service's name and
 * port, sent straight back to the asker. A browser sends a query to the
 * group every 300 ms from an ephemeral port until it has heard COUNT
 * different services (default 1) or SECONDS pass, and prints what it found.
 * Several responders share the group port on one host (address reuse is on
 * by default). The protocol is one line per datagram:
 *
 *   query:  "W3SD QUERY <nonce>"
 *   answer: "W3SD ANSWER <nonce> <name> <port>"
 *
 * Exit status: 0 when a browser found COUNT services or a responder ran
 * until its time was up or it got SIGINT/SIGTERM; 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "w3sock.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void) {
    fprintf(stderr,
            "usage: discovery respond NAME PORT [-6] [-g GROUP] [-p PORT] [-i IFACE] [-t SECONDS]\n"
            "       discovery browse [-6] [-g GROUP] [-p PORT] [-i IFACE] [-e COUNT] [-t SECONDS]\n");
    return 2;
}

static int fail(const char *what, int64_t code) {
    fprintf(stderr, "discovery: %s: %s (%s)\n", what, w3s_strerror((int)code), w3s_last_error_message());
    return 1;
}

struct args {
    int v6, port, expect;
    const char *group, *iface;
    double seconds;
};

static int parse(int argc, char **argv, int first, struct args *a) {
    a->v6 = 0;
    a->port = 7777;
    a->expect = 1;
    a->group = NULL;
    a->iface = NULL;
    a->seconds = 10;
    for (int i = first; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "-6") == 0) { a->v6 = 1; continue; }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        if (strcmp(o, "-g") == 0) a->group = v;
        else if (strcmp(o, "-p") == 0) a->port = atoi(v);
        else if (strcmp(o, "-i") == 0) a->iface = v;
        else if (strcmp(o, "-e") == 0) a->expect = atoi(v);
        else if (strcmp(o, "-t") == 0) a->seconds = atof(v);
        else return -1;
    }
    if (!a->group) a->group = a->v6 ? "ff15::7777" : "239.255.77.77";
    return 0;
}

static int respond(const char *name, int service_port, const struct args *a) {
    int64_t loop = w3s_loop_new();
    if (loop < 0) return fail("loop", loop);
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = a->v6 ? "::" : "0.0.0.0";
    o.local_port = a->port; /* shared with other responders: address_reuse is on */
    int64_t s = w3s_udp_open(loop, &o, 0);
    if (s < 0) return fail("udp open", s);
    int rc = w3s_join_group(s, a->group, a->iface);
    if (rc < 0) return fail("join group", rc);
    printf("responder %s: service port %d, listening on group %s port %d%s%s\n", name, service_port,
           a->group, a->port, a->iface ? " on " : "", a->iface ? a->iface : "");
    fflush(stdout);

    double end = now() + a->seconds;
    w3s_event evs[32];
    int answered = 0;
    while (!stop && now() < end) {
        int n = w3s_loop_poll(loop, evs, 32, 100);
        for (int i = 0; i < n; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->type == W3S_EV_ERROR) {
                fprintf(stderr, "responder: %s\n", (const char *)ev->data);
                continue;
            }
            if (ev->type != W3S_EV_MESSAGE) continue;
            char line[256], nonce[64];
            size_t len = ev->len < sizeof line - 1 ? ev->len : sizeof line - 1;
            memcpy(line, ev->data, len);
            line[len] = 0;
            if (sscanf(line, "W3SD QUERY %63s", nonce) != 1) continue; /* not ours */
            char answer[256];
            int alen = snprintf(answer, sizeof answer, "W3SD ANSWER %s %s %d", nonce, name, service_port);
            int64_t r = w3s_send_to(s, answer, (size_t)alen, ev->address, ev->port);
            if (r < 0) {
                fprintf(stderr, "responder: answer to %s:%d: %s\n", ev->address, ev->port, w3s_strerror((int)r));
                continue;
            }
            answered++;
            printf("responder %s: answered query %s from %s port %d\n", name, nonce, ev->address, ev->port);
            fflush(stdout);
        }
    }
    printf("responder %s: %d answer(s), leaving %s\n", name, answered, a->group);
    w3s_close(s); /* leaves the group */
    w3s_loop_close(loop);
    return 0;
}

#define MAXFOUND 32

static int browse(const struct args *a) {
    int64_t loop = w3s_loop_new();
    if (loop < 0) return fail("loop", loop);
    w3s_udp_options o;
    w3s_udp_options_init(&o);
    o.local_address = a->v6 ? "::" : "0.0.0.0";
    o.multicast_interface = a->iface;
    o.multicast_ttl = 1; /* stay on the link */
    int64_t s = w3s_udp_open(loop, &o, 0);
    if (s < 0) return fail("udp open", s);

    char nonce[32];
    snprintf(nonce, sizeof nonce, "%ld-%d", (long)getpid(), (int)(now() * 1000) % 100000);
    char query[64];
    int qlen = snprintf(query, sizeof query, "W3SD QUERY %s", nonce);
    char found[MAXFOUND][64];
    int nfound = 0, queries = 0;
    double end = now() + a->seconds, next = 0;
    w3s_event evs[32];
    while (!stop && nfound < a->expect && now() < end) {
        if (now() >= next) {
            int64_t r = w3s_send_to(s, query, (size_t)qlen, a->group, a->port);
            if (r < 0) return fail("send query", r);
            queries++;
            next = now() + 0.3;
        }
        int n = w3s_loop_poll(loop, evs, 32, 50);
        for (int i = 0; i < n; i++) {
            const w3s_event *ev = &evs[i];
            if (ev->type != W3S_EV_MESSAGE) continue;
            char line[256], got_nonce[64], name[64];
            int port;
            size_t len = ev->len < sizeof line - 1 ? ev->len : sizeof line - 1;
            memcpy(line, ev->data, len);
            line[len] = 0;
            if (sscanf(line, "W3SD ANSWER %63s %63s %d", got_nonce, name, &port) != 3) continue;
            if (strcmp(got_nonce, nonce) != 0) continue; /* someone else's */
            int seen = 0;
            for (int k = 0; k < nfound; k++) seen |= strcmp(found[k], name) == 0;
            if (seen || nfound == MAXFOUND) continue;
            snprintf(found[nfound++], sizeof found[0], "%s", name);
            printf("browser: found %s, service port %d, at %s (answered from port %d)\n", name, port,
                   ev->address, ev->port);
            fflush(stdout);
        }
    }
    printf("browser: %d service(s) found with %d quer%s to %s port %d\n", nfound, queries,
           queries == 1 ? "y" : "ies", a->group, a->port);
    w3s_close(s);
    w3s_loop_close(loop);
    return nfound >= a->expect ? 0 : 1;
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct args a;
    if (argc >= 4 && strcmp(argv[1], "respond") == 0) {
        int port = atoi(argv[3]);
        if (port < 1 || port > 65535 || parse(argc, argv, 4, &a) < 0) return usage();
        return respond(argv[2], port, &a);
    }
    if (argc >= 2 && strcmp(argv[1], "browse") == 0) {
        if (parse(argc, argv, 2, &a) < 0 || a.expect < 1) return usage();
        return browse(&a);
    }
    return usage();
}
