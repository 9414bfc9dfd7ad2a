/* SPDX-License-Identifier: ISC */
/*
 * observe — the distinct actions the clients were seen doing.
 *
 * Why a table per thread rather than one table: the note is on every
 * PUBLISH and SUBSCRIBE, and the workers must not wait on each other for
 * it.  Each thread's table has a mutex of its own that only the flush
 * also takes, for as long as it takes to swap two struct hmap: the note
 * pays an uncontended lock (one atomic operation), never a wait behind
 * file I/O, and the flush's merging and writing happen outside every
 * thread's lock.  A lock-free table would save that atomic operation at
 * the price of a reclamation scheme; not worth it for a diagnostic mode.
 *
 * A key is the bytes action (1), identity length (4), identity, client
 * id length (4), client id, topic; records live on the heap, the tables
 * hold pointers.  Who calls: session.c (note), main.c (flush, free).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mqttguard/hmap.h"
#include "mqttguard/log.h"
#include "mqttguard/metrics.h"
#include "mqttguard/observe.h"

struct obs_rec {
	uint64_t	 first, last;		/* seconds since the epoch */
	uint64_t	 n[OBSERVE_VERDICTS];
	size_t		 len;
	uint8_t		 key[];
};

struct obs_slot {
	uint64_t	 h;
	struct obs_rec	*r;			/* owned by the table */
};

struct shard {
	pthread_mutex_t	 mu;
	struct hmap	 map;			/* of struct obs_slot */
	uint64_t	 dropped;		/* since the last flush */
	uint8_t		*kbuf;			/* owned; a key is made
						   here, OBSERVE_KEY_MAX */
	struct shard	*next;			/* in shards */
};

static bool	slot_eq(void *, const void *, const void *, size_t);
static void	type_once(void);
static struct shard *shard_mine(void);
static size_t	key_make(uint8_t *, const char *, const uint8_t *, size_t,
		    enum observe_action, const uint8_t *, size_t);
static int	upsert(struct hmap *, const uint8_t *, size_t,
		    const struct obs_rec *, unsigned);
static void	map_clear(struct hmap *);
static int	write_rec(FILE *, const struct obs_rec *);
static int	write_all(const char *, char *, size_t);

static struct hmap_type		 type = { sizeof(struct obs_slot), 64, 0,
				    slot_eq, NULL, NULL, NULL, { 0 } };
static pthread_once_t		 once = PTHREAD_ONCE_INIT;
static bool			 type_ok;
static pthread_mutex_t		 shards_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shard		*shards;	/* every thread's */
static _Thread_local struct shard *mine;
static struct hmap		 merged;	/* main's; the file's */

static const char *const action_names[OBSERVE_ACTIONS] = {
	"publish", "subscribe", "will"
};

static bool
slot_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct obs_rec	*r = ((const struct obs_slot *)slot)->r;

	(void)ctx;
	return r->len == len && memcmp(r->key, key, len) == 0;
}

static void
type_once(void)
{
	type_ok = hmap_type_init(&type) == 0;
	hmap_init(&merged, &type, NULL, 0);
}

/* The calling thread's table, made on its first note; NULL on ENOMEM. */
static struct shard *
shard_mine(void)
{
	struct shard	*s;

	if (mine != NULL)
		return mine;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->kbuf = malloc(OBSERVE_KEY_MAX)) == NULL) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	hmap_init(&s->map, &type, NULL, 0);
	pthread_mutex_lock(&shards_mu);
	s->next = shards;
	shards = s;
	pthread_mutex_unlock(&shards_mu);
	return mine = s;
}

static size_t
key_make(uint8_t *k, const char *id, const uint8_t *cid, size_t cid_len,
    enum observe_action a, const uint8_t *topic, size_t topic_len)
{
	uint32_t	idl = (uint32_t)strlen(id), cl = (uint32_t)cid_len;
	size_t		n = 0;

	k[n++] = (uint8_t)a;
	memcpy(k + n, &idl, 4);
	n += 4;
	memcpy(k + n, id, idl);
	n += idl;
	memcpy(k + n, &cl, 4);
	n += 4;
	if (cid_len > 0)
		memcpy(k + n, cid, cid_len);
	n += cid_len;
	memcpy(k + n, topic, topic_len);
	return n + topic_len;
}

/*
 * Adds <add> (counts, times) to the record of <key> in <m>, making it
 * if there is room under <max>.  0, 1 (no room: dropped), -1 (ENOMEM).
 */
static int
upsert(struct hmap *m, const uint8_t *key, size_t len,
    const struct obs_rec *add, unsigned max)
{
	struct obs_slot	*sl;
	struct obs_rec	*r;
	uint64_t	 h = hmap_hash(&type, key, len);
	size_t		 i;

	if ((sl = hmap_find(m, h, key, len)) != NULL) {
		r = sl->r;
		if (add->first < r->first)
			r->first = add->first;
		if (add->last > r->last)
			r->last = add->last;
		for (i = 0; i < OBSERVE_VERDICTS; i++)
			r->n[i] += add->n[i];
		return 0;
	}
	if (m->n >= max)
		return 1;
	if ((r = malloc(sizeof(*r) + len)) == NULL)
		return -1;
	*r = *add;
	r->len = len;
	memcpy(r->key, key, len);
	if ((sl = hmap_add(m, h)) == NULL) {
		free(r);
		return -1;
	}
	sl->r = r;
	return 0;
}

