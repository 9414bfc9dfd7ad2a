/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for whole sessions, both directions.  The input is a
 * conversation: chunks, each a selector byte (bit 7: 0 from the client,
 * 1 from the broker; bits 0-6: the chunk's length) and that many bytes.
 * A chunk is appended to its side's input and the frames complete there
 * go through what session.c does with them, without sockets: the decoder
 * with the listener's limits, codec_session_check(), auth_precheck() and
 * enforce_connect() for the CONNECT, enforce_connack() for the CONNACK,
 * enforce_bad_payload() for a 5.0 PUBLISH whose payload is not the UTF-8
 * its format indicator says, enforce_frame() for the rest, enforce_oversize_delivery() for a 3.x
 * delivery over the size limit.  The policy is a fixed one (below), read
 * by the real loader; the clock moves 50 ms a chunk.
 *
 * What the proxy would send is checked as the peer would see it: every
 * frame going to the broker (forwarded, rewritten, or an answer to the
 * broker) must decode alone and pass a codec_session that plays the
 * broker, and every frame going to the client one that plays the client.
 * A frame the proxy sends that either peer's strict decoder refuses, a
 * memory error, a leak or a state that outgrows its bounds aborts.
 *
 * The proxy's packet-identifier state (pktid) is reached through
 * enforce_frame().  Each simulated peer also keeps the identifiers it has
 * in flight (below, struct ids), and a frame that reaches it out of their
 * state (an ack for an identifier not waiting for that ack, a QoS 2
 * PUBLISH with DUP 0 reusing one in flight) aborts: what the proxy must
 * refuse.  FUZZ_SESSION_IDS=0 in the environment turns that model off.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined; see the Makefile.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqttguard/auth.h"
#include "mqttguard/codec.h"
#include "mqttguard/config.h"
#include "mqttguard/enforce.h"
#include "mqttguard/limits.h"
#include "mqttguard/policy.h"
#include "mqttguard/topic.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(x)	do { if (!(x)) { fprintf(stderr, "%s:%d: %s\n", \
			    __FILE__, __LINE__, #x); abort(); } } while (0)
#define BUF_MAX		(64 * 1024)	/* one side's unread input */
#define STEP_MS		50		/* the clock, per chunk */

/*
 * A small policy that reaches every branch of enforce: ACL rules for
 * each action with %u and %c, per-user limits and rate actions, topic
 * rates, a subscription cap, aliases, an inflight window.
 */
static const char policy_text[] =
    "listeners:\n"
    "  - {name: l, address: 127.0.0.1, port: 18883, tls: false}\n"
    "upstream: {host: 127.0.0.1, port: 1883}\n"
    "auth:\n"
    "  anonymous: true\n"
    "  anonymous_identity: anon\n"
    "acl:\n"
    "  deny_action_v3: disconnect\n"
    "  rules:\n"
    "    - {allow: all, topic: \"#\"}\n"
    "    - {deny: publish, topic: \"p/no/#\"}\n"
    "    - {deny: subscribe, topic: \"s/no\"}\n"
    "    - {deny: read, topic: \"r/no/#\"}\n"
    "    - {deny: all, topic: \"d/%u/+\"}\n"
    "    - {deny: all, topic: \"c/%c\"}\n"
    "    - {allow: all, topic: \"$SYS/#\"}\n"
    "limits:\n"
    "  max_packet_size: 2048\n"
    "  max_keepalive: 60s\n"
    "  max_inflight: 3\n"
    "  max_topic_aliases: 4\n"
    "  max_topic_length: 64\n"
    "  max_topic_levels: 6\n"
    "  max_subscriptions: 4\n"
    "  message_rate: 20\n"
    "  message_burst: 5\n"
    "  users:\n"
    "    anon: {byte_rate: 400, byte_burst: 600}\n"
    "  topic_rates:\n"
    "    - {topic: \"t/slow\", message_rate: 1, message_burst: 1}\n";

static struct policy	*pol;
/*
 * Shared by every input, as by every session of a daemon: made once
 * (their tables are large).  Each session gives back what it held at
 * enforce_fini(), so an input does not see the ones before it.
 */
static struct limits	*limits;
static struct auth_guard *guard;
static bool		 model_ids;	/* unless FUZZ_SESSION_IDS=0 */
static volatile uint8_t	 sink;

/* A side's input: exactly as many bytes allocated as are held. */
struct input {
	uint8_t	*p;
	size_t	 n;
};

/*
 * A peer's identifiers, as it knows them: mine[] for its own PUBLISHes
 * (ID_ACK1: QoS 1, waits for PUBACK; ID_REC: QoS 2, waits for PUBREC;
 * ID_RECD: QoS 2, PUBREC received, may release; ID_COMP: released,
 * waits for PUBCOMP), theirs[] for the QoS 2 PUBLISHes it received and
 * has not seen released.  A PUBREL its sender had no right to send (no
 * PUBREC yet) changes nothing: the proxy does not pass it on.
 */
enum { ID_FREE = 0, ID_ACK1, ID_REC, ID_RECD, ID_COMP };
struct ids {
	uint8_t	mine[65536];
	uint8_t	theirs[65536];
};

struct sim {
	struct enforce_state	 st;
	struct enforce_env	 env;
	struct auth_decision	 dec;
	struct codec_session	 cs;	/* the proxy's */
	struct codec_session	 peer[2];	/* who receives what goes
						   from [dir]: the broker,
						   the client */
	struct ids		*ids[2];	/* owned; by peer, as
						   peer[]; NULL: not kept */
	struct codec_limits	 lim;
	struct input		 in[2];
	uint64_t		 now;
	bool			 open;	/* the CONNECT went upstream */
	bool			 connacked;	/* the broker accepted it */
	bool			 held;	/* the client's frame waits */
	bool			 dead;
	size_t			 skip;	/* of an oversize delivery */
};

static void	audit(void *, const struct enforce_event *);
static void	input_add(struct input *, const uint8_t *, size_t);
static void	input_drain(struct input *, size_t);
static void	deliver(struct sim *, enum codec_dir, const uint8_t *, size_t);
static void	execute(struct sim *, enum codec_dir,
		    const struct codec_packet *, const uint8_t *,
		    struct enforce_verdict *);
static void	on_connect(struct sim *, const struct codec_packet *,
		    const uint8_t *);
static bool	payload_ok(const struct sim *, const struct codec_packet *,
		    const uint8_t *);
static void	on_frame(struct sim *, enum codec_dir,
		    const struct codec_packet *, const uint8_t *);
static int	oversize(struct sim *);
static void	ids_sent(struct sim *, enum codec_dir,
		    const struct codec_packet *);
static void	ids_received(struct sim *, enum codec_dir,
		    const struct codec_packet *);
static void	own(struct sim *, enum codec_dir, const uint8_t *, size_t);
static void	pump(struct sim *, enum codec_dir);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_errors	errs;
	char			path[] = "/tmp/fuzz_session.XXXXXX";
	FILE			*fp;
	int			fd;

	(void)argc;
	(void)argv;
	CHECK((fd = mkstemp(path)) != -1);
	CHECK((fp = fdopen(fd, "w")) != NULL);
	CHECK(fputs(policy_text, fp) >= 0 && fclose(fp) == 0);
	memset(&errs, 0, sizeof(errs));
	pol = config_load(path, &errs);
	unlink(path);
	if (pol == NULL)
		config_errors_print(&errs, stderr);
	CHECK(pol != NULL);
	CHECK((limits = limits_new()) != NULL);
	CHECK((guard = auth_guard_new()) != NULL);
	model_ids = getenv("FUZZ_SESSION_IDS") == NULL ||
	    strcmp(getenv("FUZZ_SESSION_IDS"), "0") != 0;
	return 0;
}

