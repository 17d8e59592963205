/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bounded header cursor for XDP parsing: every step checks the frame end
 * before reading and advances the cursor past what it read. */
#ifndef XLANE_PARSE_H
#define XLANE_PARSE_H

#include <linux/types.h>

struct hdr_cursor {
	void *pos;
	void *end;       /* end of the linear part: the headers must lie in it */
	void *start;     /* the frame's first byte */
	__u32 frame_len; /* the whole frame, fragments of a multi-buffer one too */
};

/* True when `len` bytes from `at` lie inside the whole frame (linear part
 * and fragments): what the lengths in IP headers are checked against. */
static __always_inline int cursor_frame_has(const struct hdr_cursor *c, const void *at, __u32 len)
{
	return (__u64)(at - c->start) + len <= c->frame_len;
}

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
