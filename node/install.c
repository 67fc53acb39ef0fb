/* node install: atomic replacement of DIR/current.yaml with a kept
 * previous file; see install.h. */
#include "install.h"
#include "base/err.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void node_config_path(char out[NODE_PATH_MAX], const char *dir)
{
	snprintf(out, NODE_PATH_MAX, "%s/%s", dir, NODE_CONFIG_FILE);
}

int node_read_file(struct buf *out, const char *path, size_t max, int64_t *mtime)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), rc = 0; /* a FIFO must not block open */
	struct stat sb;
	ssize_t got;

	buf_reset(out);
	if (fd < 0)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "'%s': %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = err_set(ERR_IO, "'%s': not a regular file", path);
		goto out;
	}
	if ((size_t)sb.st_size > max) {
		rc = err_set(ERR_CONFIG, "'%s': %lld bytes, more than %zu", path, (long long)sb.st_size, max);
		goto out;
	}
	if (mtime)
		*mtime = (int64_t)sb.st_mtime;
	if ((rc = buf_reserve(out, (size_t)sb.st_size + 1)) < 0)
		goto out;
	while (out->len < (size_t)sb.st_size && (got = read(fd, out->data + out->len, (size_t)sb.st_size - out->len)) > 0)
		out->len += (size_t)got;
	if (out->len != (size_t)sb.st_size)
		rc = err_set(ERR_IO, "'%s': short read", path);
out:
	close(fd);
	return rc;
}

/* A name for the previous file that does not exist yet. */
static int backup_name(char out[NODE_PATH_MAX], const char *dir, int64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;
	char stamp[32];
	struct stat sb;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(out, NODE_PATH_MAX, "%s/%s.%s", dir, NODE_CONFIG_FILE, stamp);
		else
			snprintf(out, NODE_PATH_MAX, "%s/%s.%s.%d", dir, NODE_CONFIG_FILE, stamp, i);
		if (lstat(out, &sb) < 0 && errno == ENOENT)
			return 0;
	}
	return err_set(ERR_IO, "'%s': no free backup name for %s", dir, stamp);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = err_set(ERR_IO, "'%s': cannot sync the directory: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Writes text to a new temporary file in dir, 0600, synced. */
static int write_temp(char tmp[NODE_PATH_MAX], const char *dir, const void *text, size_t n)
{
	int fd;

	snprintf(tmp, NODE_PATH_MAX, "%s/.%s.tmp.%ld", dir, NODE_CONFIG_FILE, (long)getpid());
	unlink(tmp); /* a leftover of a crashed run of this pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(ERR_IO, "'%s': cannot create: %s", tmp, strerror(errno));
	if (fchmod(fd, 0600) < 0 || file_write_all(fd, text, n) < 0 || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return err_set(ERR_IO, "'%s': cannot write: %s", tmp, strerror(e));
	}
	if (close(fd) < 0) {
		unlink(tmp);
		return err_set(ERR_IO, "'%s': cannot write: %s", tmp, strerror(errno));
	}
	return 0;
}

int node_install(char backup[NODE_PATH_MAX], const char *dir, const void *text, size_t n, int64_t now)
{
	char cur[NODE_PATH_MAX], tmp[NODE_PATH_MAX];
	struct stat sb;
	int rc;

	backup[0] = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set(ERR_IO, "'%s': cannot create the directory: %s", dir, strerror(errno));
	node_config_path(cur, dir);
	if (lstat(cur, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			return err_set(ERR_IO, "'%s': not a regular file; not replacing it", cur);
		if ((rc = backup_name(backup, dir, now)) < 0)
			return rc;
		if (link(cur, backup) < 0)
			return err_set(ERR_IO, "'%s': cannot keep the previous config as '%s': %s", cur, backup,
				       strerror(errno));
	} else if (errno != ENOENT) {
		return err_set(ERR_IO, "'%s': %s", cur, strerror(errno));
	}
	if ((rc = write_temp(tmp, dir, text, n)) < 0)
		goto undo;
	if (rename(tmp, cur) < 0) {
		rc = err_set(ERR_IO, "'%s': cannot rename to '%s': %s", tmp, cur, strerror(errno));
		unlink(tmp);
		goto undo;
	}
	return fsync_dir(dir);
undo:
	if (backup[0])
		unlink(backup); /* current.yaml is unchanged: the extra link goes */
	backup[0] = '\0';
	return rc;
}

int node_latest_backup(char out[NODE_PATH_MAX], const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[256] = "";
	size_t pl = strlen(NODE_CONFIG_FILE) + 1;

	if (d == NULL)
		return err_set(ERR_IO, "'%s': %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		/* current.yaml.<YYYYmmddTHHMMSSZ>[.N]: the names sort by time */
		if (strncmp(e->d_name, NODE_CONFIG_FILE ".", pl) != 0 || strlen(e->d_name) < pl + 16)
			continue;
		if (strlen(e->d_name) < sizeof(best) && strcmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	closedir(d);
	if (!best[0])
		return err_set(ERR_NOTFOUND, "'%s': no previous %s kept", dir, NODE_CONFIG_FILE);
	snprintf(out, NODE_PATH_MAX, "%s/%s", dir, best);
	return 0;
}
