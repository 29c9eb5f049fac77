/* The host-thread data path (see fastpath.c and core/fastpath.go). Private:
 * every function here is hidden. */
#ifndef W3S_FASTPATH_H
#define W3S_FASTPATH_H

#include <stddef.h>
#include <stdint.h>

#include "shim.h"

/* Flags of a published socket; they match core.FastRead / core.FastWrite. */
#define W3S_FAST_READ 1u
#define W3S_FAST_WRITE 2u

/* Sockets (called by Go with the socket's lock held). */
/* What Go tells the C side about a socket (see core.FastSlot). */
typedef struct w3s_fast_pub {
    int64_t handle;
    int fd;
    uint32_t flags;
    uint64_t user_data;
    int epfd;            /* the loop's epoll set */
    uint32_t watch_mask; /* the socket's registration there (0: none) */
    int64_t high_water;  /* send high-water mark */
} w3s_fast_pub;

/* What the C side hands back (see core.FastTaken). carry is malloc'd. */
typedef struct w3s_fast_taken {
    uint8_t *carry;
    size_t carry_len;
    int need_drain;
    uint64_t bytes_in, bytes_out;
} w3s_fast_taken;

W3S_HIDDEN void w3s_fast_publish(const w3s_fast_pub *pub, w3s_fast_taken *taken);
W3S_HIDDEN void w3s_fast_harvest(int64_t h, uint64_t *bytes_in, uint64_t *bytes_out,
                                 uint64_t *queued);
W3S_HIDDEN void w3s_fast_set_user_data(int64_t h, uint64_t user_data);

/* Loops. */
/* event_size: the caller's sizeof(w3s_event), the stride of its arrays. */
W3S_HIDDEN int w3s_fast_loop_add(int64_t h, int epfd, int efd, size_t event_size);
W3S_HIDDEN void w3s_fast_loop_retire(int64_t h);
W3S_HIDDEN void w3s_fast_loop_set_callback_mode(int64_t h, int on);
W3S_HIDDEN void *w3s_fast_loop_enter(int64_t h);
W3S_HIDDEN void w3s_fast_loop_leave(void *loop);

#endif
