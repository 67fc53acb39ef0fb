/* progress: one self-overwriting status line on stderr, only when stderr is
 * a terminal, at most four updates a second. */
#ifndef ETCDCRYPT_PROGRESS_H
#define ETCDCRYPT_PROGRESS_H

#include <stdint.h>

struct progress {
	int enabled;
	double start, last;
	int shown;
};

void progress_init(struct progress *p);
/* printf-style line; rate helpers below. Does nothing when disabled. */
void progress_update(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_done(struct progress *p); /* clears the line */
double progress_elapsed(const struct progress *p);
double progress_now(void);

#endif
