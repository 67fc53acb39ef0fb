/* file: opening an input file without ever blocking on it.
 *
 * open(2) of a FIFO with no writer waits forever, and reading a device or a
 * directory is never what a path to a config, key, certificate or snapshot
 * meant. file_open_regular opens with O_NONBLOCK (which cannot wait), checks
 * with fstat that the path is a regular file, then turns O_NONBLOCK off for
 * ordinary reads. It does not read anything itself. */
#ifndef ETCDCRYPT_FILE_H
#define ETCDCRYPT_FILE_H

#include <stddef.h>

/* *out = a read-only fd (O_CLOEXEC) on the regular file at path; the caller
 * closes it. what names the file in messages ("config", "key file", ...):
 *   cannot open config 'enc.yaml': No such file or directory
 *   config 'enc.yaml' is a FIFO, not a regular file
 * A missing, unopenable or non-regular file fails with code (the caller's
 * choice: ERR_CONFIG for inputs the user named, ERR_IO ...); a failing
 * fstat/fcntl with ERR_IO. */
int file_open_regular(int *out, const char *path, const char *what, int code);

/* Writes all n bytes of p to fd, going on after short writes and EINTR.
 * ERR_IO with errno set (EIO for a write that wrote nothing) and no message:
 * the caller names the file. */
int file_write_all(int fd, const void *p, size_t n);

/* "a directory", "a FIFO", "a socket", "a character device", ... for a
 * st_mode that is not a regular file. */
const char *file_type_name(unsigned mode);

#endif
