/* libuv_echo: the benchmark's C reference echo server, on libuv (Debian's
 * libuv1-dev), written the way libuv's own examples are.
 *
 *   libuv_echo tcp|udp PORT
 *
 * libuv has no TLS, so there is no tls protocol. Prints "ready" once
 * listening; runs until killed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUF_SIZE (64 * 1024)

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req;

static uv_loop_t *loop;

static void die(const char *what, int rc) {
    fprintf(stderr, "libuv_echo: %s: %s\n", what, uv_strerror(rc));
    exit(1);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    buf->base = malloc(BUF_SIZE);
    buf->len = buf->base ? BUF_SIZE : 0;
}

static void on_close(uv_handle_t *h) { free(h); }

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    uv_stream_t *s = req->handle;
    free(w->buf.base);
    free(w);
    /* reading stopped at the high-water mark restarts once the queue drained */
    if (status == 0 && s->data != NULL && uv_stream_get_write_queue_size(s) == 0 &&
        !uv_is_closing((uv_handle_t *)s)) {
        s->data = NULL;
        uv_read_start(s, on_alloc, on_read);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n > 0) {
        write_req *w = malloc(sizeof *w);
        w->buf = uv_buf_init(buf->base, (unsigned)n);
        uv_write(&w->req, s, &w->buf, 1, on_written);
        /* past 1 MiB unsent, stop reading until the peer catches up (as the
         * other servers do at their high-water marks) */
        if (uv_stream_get_write_queue_size(s) > (1 << 20)) {
            uv_read_stop(s);
            s->data = s; /* marks "stopped for back-pressure" */
        }
        return;
    }
    free(buf->base);
    if (n < 0) uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(loop, c);
    c->data = NULL;
    if (uv_accept(server, (uv_stream_t *)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t *)c, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)c, on_close);
    }
}

typedef struct {
    uv_udp_send_t req;
    uv_buf_t buf;
} send_req;

static void on_sent(uv_udp_send_t *req, int status) {
    (void)status;
    send_req *s = (send_req *)req;
    free(s->buf.base);
    free(s);
}

static void on_datagram(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags) {
    (void)flags;
    if (n <= 0 || from == NULL) {
        free(buf->base);
        return;
    }
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    /* most sends complete at once: uv_udp_try_send saves the request */
    if (uv_udp_try_send(u, &out, 1, from) == n) {
        free(buf->base);
        return;
    }
    send_req *s = malloc(sizeof *s);
    s->buf = out;
    uv_udp_send(&s->req, u, &s->buf, 1, from, on_sent);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: libuv_echo tcp|udp PORT\n");
        return 2;
    }
    loop = uv_default_loop();
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[2]), &addr);
    int rc;
    static uv_tcp_t server;
    static uv_udp_t udp;
    if (strcmp(argv[1], "udp") == 0) {
        uv_udp_init(loop, &udp);
        if ((rc = uv_udp_bind(&udp, (const struct sockaddr *)&addr, 0)) < 0) die("bind", rc);
        if ((rc = uv_udp_recv_start(&udp, on_alloc, on_datagram)) < 0) die("recv", rc);
    } else if (strcmp(argv[1], "tcp") == 0) {
        uv_tcp_init(loop, &server);
        if ((rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0)) < 0) die("bind", rc);
        if ((rc = uv_listen((uv_stream_t *)&server, 4096, on_connection)) < 0) die("listen", rc);
    } else {
        fprintf(stderr, "libuv_echo: %s: not supported (libuv has no TLS)\n", argv[1]);
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
