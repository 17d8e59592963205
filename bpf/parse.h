/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bounded header cursor for XDP parsing: every step checks the frame end
 * before reading and advances the cursor past what it read. */
#ifndef XLANE_PARSE_H
#define XLANE_PARSE_H

#include <linux/types.h>

struct hdr_cursor {
	void *pos;
	void *end;
};

/* Returns a pointer to `len` bytes at the cursor and advances, or NULL when
 * the frame is shorter. */
static __always_inline void *cursor_take(struct hdr_cursor *c, __u32 len)
{
	void *start = c->pos;

	if (start + len > c->end)
		return 0;
	c->pos = start + len;
	return start;
}

#endif /* XLANE_PARSE_H */
