/* file: see file.h. Only open/fstat/fcntl; no reading, no allocation. */
#include "base/file.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *file_type_name(unsigned mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISREG(mode))
		return "a regular file";
	return "a special file";
}

int file_open_regular(int *out, const char *path, const char *what, int code)
{
	struct stat st;
	int fd, flags, rc = 0;

	*out = -1;
	/* O_NONBLOCK: a FIFO without a writer opens at once instead of waiting */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0)
		return err_set(code, "cannot open %s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = err_set(ERR_IO, "cannot stat %s '%s': %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(code, "%s '%s' is %s, not a regular file", what, path, file_type_name(st.st_mode));
		goto out;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		rc = err_set(ERR_IO, "cannot read %s '%s': %s", what, path, strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int file_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return ERR_IO;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}
