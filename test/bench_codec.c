/* SPDX-License-Identifier: ISC */
/*
 * Micro-benchmark of the codec's hot path: codec_decode() over a buffer of
 * back-to-back 64-byte QoS 1 PUBLISH frames, as a session sees a busy
 * publisher, for about a second per protocol level on one core.  Prints
 * one line per level:
 *
 *	codec: N frames/s decode+validate (64-byte PUBLISH, v3.1.1)
 *
 * The buffer (256 KiB) stays in cache, so this measures the decoder, not
 * memory.  The target is 10 million frames per second at -O2.  Exits
 * non-zero if a frame fails to decode, so a broken build cannot post a
 * number.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqttguard/codec.h"

#define FRAME_LEN	64
#define NFRAMES		4096
#define TOPIC		"sensors/building-1/floor-2/temp"

static size_t	frame_build(uint8_t *, uint8_t, uint16_t);
static double	now(void);
static int	bench(uint8_t, const char *);

/*
 * One QoS 1 PUBLISH of exactly FRAME_LEN bytes: a 31-byte topic, a packet
 * identifier and, at 5.0, a payload format indicator property.
 */
static size_t
frame_build(uint8_t *f, uint8_t level, uint16_t id)
{
	size_t	off = 0, tlen = strlen(TOPIC);

	f[off++] = 0x32;
	f[off++] = FRAME_LEN - 2;
	f[off++] = 0;
	f[off++] = (uint8_t)tlen;
	memcpy(f + off, TOPIC, tlen);
	off += tlen;
	f[off++] = (uint8_t)(id >> 8);
	f[off++] = (uint8_t)id;
	if (level == CODEC_V5) {
		f[off++] = 2;
		f[off++] = CODEC_PROP_PAYLOAD_FORMAT;
		f[off++] = 1;
	}
	memset(f + off, '7', FRAME_LEN - off);
	return FRAME_LEN;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
bench(uint8_t level, const char *name)
{
	struct codec_limits	 lim = { 1024 * 1024, true };
	struct codec_packet	 p;
	uint8_t			*buf;
	size_t			 size = (size_t)NFRAMES * FRAME_LEN;
	size_t			 off, sum = 0;
	uint64_t		 frames = 0;
	double			 t0, t;
	unsigned		 i;

	if ((buf = malloc(size)) == NULL)
		return -1;
	for (i = 0; i < NFRAMES; i++)
		frame_build(buf + (size_t)i * FRAME_LEN, level,
		    (uint16_t)(i % 65535 + 1));
	t0 = now();
	do {
		for (off = 0; off < size; off += p.len) {
			if (codec_decode(&lim, level, CODEC_FROM_CLIENT,
			    buf + off, size - off, size - off, &p) !=
			    CODEC_OK) {
				fprintf(stderr, "bench: frame refused: %s\n",
				    codec_err_str(p.err));
				free(buf);
				return -1;
			}
			sum += p.u.publish.payload_len;
		}
		frames += NFRAMES;
		t = now() - t0;
	} while (t < 1.0);
	printf("codec: %.0f frames/s decode+validate (%d-byte PUBLISH, %s)\n",
	    (double)frames / t, FRAME_LEN, name);
	free(buf);
	return sum != 0 ? 0 : -1;
}

int
main(void)
{
	if (bench(CODEC_V311, "v3.1.1") != 0 || bench(CODEC_V5, "v5") != 0)
		return EXIT_FAILURE;
	return EXIT_SUCCESS;
}
