/* echo_client: sends its arguments (or a line from stdin) to an echo server
 * and prints what comes back, using callback mode of the w3sock C ABI.
 *
 *   echo_client HOST PORT [message...]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "w3sock.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int finished = 0, failed = 0;
static size_t received = 0;

/* Runs on the library's callback thread, one batch at a time. */
static void on_events(void *user, const w3s_event *events, int count) {
    (void)user;
    for (int i = 0; i < count; i++) {
        const w3s_event *ev = &events[i];
        switch (ev->type) {
        case W3S_EV_OPEN:
            fprintf(stderr, "echo_client: connected\n");
            break;
        case W3S_EV_DATA:
            fwrite(ev->data, 1, ev->len, stdout);
            received += ev->len;
            break;
        case W3S_EV_ERROR:
            fprintf(stderr, "echo_client: %s: %s\n", w3s_err_name(ev->error), (const char *)ev->data);
            failed = 1;
            break;
        case W3S_EV_CLOSE:
            pthread_mutex_lock(&mu);
            finished = 1;
            pthread_cond_signal(&cv);
            pthread_mutex_unlock(&mu);
            break;
        default:
            break;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: echo_client HOST PORT [message...]\n");
        return 2;
    }
    char msg[4096] = "";
    if (argc > 3) {
        for (int i = 3; i < argc; i++) {
            strncat(msg, argv[i], sizeof msg - strlen(msg) - 2);
            strncat(msg, i + 1 < argc ? " " : "\n", sizeof msg - strlen(msg) - 1);
        }
    } else if (!fgets(msg, sizeof msg, stdin)) {
        return 2;
    }

    int64_t loop = w3s_loop_new();
    w3s_loop_set_callback(loop, on_events, NULL);
    int64_t sock = w3s_tcp_connect(loop, argv[1], atoi(argv[2]), NULL, 0);
    if (sock < 0) {
        fprintf(stderr, "echo_client: %s: %s\n", w3s_err_name((int)sock), w3s_last_error_message());
        return 1;
    }
    /* Sending while the socket is still opening queues the bytes; the
     * half-close sends FIN after them, and the server's FIN ends the socket. */
    w3s_send(sock, msg, strlen(msg));
    w3s_half_close(sock);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&mu);
    while (!finished && pthread_cond_timedwait(&cv, &mu, &deadline) == 0) {
    }
    int done = finished;
    pthread_mutex_unlock(&mu);
    w3s_loop_set_callback(loop, NULL, NULL);
    w3s_loop_close(loop);
    if (!done) fprintf(stderr, "echo_client: timed out\n");
    return done && !failed && received == strlen(msg) ? 0 : 1;
}
