/* node install: putting a config file in place on a control-plane node the
 * way a crash cannot break: DIR/current.yaml is replaced atomically
 * (temporary file in DIR, written, fsynced, renamed over current.yaml, DIR
 * fsynced), created 0600, and the file it replaces is kept as
 * DIR/current.yaml.<UTC time, YYYYmmddTHHMMSSZ> (a hard link made before the
 * rename, so current.yaml never is missing) so the last good config can be
 * put back (node_latest_backup). kube-apiserver reads DIR/current.yaml on
 * CSM nodes (--encryption-provider-config).
 *
 * This module does file I/O only; it never prints. */
#ifndef ETCDCRYPT_NODE_INSTALL_H
#define ETCDCRYPT_NODE_INSTALL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define NODE_DEFAULT_DIR "/etc/cray/kubernetes/encryption"
#define NODE_CONFIG_FILE "current.yaml"
#define NODE_PATH_MAX 4096

/* DIR/current.yaml into out. */
void node_config_path(char out[NODE_PATH_MAX], const char *dir);

/* Reads a whole file (at most max bytes; larger is ERR_CONFIG) into out
 * (reset first; buf_release wipes it: configs hold keys). ERR_NOTFOUND
 * when it does not exist. *mtime (may be NULL) gets its change time. */
int node_read_file(struct buf *out, const char *path, size_t max, int64_t *mtime);

/* Installs text as DIR/current.yaml (DIR is created 0700 if missing).
 * backup gets the path the previous file is kept at ("" when there was
 * none). */
int node_install(char backup[NODE_PATH_MAX], const char *dir, const void *text, size_t n, int64_t now);

/* The newest DIR/current.yaml.<time> into out; ERR_NOTFOUND when none. */
int node_latest_backup(char out[NODE_PATH_MAX], const char *dir);

#endif