/* Audit events are read whole, as the log would. */
static void
audit(void *arg, const struct enforce_event *e)
{
	size_t	i;
	uint8_t	x = 0;

	(void)arg;
	for (i = 0; e->topic != NULL && i < e->topic_len; i++)
		x ^= e->topic[i];
	if (e->text != NULL)
		x ^= (uint8_t)strlen(e->text);
	sink ^= x;
}

static void
input_add(struct input *in, const uint8_t *p, size_t n)
{
	uint8_t	*q;

	if (n == 0 || in->n + n > BUF_MAX)
		return;
	CHECK((q = malloc(in->n + n)) != NULL);
	if (in->n > 0)
		memcpy(q, in->p, in->n);
	memcpy(q + in->n, p, n);
	free(in->p);
	in->p = q;
	in->n += n;
}

/* Drops <n> bytes; what stays is moved to an exact-size allocation. */
static void
input_drain(struct input *in, size_t n)
{
	struct input	rest = { NULL, 0 };

	CHECK(n <= in->n);
	input_add(&rest, in->p + n, in->n - n);
	free(in->p);
	*in = rest;
}

/*
 * Bytes the proxy sends from <dir>'s side onward (to the broker for
 * CODEC_FROM_CLIENT): whole frames, each of which the receiver's decoder
 * and state rules accept.  Each is decoded from an exact-size copy.
 */