void
observe_note(const char *identity, const uint8_t *cid, size_t cid_len,
    enum observe_action action, const uint8_t *topic, size_t topic_len,
    enum observe_verdict verdict, uint64_t now, unsigned max_entries)
{
	struct obs_rec	add;
	struct shard	*s;
	size_t		len;

	pthread_once(&once, type_once);
	if (!type_ok || (unsigned)action >= OBSERVE_ACTIONS ||
	    (unsigned)verdict >= OBSERVE_VERDICTS || strlen(identity) >
	    65535 || cid_len > 65535 || topic_len > 65535 ||
	    (s = shard_mine()) == NULL) {
		metrics_observe_dropped(1);
		return;
	}
	len = key_make(s->kbuf, identity, cid, cid_len, action, topic,
	    topic_len);
	memset(&add, 0, sizeof(add));
	add.first = add.last = now;
	add.n[verdict] = 1;
	pthread_mutex_lock(&s->mu);
	if (upsert(&s->map, s->kbuf, len, &add, max_entries) != 0)
		s->dropped++;
	pthread_mutex_unlock(&s->mu);
}

/* Frees every record of <m> and empties it. */
static void
map_clear(struct hmap *m)
{
	struct obs_slot	*sl = NULL;

	while ((sl = hmap_next(m, sl)) != NULL)
		free(sl->r);
	hmap_fini(m);
	hmap_init(m, &type, NULL, 0);
}

int
observe_flush(const char *file, unsigned max_entries, char *err,
    size_t errlen)
{
	struct shard	*s;
	struct obs_slot	*sl;
	struct hmap	 taken;
	uint64_t	 dropped;

	pthread_once(&once, type_once);
	if (!type_ok) {
		snprintf(err, errlen, "no randomness for the table's key");
		return -1;
	}
	pthread_mutex_lock(&shards_mu);
	for (s = shards; s != NULL; s = s->next) {
		pthread_mutex_lock(&s->mu);
		taken = s->map;
		hmap_init(&s->map, &type, NULL, 0);
		dropped = s->dropped;
		s->dropped = 0;
		pthread_mutex_unlock(&s->mu);
		for (sl = NULL; (sl = hmap_next(&taken, sl)) != NULL; )
			if (upsert(&merged, sl->r->key, sl->r->len, sl->r,
			    max_entries) != 0)
				dropped++;
		map_clear(&taken);
		metrics_observe_dropped(dropped);
	}
	pthread_mutex_unlock(&shards_mu);
	metrics_observe_entries(merged.n);
	if (file == NULL || *file == '\0')
		return 0;
	return write_all(file, err, errlen);
}

/* One record as a JSON line. */
static int
write_rec(FILE *fp, const struct obs_rec *r)
{
	static char	buf[6 * 65535 + 8];
	const uint8_t	*p = r->key + 1;
	uint32_t	 idl, cidl;

	memcpy(&idl, p, 4);
	p += 4;
	fputs("{\"identity\":\"", fp);
	log_json_escape(buf, sizeof(buf), p, idl);
	fputs(buf, fp);
	p += idl;
	memcpy(&cidl, p, 4);
	p += 4;
	fputs("\",\"client_id\":\"", fp);
	log_json_escape(buf, sizeof(buf), p, cidl);
	fputs(buf, fp);
	p += cidl;
	fprintf(fp, "\",\"action\":\"%s\",\"topic\":\"",
	    action_names[r->key[0] < OBSERVE_ACTIONS ? r->key[0] : 0]);
	log_json_escape(buf, sizeof(buf), p, r->len - (size_t)(p - r->key));
	fputs(buf, fp);
	return fprintf(fp, "\",\"first\":%llu,\"last\":%llu,\"count\":%llu,"
	    "\"allowed\":%llu,\"denied\":%llu,\"would_deny\":%llu}\n",
	    (unsigned long long)r->first, (unsigned long long)r->last,
	    (unsigned long long)(r->n[0] + r->n[1] + r->n[2]),
	    (unsigned long long)r->n[0], (unsigned long long)r->n[1],
	    (unsigned long long)r->n[2]) < 0 ? -1 : 0;
}

/* The merged table to <file>: a temporary file, then rename(2). */
static int
write_all(const char *file, char *err, size_t errlen)
{
	struct obs_slot	*sl = NULL;
	char		 tmp[4200];
	FILE		*fp;
	int		 fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", file) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", file);
		return -1;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0640) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	while ((sl = hmap_next(&merged, sl)) != NULL)
		if (write_rec(fp, sl->r) == -1)
			break;
	if (ferror(fp) || fflush(fp) == EOF || fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		fclose(fp);
		unlink(tmp);
		return -1;
	}
	if (fclose(fp) == EOF || rename(tmp, file) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

void
observe_free(void)
{
	struct shard	*s;

	pthread_mutex_lock(&shards_mu);
	while ((s = shards) != NULL) {
		shards = s->next;
		map_clear(&s->map);
		hmap_fini(&s->map);
		pthread_mutex_destroy(&s->mu);
		free(s->kbuf);
		free(s);
	}
	pthread_mutex_unlock(&shards_mu);
	if (merged.type == NULL)
		return;		/* nothing was ever noted or flushed */
	map_clear(&merged);
	hmap_fini(&merged);
}
