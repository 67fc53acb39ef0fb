/* jsonesc: bytes from etcd into JSON fields without ever dropping them;
 * see cmd.h and core/base/esc.h (the one escaping module). jansson refuses
 * invalid UTF-8 (json_string returns NULL and the field silently vanished),
 * so every key, name and detail goes through here. */
#include "cmd.h"
#include "base/err.h"
#include "base/esc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *cmd_json_text(const uint8_t *p, size_t n)
{
	char *t = esc_utf8_lossy(p, n);
	json_t *j = t != NULL ? json_string(t) : NULL;

	free(t);
	return j != NULL ? j : json_null();
}

int cmd_json_bytes(json_t *obj, const char *field, const uint8_t *p, size_t n)
{
	char twin[128];
	int err = 0;
	char *b64 = esc_json_b64(p, n, &err);

	json_object_set_new(obj, field, cmd_json_text(p, n));
	if (b64 != NULL) {
		snprintf(twin, sizeof(twin), "%s_b64", field);
		json_object_set_new(obj, twin, json_string(b64));
		free(b64);
	}
	return err;
}

int cmd_json_str_list(json_t *obj, const char *field, char *const *v, const size_t *lens, size_t n)
{
	json_t *a = json_array(), *b = NULL;
	char twin[128];
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = lens != NULL ? lens[i] : strlen(v[i]);

		json_array_append_new(a, cmd_json_text((const uint8_t *)v[i], l));
		if (b == NULL && !esc_utf8_clean((const uint8_t *)v[i], l)) {
			/* a twin array of every element, once one needs it */
			b = json_array();
			for (size_t j = 0; j < i; j++)
				json_array_append_new(b, json_null());
		}
		if (b != NULL) {
			char *e = esc_json_b64((const uint8_t *)v[i], l, &err);
			json_array_append_new(b, e != NULL ? json_string(e) : json_null());
			free(e);
		}
	}
	json_object_set_new(obj, field, a);
	if (b != NULL) {
		snprintf(twin, sizeof(twin), "%s_b64", field);
		json_object_set_new(obj, twin, b);
	}
	return err;
}

void cmd_name_cell(char *out, size_t cap, const char *name, int guessed)
{
	size_t n;

	if (cap < 2)
		return;
	if (name[0] == '\0') {
		snprintf(out, cap, "-");
		return;
	}
	esc_term_buf(out, cap - 1, (const uint8_t *)name, strlen(name));
	n = strlen(out);
	if (guessed) {
		out[n] = '?';
		out[n + 1] = '\0';
	}
}