static void
deliver(struct sim *s, enum codec_dir dir, const uint8_t *p, size_t n)
{
	struct codec_session	*peer = &s->peer[dir];
	struct codec_packet	 pkt;
	uint8_t			*copy;
	size_t			 off = 0, len;
	int			 rc;

	while (off < n) {
		CHECK(codec_header_decode(NULL, p + off, n - off, &pkt) ==
		    CODEC_OK && pkt.len <= n - off);
		len = pkt.len;
		CHECK((copy = malloc(len)) != NULL);
		memcpy(copy, p + off, len);
		memset(&pkt, 0, sizeof(pkt));
		rc = codec_decode(NULL, peer->level, dir, copy, len, len,
		    &pkt);
		if (rc != CODEC_OK || pkt.len != len ||
		    codec_session_check(peer, dir, &pkt) != 0) {
			fprintf(stderr, "the proxy sends %s a frame it "
			    "refuses: rc %d type %u: %s\n", dir ==
			    CODEC_FROM_CLIENT ? "the broker" : "the client",
			    rc, pkt.type, rc == CODEC_OK && pkt.len != len ?
			    "length" : codec_err_str(pkt.err));
			abort();
		}
		ids_received(s, dir, &pkt);
		free(copy);
		off += len;
	}
}

/*
 * A frame a peer sent (from <dir>), in that peer's own view: what it
 * sends sets its state (its level, its CONNACK, its aliases) as what it
 * receives does.  Its sender's rules are not in question here.
 */
static void
own(struct sim *s, enum codec_dir dir, const uint8_t *p, size_t n)
{
	struct codec_session	*self = &s->peer[!dir];
	struct codec_packet	 pkt;

	memset(&pkt, 0, sizeof(pkt));
	if (codec_decode(NULL, self->level, dir, p, n, n, &pkt) == CODEC_OK &&
	    codec_session_check(self, dir, &pkt) == 0)
		ids_sent(s, dir, &pkt);
}

/* A frame peer[!<dir>] sent: its own identifiers move on. */
static void
ids_sent(struct sim *s, enum codec_dir dir, const struct codec_packet *pkt)
{
	struct ids	*id = s->ids[!dir];
	uint16_t	 n = pkt->packet_id;
	unsigned	 qos;

	if (id == NULL)
		return;
	switch (pkt->type) {
	case CODEC_PUBLISH:
		qos = (pkt->flags >> 1) & 3;
		if (qos == 1)
			id->mine[n] = ID_ACK1;
		else if (qos == 2 && id->mine[n] != ID_COMP)
			id->mine[n] = ID_REC;
		break;
	case CODEC_PUBREL:
		/* Or a flow of an earlier connection of a kept session. */
		if (id->mine[n] == ID_RECD || (id->mine[n] == ID_FREE &&
		    s->st.ids.t[dir].resumed))
			id->mine[n] = ID_COMP;
		id->theirs[n] = 0;
		break;
	default:
		break;
	}
}

/*
 * A frame the proxy delivered to peer[<dir>]: it must fit the state of
 * that peer's identifiers.
 */
