/* A C model of the Go half of the data path for one socket (go_standin.c). */
#ifndef W3S_GO_STANDIN_H
#define W3S_GO_STANDIN_H

#include <stdint.h>

/* Sets up the one socket: handle h on loop handle lh, descriptor fd,
 * registered in epfd for reading; starts its writer thread. */
void go_open(int64_t lh, int epfd, int efd, int64_t h, int fd, int64_t high_water);
/* As w3s_pause / w3s_resume / w3s_set_option(HIGH_WATER_SEND). */
void go_pause(void);
void go_resume(void);
void go_set_high_water(int64_t v);
/* Takes every byte back from the C side, writes it all (blocking), stops
 * the writer, and unpublishes the socket. Returns bytes Go wrote. */
uint64_t go_finish(void);
/* Called once (then cleared) when the host thread hands output over
 * (w3sgo_send with no data), before Go takes the socket's lock: a test
 * uses it to run what another thread could run in that window. */
extern void (*go_handoff_hook)(void);

#endif
