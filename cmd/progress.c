/* progress: terminal status line; see progress.h. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p)
{
	p->enabled = isatty(STDERR_FILENO);
	p->start = p->last = progress_now();
	p->shown = 0;
}

double progress_elapsed(const struct progress *p)
{
	return progress_now() - p->start;
}

void progress_update(struct progress *p, const char *fmt, ...)
{
	double now;
	va_list ap;

	if (!p->enabled)
		return;
	now = progress_now();
	if (p->shown && now - p->last < 0.25)
		return;
	p->last = now;
	p->shown = 1;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void progress_done(struct progress *p)
{
	if (p->enabled && p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}