static void
ids_received(struct sim *s, enum codec_dir dir,
    const struct codec_packet *pkt)
{
	struct ids	*id = s->ids[dir];
	uint16_t	 n = pkt->packet_id;
	uint8_t		 want;

	if (id == NULL)
		return;
	switch (pkt->type) {
	case CODEC_PUBACK:
	case CODEC_PUBREC:
	case CODEC_PUBCOMP:
		want = pkt->type == CODEC_PUBACK ? ID_ACK1 :
		    pkt->type == CODEC_PUBREC ? ID_REC : ID_COMP;
		/* A PUBREC again: a receiver's answer to a resend, racing. */
		if (id->mine[n] != want && !(want == ID_REC &&
		    id->mine[n] == ID_RECD)) {
			fprintf(stderr, "the proxy sends %s %s for id %u, "
			    "in state %u\n", dir == CODEC_FROM_CLIENT ?
			    "the broker" : "the client",
			    codec_type_str(pkt->type), n, id->mine[n]);
			abort();
		}
		/* A failed PUBREC (5.0) ends the flow as well. */
		id->mine[n] = pkt->type == CODEC_PUBREC &&
		    pkt->reason < 0x80 ? ID_RECD : ID_FREE;
		break;
	case CODEC_PUBLISH:
		if (((pkt->flags >> 1) & 3) != 2)
			break;
		if (id->theirs[n] && !(pkt->flags & 0x08)) {
			fprintf(stderr, "the proxy sends %s a QoS 2 PUBLISH "
			    "reusing id %u in flight, DUP 0\n", dir ==
			    CODEC_FROM_CLIENT ? "the broker" : "the client",
			    n);
			abort();
		}
		id->theirs[n] = 1;
		break;
	case CODEC_PUBREL:
		id->theirs[n] = 0;
		break;
	default:
		break;
	}
}

/* Carries out verdict <v> on <pkt> (whose bytes are at <p>) from <dir>. */
static void
execute(struct sim *s, enum codec_dir dir, const struct codec_packet *pkt,
    const uint8_t *p, struct enforce_verdict *v)
{
	CHECK(v->action == ENFORCE_FORWARD || v->action == ENFORCE_DROP ||
	    v->action == ENFORCE_ANSWER || v->action == ENFORCE_REWRITE ||
	    v->action == ENFORCE_WAIT || v->action == ENFORCE_CLOSE);
	if (v->resume)
		s->held = false;
	switch (v->action) {
	case ENFORCE_FORWARD:
		deliver(s, dir, p, pkt->len);
		if (pkt->type == CODEC_DISCONNECT)
			s->dead = true;
		break;
	case ENFORCE_ANSWER:
	case ENFORCE_REWRITE:
		CHECK(v->out != NULL && v->out_len > 0);
		deliver(s, v->action == ENFORCE_ANSWER ? !dir : dir, v->out,
		    v->out_len);
		break;
	case ENFORCE_DROP:
		break;
	case ENFORCE_WAIT:
		CHECK(dir == CODEC_FROM_CLIENT);
		s->held = true;
		break;
	case ENFORCE_CLOSE:
		CHECK(v->reason != NULL);
		s->dead = true;
		break;
	}
	enforce_verdict_fini(v);
	CHECK(v->heap == NULL);
}

/* A valid CONNECT: decided as an anonymous or a password login. */
static void
on_connect(struct sim *s, const struct codec_packet *pkt, const uint8_t *p)
{
	struct auth_request	req;
	struct codec_packet	hello;
	struct enforce_verdict	v;

	CHECK(codec_decode(NULL, 0, CODEC_FROM_CLIENT, p, pkt->len,
	    pkt->len, &hello) == CODEC_OK);
	memset(&req, 0, sizeof(req));
	req.pol = pol;
	req.lis = &pol->listeners[0];
	req.pkt = &hello;
	req.addr = "192.0.2.1";
	req.now_ms = s->now;
	if (auth_precheck(&req, s->env.guard, &s->dec) != AUTH_OK) {
		s->dead = true;
		return;
	}
	/* A password is taken as right: the pool is not in the loop. */
	memset(&v, 0, sizeof(v));
	enforce_connect(&s->st, &s->env, &s->dec, &hello, s->now, &v);
	CHECK(v.action == ENFORCE_REWRITE || v.action == ENFORCE_CLOSE);
	if (v.action == ENFORCE_REWRITE) {
		s->lim.max_packet = s->st.L->max_packet;
		s->st.keepalive = enforce_keepalive(&s->st,
		    hello.u.connect.keepalive);
		s->open = true;
	}
	execute(s, CODEC_FROM_CLIENT, pkt, p, &v);
}

