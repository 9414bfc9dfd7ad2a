/* SPDX-License-Identifier: ISC */
/*
 * topic — MQTT topic names and topic filters: the one matcher and the one
 * UTF-8 validator of the daemon.
 *
 * A topic is split at every '/' into levels; "a/" has two levels, "" one
 * (empty).  In a filter '+' is one whole level and '#' the whole last
 * level, standing for its parent level and everything below it
 * [MQTT-4.7.1-1..3].  A filter whose first level is a wildcard does not
 * match a topic whose first level starts with '$' [MQTT-4.7.2-1].
 *
 * A leaf: it depends on nothing else of ours, so that codec_ may use it.
 * Pure functions of their arguments; no allocation, no I/O.
 */
#ifndef MQTTGUARD_TOPIC_H
#define MQTTGUARD_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a string is not a valid topic name, filter or MQTT string. */
enum topic_err {
	TOPIC_OK = 0,
	TOPIC_ERR_UTF8,		/* ill-formed UTF-8 (RFC 3629) */
	TOPIC_ERR_NUL,		/* U+0000 */
	TOPIC_ERR_CONTROL,	/* a control character (with TOPIC_CONTROL) */
	TOPIC_ERR_WILDCARD,	/* in a name, or not a whole (last) level */
	TOPIC_ERR_NONCHAR	/* a noncharacter (with TOPIC_NONCHAR) */
};

/* Flags of topic_utf8_check(). */
#define TOPIC_CONTROL	0x1	/* refuse U+0001..001F, U+007F..009F */
#define TOPIC_NAME	0x2	/* a topic name: refuse '+' and '#' */
#define TOPIC_NONCHAR	0x4	/* refuse U+FDD0..FDEF, U+xFFFE, U+xFFFF */

/*
 * Validates <n> bytes at <p> as an MQTT UTF-8 string (3.1.1 §1.5.3, 5.0
 * §1.5.4): well-formed, no overlong forms, no surrogates, nothing above
 * U+10FFFF [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2]; what <flags> asks
 * besides.  Noncharacters pass unless TOPIC_NONCHAR: the standard asks
 * senders to avoid them and lets a receiver treat them as malformed (5.0
 * §1.5.4), as Mosquitto does.  <p> may be NULL when <n> is 0.  Returns TOPIC_OK or the first problem found.
 */
int	 topic_utf8_check(const uint8_t *p, size_t n, unsigned flags);
/*
 * The length of the valid multi-byte UTF-8 sequence at <p> (<n> > 0 bytes
 * there), as RFC 3629 restricts it (no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0: not a lead byte, invalid or cut short.
 * For code that walks a string itself (the log's JSON escaping).
 */
size_t	 topic_utf8_len(const uint8_t *p, size_t n);
/*
 * Whether the valid sequence of <len> bytes at <p> (as topic_utf8_len()
 * measured it) encodes a Unicode noncharacter: U+FDD0..U+FDEF, or the last
 * two code points of a plane (U+FFFE, U+FFFF, U+1FFFE, ... U+10FFFF).
 */
bool	 topic_utf8_nonchar(const uint8_t *p, size_t len);
/*
 * Well-formed UTF-8 (RFC 3629, U+0000 allowed: character data, not an
 * MQTT string) in a stream seen <n> bytes at a time: returns -1 if <p>
 * holds an ill-formed sequence, else 0 with *<done> the bytes checked,
 * short of a sequence cut at the end (at most 3 bytes), which the caller
 * hands in again in front of the next piece.  Bytes left at the end of
 * the stream are ill-formed.  For a 5.0 payload with Payload Format
 * Indicator 1 [MQTT-3.3.2-4].
 */
int	 topic_utf8_chunk(const uint8_t *p, size_t n, size_t *done);

/*
 * Whether the wildcards of the <n>-byte filter <p> stand where MQTT lets
 * them: '+' a whole level, '#' the whole last level [MQTT-4.7.1-2/3].
 * TOPIC_OK or TOPIC_ERR_WILDCARD; says nothing of emptiness or UTF-8.
 */
int	 topic_wildcards_check(const char *p, size_t n);

/*
 * Whether filter <filter> (<flen> bytes) matches topic name <topic>
 * (<tlen> bytes).  The filter is taken as valid, but an invalid one only
 * fails to match: a '#' that is not the last level matches nothing, and a
 * wildcard inside a longer level is a plain byte.  The topic's bytes are
 * compared as they are, wildcards or not.
 */
bool	 topic_match(const char *filter, size_t flen, const char *topic,
	    size_t tlen);

/*
 * Whether every topic that filter <inner> matches, filter <outer> matches
 * too, decided level by level: a literal covers only itself, '+' a literal
 * or '+', '#' whatever is left (the parent level included), and only '#'
 * covers '#'.  The answer is never a wrong yes; it is a wrong no in one
 * case, "+/#" found not to cover "#", which match the same topics.  For an
 * <inner> without wildcards it is topic_match(outer, inner).
 */
bool	 topic_covers(const char *outer, size_t olen, const char *inner,
	    size_t ilen);

/*
 * A placeholder level of a filter and the one level it stands for (the
 * ACL's "%u" and "%c").  It matches a topic level equal to <val>, never a
 * wildcard of an inner filter, nothing when <vlen> is 0, and, like a
 * wildcard, no first level starting with '$'.
 */
struct topic_var {
	const char	*name;		/* the placeholder: a whole level */
	size_t		 nlen;
	const char	*val;		/* what it stands for */
	size_t		 vlen;
};

/* Flag of topic_match_vars(): <inner> is a filter, answer "covers". */
#define TOPIC_COVERS	0x1

/*
 * topic_match() (or, with TOPIC_COVERS, topic_covers()) with the <nvars>
 * placeholder levels <vars> of <outer> standing for their values.
 */
bool	 topic_match_vars(const char *outer, size_t olen, const char *inner,
	    size_t ilen, const struct topic_var *vars, size_t nvars,
	    unsigned flags);

/*
 * The topics both filters <a> (<alen> bytes) and <b> (<blen>) match, as
 * one filter: level by level the narrower of the two ('+' gives way to
 * any level, '#' to all the other has left); none when two literal levels
 * differ, or when a first level starting with '$' meets a wildcard or a
 * placeholder [MQTT-4.7.2-1].  Both are taken as valid filters.  Without
 * placeholders the result is exact: a topic matches it exactly when it
 * matches both.
 *
 * A placeholder level of <vars> (<nvars> of them) stands for one level: a
 * <val> of NULL for one not known.  Against a literal it meets nothing
 * when its value is known and differs; otherwise, and against another
 * placeholder, <a>'s level is kept.  So the result always stays inside
 * <a>, but with placeholders may be wider than what both match.
 *
 * Writes the result and a NUL to <out> (<outlen> bytes; <alen> + <blen> + 1
 * always suffice) and its length to *<mlen>.  Returns 1; 0 when no topic
 * matches both; -1 when <outlen> is too small.
 */
int	 topic_meet(const char *a, size_t alen, const char *b, size_t blen,
	    const struct topic_var *vars, size_t nvars, char *out,
	    size_t outlen, size_t *mlen);

/*
 * How specific the <len>-byte filter <f> is, for "the most specific rule
 * wins": its literal levels (a placeholder is one) shifted left by 8, or
 * its '+' levels; '#' counts as nothing.  So more literal levels win, then
 * more '+'.  The answer compares correctly only for filters of fewer than
 * 256 levels: callers bound the depth.  The depth in levels goes to
 * *<depth> unless <depth> is NULL.
 */
uint32_t topic_specificity(const char *f, size_t len, unsigned *depth);

#endif