/* As session.c's payload_ok(), on the frame's bytes at <p>. */
static bool
payload_ok(const struct sim *s, const struct codec_packet *pkt,
    const uint8_t *p)
{
	size_t	done;

	if (!enforce_payload_utf8(&s->st, pkt))
		return true;
	return topic_utf8_chunk(p + pkt->u.publish.payload_off,
	    pkt->u.publish.payload_len, &done) == 0 &&
	    done == pkt->u.publish.payload_len;
}

/* One valid frame at the head of <dir>'s input, as session.c's handle(). */
static void
on_frame(struct sim *s, enum codec_dir dir, const struct codec_packet *pkt,
    const uint8_t *p)
{
	struct codec_alias	*ca = &s->cs.alias[CODEC_FROM_CLIENT];
	struct enforce_verdict	 v;
	uint16_t		 alias_max = 0;

	if (dir == CODEC_FROM_CLIENT && pkt->type == CODEC_CONNECT) {
		on_connect(s, pkt, p);
		return;
	}
	memset(&v, 0, sizeof(v));
	if (dir == CODEC_FROM_SERVER && pkt->type == CODEC_CONNACK) {
		enforce_connack(&s->st, pkt, &alias_max, &v);
		if (alias_max > 0 && ca->max > alias_max)
			ca->max = alias_max;
		execute(s, dir, pkt, p, &v);
		if (pkt->reason != 0)
			s->dead = true;
		else
			s->connacked = true;
		return;
	}
	if (dir == CODEC_FROM_CLIENT && !payload_ok(s, pkt, p))
		enforce_bad_payload(&s->st, &s->env, pkt, &v);
	else
		enforce_frame(&s->st, &s->env, dir, pkt, dir ==
		    CODEC_FROM_CLIENT ? s->now : 0, &v);
	execute(s, dir, pkt, p, &v);
	CHECK(s->st.n_merges <= ENFORCE_MERGES_MAX);
	CHECK(s->st.n_merges <= s->st.cap_merges || s->st.cap_merges == 0);
}

/*
 * A 3.x delivery over the size limit (session.c's skip_delivery()): its
 * head must be buffered; the rest is skipped as it comes.  Returns 0 when
 * it is being skipped, -1 when more of its head is needed.
 */
static int
oversize(struct sim *s)
{
	struct input		*in = &s->in[CODEC_FROM_SERVER];
	struct codec_packet	 hd;
	struct enforce_verdict	 v;
	size_t			 need;
	unsigned		 qos;
	uint16_t		 id = 0;

	memset(&hd, 0, sizeof(hd));
	if (codec_header_decode(NULL, in->p, in->n, &hd) != CODEC_OK)
		return -1;
	qos = (hd.flags >> 1) & 3;
	if (qos > 0) {
		if (in->n < hd.hdr_len + 2)
			return -1;
		need = hd.hdr_len + 2 + ((size_t)in->p[hd.hdr_len] << 8 |
		    in->p[hd.hdr_len + 1]) + 2;
		if (in->n < need)
			return -1;
		id = (uint16_t)(in->p[need - 2] << 8 | in->p[need - 1]);
	}
	/* The broker sent it: its identifier is in flight. */
	if (s->ids[CODEC_FROM_CLIENT] != NULL && qos > 0 && qos < 3)
		s->ids[CODEC_FROM_CLIENT]->mine[id] = qos == 1 ? ID_ACK1 :
		    ID_REC;
	memset(&v, 0, sizeof(v));
	enforce_oversize_delivery(&s->st, &s->env, qos, id, hd.len, &v);
	if (v.action == ENFORCE_ANSWER) {
		deliver(s, CODEC_FROM_CLIENT, v.out, v.out_len);
		v.action = ENFORCE_DROP;
	}
	if (v.action == ENFORCE_CLOSE)
		s->dead = true;
	enforce_verdict_fini(&v);
	s->skip = hd.len;
	return 0;
}

/* Every frame complete in <dir>'s input, while the session lasts. */
static void
pump(struct sim *s, enum codec_dir dir)
{
	struct input		*in = &s->in[dir];
	struct codec_packet	 pkt;
	size_t			 n;
	int			 rc;

	while (!s->dead && in->n > 0) {
		if (dir == CODEC_FROM_CLIENT && s->held)
			return;
		if (dir == CODEC_FROM_SERVER && !s->open)
			return;		/* no broker before the CONNECT */
		if (dir == CODEC_FROM_SERVER && s->skip > 0) {
			n = in->n < s->skip ? in->n : s->skip;
			input_drain(in, n);
			s->skip -= n;
			continue;
		}
		memset(&pkt, 0, sizeof(pkt));
		rc = codec_decode(&s->lim, s->cs.level, dir, in->p, in->n,
		    in->n, &pkt);
		CHECK(rc != CODEC_NEED_CONTIG);
		if (rc == CODEC_NEED)
			return;
		if (rc == CODEC_ERROR && dir == CODEC_FROM_SERVER &&
		    pkt.err == CODEC_ERR_TOO_LARGE &&
		    pkt.type == CODEC_PUBLISH && s->cs.level != CODEC_V5) {
			if (oversize(s) == -1)
				return;
			continue;
		}
		if (rc == CODEC_ERROR ||
		    codec_session_check(&s->cs, dir, &pkt) != 0) {
			CHECK(pkt.err > CODEC_ERR_NONE &&
			    pkt.err < CODEC_ERR__MAX);
			s->dead = true;
			return;
		}
		/* As session.c's handle(): nothing before the CONNACK. */
		if (dir == CODEC_FROM_CLIENT && s->open && !s->connacked &&
		    pkt.type != CODEC_AUTH)
			return;
		own(s, dir, in->p, pkt.len);
		on_frame(s, dir, &pkt, in->p);
		if (dir == CODEC_FROM_CLIENT && s->held && !s->dead)
			return;		/* the frame stays, to be seen again */
		input_drain(in, pkt.len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim	s;
	size_t		off = 0, n;
	enum codec_dir	dir;
	unsigned	i;

	memset(&s, 0, sizeof(s));
	s.env.limits = limits;
	s.env.guard = guard;
	s.env.audit = audit;
	enforce_init(&s.st, pol, &pol->listeners[0]);
	s.lim.max_packet = s.st.L->max_packet;
	s.lim.reject_control = s.st.L->reject_control_chars;
	codec_session_init(&s.cs);
	for (i = 0; i < 2; i++) {
		codec_session_init(&s.peer[i]);
		if (model_ids)
			CHECK((s.ids[i] = calloc(1, sizeof(*s.ids[i]))) !=
			    NULL);
	}
	s.now = 1000000;

	while (off < size && !s.dead) {
		dir = (data[off] & 0x80) != 0 ? CODEC_FROM_SERVER :
		    CODEC_FROM_CLIENT;
		n = data[off] & 0x7f;
		off++;
		n = n < size - off ? n : size - off;
		input_add(&s.in[dir], data + off, n);
		off += n;
		s.now += STEP_MS;
		if (dir == CODEC_FROM_CLIENT)
			s.held = false;		/* the wait is over */
		pump(&s, dir);
		if (dir == CODEC_FROM_SERVER)
			pump(&s, CODEC_FROM_CLIENT);	/* a slot freed */
	}

	enforce_fini(&s.st, &s.env);
	codec_session_fini(&s.cs);
	for (i = 0; i < 2; i++) {
		codec_session_fini(&s.peer[i]);
		free(s.in[i].p);
		free(s.ids[i]);
	}
	return 0;
}
