/* SPDX-License-Identifier: ISC */
/*
 * enforce — the policy's verdict on each frame of a session.
 *
 * Owns the decisions that used to be mixed with I/O: the will topic, the
 * identity's limits and per-user caps, the client-id claim and the
 * CONNECT the broker gets; the CONNACK the client gets; on an open
 * session, the inflight window, topic bounds, rates (all buckets or
 * none), the ACL on PUBLISH, SUBSCRIBE and deliveries, the answers that
 * finish the QoS flow of a denied PUBLISH, and the SUBACK merged back for
 * a SUBSCRIBE sent without its refused filters.
 *
 * Nothing here reads a socket, the clock or writes a log line: the time
 * comes in as an argument, answers go out as bytes in the verdict, audit
 * events through env->audit.  Every ACL decision and per-user refusal is
 * also counted with its labels (metrics_acl(), metrics_refused()): the
 * audit events carry no labels.  Bucket arithmetic is limits.c's; the
 * ACL's word is acl.c's.  A failed allocation ends the session (ENFORCE_CLOSE
 * with abort), never half-applies a decision.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttguard/enforce.h"
#include "mqttguard/topic.h"

#define TOPIC_LOG	256	/* topic bytes quoted in an event's text */
#define ENFORCE_WARNED_LIMIT	0x10000	/* warned(): a limit, not the ACL */

static void	verdict_init(struct enforce_verdict *);
static void	verdict_close(struct enforce_verdict *, uint8_t, const char *);
static void	verdict_oom(struct enforce_verdict *, const char *);
static uint8_t	*verdict_buf(struct enforce_verdict *, size_t);
static void	event_limit(const struct enforce_env *, enum metric, bool,
		    uint8_t, const char *, ...)
		    __attribute__((format(printf, 5, 6)));
static void	event_emit(const struct enforce_env *, enum enforce_event_kind,
		    enum metric, bool, uint8_t, const char *);
static void	event_refuse(const struct enforce_env *, enum metric,
		    uint8_t, const char *);
static bool	monitored(const struct enforce_state *, unsigned,
		    const struct acl_rule *);
static bool	warned(struct enforce_state *, const void *, unsigned);
static bool	limit_monitored(struct enforce_state *,
		    const struct enforce_env *, unsigned, unsigned,
		    const char *);
static void	observe(const struct enforce_state *,
		    const struct enforce_env *, enum acl_action, bool,
		    const struct codec_buf *, enum enforce_obs_verdict);
static bool	acl_allow(struct enforce_state *,
		    const struct enforce_env *, enum acl_action, bool,
		    const struct codec_buf *);
static bool	topic_within(const struct policy_limits *,
		    const struct codec_buf *);
static int	identity_limits(struct enforce_state *,
		    const struct enforce_env *, uint64_t,
		    struct enforce_verdict *);
static bool	will_allowed(struct enforce_state *,
		    const struct enforce_env *, const struct codec_connect *);
static int	claim_client_id(struct enforce_state *,
		    const struct enforce_env *, const struct codec_buf *,
		    struct enforce_verdict *);
static void	client_publish(struct enforce_state *,
		    const struct enforce_env *, const struct codec_packet *,
		    uint64_t, struct enforce_verdict *);
static void	deny_publish(struct enforce_state *, enum codec_dir,
		    const struct codec_packet *, struct enforce_verdict *);
static void	ack(struct enforce_state *, uint8_t, uint16_t, uint8_t,
		    struct enforce_verdict *);
static void	broker_ack(struct enforce_state *, const struct codec_packet *,
		    struct enforce_verdict *);
static int	filters_within(struct enforce_state *,
		    const struct enforce_env *, const struct codec_packet *,
		    uint64_t, struct enforce_verdict *);
static void	subscribe(struct enforce_state *, const struct enforce_env *,
		    const struct codec_packet *, struct enforce_verdict *);
static void	note_added(uint8_t *, size_t *, size_t,
		    const struct codec_buf *);
static void	forget_added(struct enforce_state *, const uint8_t *, size_t,
		    const uint8_t *);
static int	subs_place(struct enforce_state *,
		    const struct enforce_env *, const struct codec_buf *,
		    size_t, uint8_t *, size_t *);
static void	answer_suback(struct enforce_state *, uint16_t,
		    const uint8_t *, size_t, struct enforce_verdict *);
static bool	merge_room(struct enforce_state *, bool *);
static void	unsubscribe(struct enforce_state *,
		    const struct codec_packet *);
static void	merge_suback(struct enforce_state *,
		    const struct codec_packet *, struct enforce_verdict *);
struct taken;
static uint64_t	take(struct limits_bucket *, uint64_t, double, double,
		    double, struct taken *, size_t *);
static uint64_t	publish_tokens(struct enforce_state *,
		    const struct enforce_env *, uint64_t,
		    const struct codec_packet *, const char **);
static enum pktid_verdict ids_check(struct enforce_state *,
		    const struct enforce_env *, enum codec_dir,
		    const struct codec_packet *, struct enforce_verdict *);
static void	ids_record(struct enforce_state *, enum codec_dir,
		    const struct codec_packet *, struct enforce_verdict *);
static void	event_protocol(const struct enforce_env *, enum codec_dir,
		    enum codec_err, uint8_t, const char *, ...)
		    __attribute__((format(printf, 5, 6)));
static bool	broker_allows(struct enforce_state *,
		    const struct enforce_env *, const struct codec_packet *,
		    struct enforce_verdict *);
static unsigned	inflight(const struct enforce_state *);

void
enforce_init(struct enforce_state *st, const struct policy *pol,
    const struct policy_listener *lis)
{
	memset(st, 0, sizeof(*st));
	st->pol = pol;
	st->lis = lis;
	st->L = &lis->limits;
	st->identity = "";
	st->max_qos = 2;
	st->retain_ok = true;
	pktid_init(&st->ids);
}

void
enforce_fini(struct enforce_state *st, const struct enforce_env *env)
{
	limits_user_release(env->limits, st->user);
	st->user = NULL;
	if (st->claimed)
		auth_registry_release(env->guard, st->client_id,
		    st->client_id_len, st->persistent);
	st->claimed = false;
	free((void *)st->client_id);
	st->client_id = NULL;
	pktid_fini(&st->ids);
	while (st->n_merges > 0) {
		st->n_merges--;
		free(st->merges[st->n_merges].codes);
		free(st->merges[st->n_merges].added);
	}
	free(st->merges);
	st->merges = NULL;
	free(st->r_topics);
	st->r_topics = NULL;
	limits_subs_free(st->subs);
	st->subs = NULL;
	free(st->own_lim);
	st->own_lim = NULL;
	st->L = &st->lis->limits;
}

int
enforce_rebind(struct enforce_state *st, const struct policy *pol,
    const struct policy_listener *lis)
{
	const struct policy_limits	*l = &lis->limits;
	struct policy_limits		 tmp, *own = NULL;
	struct limits_bucket		*rt = NULL;
	struct limits_subs		*subs = st->subs;

	if (st->decided) {
		if ((l = policy_limits_for(pol, lis, st->identity, &tmp)) ==
		    &tmp) {
			if ((own = malloc(sizeof(*own))) == NULL)
				return -1;
			*own = tmp;
			l = own;
		}
		if (pol->n_topic_rates > 0 && (rt = calloc(2 *
		    pol->n_topic_rates, sizeof(*rt))) == NULL)
			goto oom;
		if (l->max_subscriptions > 0 && subs == NULL &&
		    (subs = limits_subs_new()) == NULL)
			goto oom;
	}
	if (l->max_subscriptions == 0 && subs != NULL) {
		limits_subs_free(subs);
		subs = NULL;
	}
	free(st->own_lim);
	free(st->r_topics);
	st->own_lim = own;
	st->r_topics = rt;
	st->subs = subs;
	st->L = l;
	st->pol = pol;
	st->lis = lis;
	st->n_warned = 0;	/* rules of the old policy: logged anew */
	acl_cache_clear(&st->acl_cache);	/* its serial would do too */
	return 0;
oom:
	free(own);
	free(rt);
	return -1;
}

/* The heap copy may hold a password (the CONNECT): wiped before free. */
void
enforce_verdict_fini(struct enforce_verdict *v)
{
	if (v->heap != NULL) {
		explicit_bzero(v->heap, v->out_len);
		free(v->heap);
		v->heap = NULL;
	}
	v->out = NULL;
	v->out_len = 0;
}

static void
verdict_init(struct enforce_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->action = ENFORCE_FORWARD;
}

static void
verdict_close(struct enforce_verdict *v, uint8_t code, const char *reason)
{
	enforce_verdict_fini(v);
	v->action = ENFORCE_CLOSE;
	v->code = code;
	v->reason = reason;
}

static void
verdict_oom(struct enforce_verdict *v, const char *reason)
{
	verdict_close(v, 0, reason);
	v->abort = true;
}

/* Room for <n> bytes of out: inline when small.  NULL on ENOMEM. */
static uint8_t *
verdict_buf(struct enforce_verdict *v, size_t n)
{
	uint8_t	*p;

	if (n <= sizeof(v->inl))
		p = v->inl;
	else if ((p = v->heap = malloc(n)) == NULL)
		return NULL;
	v->out = p;
	v->out_len = n;
	return p;
}

static void
event_limit(const struct enforce_env *env, enum metric m, bool quiet,
    uint8_t code, const char *fmt, ...)
{
	char	text[ENFORCE_TEXT_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	event_emit(env, ENFORCE_EV_LIMIT, m, quiet, code, text);
}

static void
event_refuse(const struct enforce_env *env, enum metric m, uint8_t code,
    const char *why)
{
	event_emit(env, ENFORCE_EV_REFUSE, m, false, code, why);
}

/* One limit or refusal event to env->audit; <text> lives for the call. */
static void
event_emit(const struct enforce_env *env, enum enforce_event_kind kind,
    enum metric m, bool quiet, uint8_t code, const char *text)
{
	struct enforce_event	e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.metric = m;
	e.quiet = quiet;
	e.code = code;
	e.text = text;
	env->audit(env->arg, &e);
}
/* ---- monitor mode ----------------------------------------------------- */

/*
 * The one place a denial is turned into a warning: whether a refusal by
 * <rule> (the ACL's deciding rule; NULL: the default deny, or a limit)
 * or by limit <bit> (POLICY_MON_*; 0: an ACL decision) is only to be
 * counted and logged.  The listener's mode (the policy's mode unless the
 * listener says) covers every kind; a deny rule's monitor: true and
 * limits.monitor cover their own.  Read from the snapshot in force, so a
 * reload switches an open session at its next frame.
 */
static bool
monitored(const struct enforce_state *st, unsigned bit,
    const struct acl_rule *rule)
{
	if (st->lis != NULL && st->lis->mode == POLICY_MONITOR)
		return true;
	if (rule != NULL && rule->monitor)
		return true;
	return bit != 0 && (st->L->monitor & bit) != 0;
}

/*
 * Whether this session has had a would-be denial by <rule>/<kind> logged
 * already; notes it if not.  The last ENFORCE_WARNED_MAX are kept.
 * <kind>: an ACL decision's enum metrics_would, or a limit's
 * POLICY_MON_* bit with ENFORCE_WARNED_LIMIT, so the two never meet.
 */
static bool
warned(struct enforce_state *st, const void *rule, unsigned kind)
{
	unsigned	i, n = st->n_warned < ENFORCE_WARNED_MAX ?
			    st->n_warned : ENFORCE_WARNED_MAX;

	for (i = 0; i < n; i++)
		if (st->warned[i].rule == rule && st->warned[i].kind == kind)
			return true;
	st->warned[st->n_warned % ENFORCE_WARNED_MAX] =
	    (struct enforce_warned){ rule, kind };
	st->n_warned++;
	return false;
}

/*
 * Limit <bit> (POLICY_MON_*, counted as metrics kind <wk>) would refuse
 * the frame: true when it is in monitor mode, with a would-be denial
 * event naming limits.<what>; false (nothing reported) when the caller
 * must enforce it.
 */
static bool
limit_monitored(struct enforce_state *st, const struct enforce_env *env,
    unsigned bit, unsigned wk, const char *what)
{
	struct enforce_event	e;
	char			text[ENFORCE_TEXT_MAX];

	if (!monitored(st, bit, NULL))
		return false;
	snprintf(text, sizeof(text), "over limits.%s: would be refused "
	    "(monitor mode)", what);
	memset(&e, 0, sizeof(e));
	e.kind = ENFORCE_EV_LIMIT;
	e.metric = M_RATE_LIMITED;
	e.would = true;
	e.would_kind = wk;
	e.repeat = warned(st, NULL, ENFORCE_WARNED_LIMIT | bit);
	e.text = text;
	env->audit(env->arg, &e);
	return true;
}

/* An action for audit.observe, when the session's env observes. */
static void
observe(const struct enforce_state *st, const struct enforce_env *env,
    enum acl_action action, bool will, const struct codec_buf *topic,
    enum enforce_obs_verdict verdict)
{
	struct enforce_obs	o;

	if (env->observe == NULL || action == ACL_READ)
		return;
	o.identity = st->identity;
	o.client_id = st->client_id;
	o.client_id_len = st->client_id_len;
	o.action = will ? ENFORCE_OBS_WILL : action == ACL_PUBLISH ?
	    ENFORCE_OBS_PUBLISH : ENFORCE_OBS_SUBSCRIBE;
	o.topic = topic->p;
	o.topic_len = topic->len;
	o.verdict = verdict;
	env->observe(env->arg, &o);
}

/* ---- the ACL ----------------------------------------------------------- */

/*
 * The ACL's word on <action> for <topic> (<will>: the topic of a will);
 * a denial is an audit event, and passes when it is in monitor mode
 * (a would-be denial, logged once per session and rule).  The verdict
 * comes through the session's decision cache (acl.h): the same allow and
 * deciding rule as acl_check(), so monitor mode, metrics, observation and
 * audit, all decided below from that verdict, cannot tell the difference.
 */
static bool
acl_allow(struct enforce_state *st, const struct enforce_env *env,
    enum acl_action action, bool will, const struct codec_buf *topic)
{
	struct acl_subject	who;
	struct acl_verdict	av;
	struct enforce_event	e;
	bool			mon;

	if (st->pol->acl == NULL) {
		observe(st, env, action, will, topic, ENFORCE_OBS_ALLOWED);
		return true;
	}
	who.identity = st->identity;
	who.client_id = st->client_id != NULL ? (const char *)st->client_id :
	    "";
	who.client_id_len = st->client_id_len;
	if (acl_check_cached(st->pol->acl, &st->acl_cache, &who, action,
	    topic->p, topic->len, &av)) {
		metrics_acl(action, true);
		observe(st, env, action, will, topic, ENFORCE_OBS_ALLOWED);
		return true;
	}
	mon = monitored(st, 0, av.rule);
	metrics_acl(action, mon);
	observe(st, env, action, will, topic, mon ? ENFORCE_OBS_WOULD_DENY :
	    ENFORCE_OBS_DENIED);
	memset(&e, 0, sizeof(e));
	e.kind = ENFORCE_EV_ACL;
	e.metric = M_ACL_DENIED;
	e.action = action;
	e.topic = topic->p;
	e.topic_len = topic->len;
	e.rule = av.rule;
	e.code = action == ACL_READ || mon ? 0 : 0x87;	/* not authorized */
	if (mon) {
		e.would = true;
		e.would_kind = will ? METRICS_W_WILL : action == ACL_PUBLISH ?
		    METRICS_W_PUBLISH : action == ACL_SUBSCRIBE ?
		    METRICS_W_SUBSCRIBE : METRICS_W_READ;
		e.repeat = warned(st, av.rule, e.would_kind);
	}
	env->audit(env->arg, &e);
	return mon;
}

/* A topic or filter within limits.max_topic_length and max_topic_levels. */
static bool
topic_within(const struct policy_limits *l, const struct codec_buf *t)
{
	size_t	i, levels = 1;

	if (l->max_topic_length > 0 && t->len > l->max_topic_length)
		return false;
	if (l->max_topic_levels == 0)
		return true;
	for (i = 0; i < t->len; i++)
		if (t->p[i] == '/' && ++levels > l->max_topic_levels)
			return false;
	return true;
}

uint16_t
enforce_keepalive(const struct enforce_state *st, uint16_t asked)
{
	unsigned	max = st->L->max_keepalive_ms / 1000;

	return (uint16_t)(asked == 0 || asked > max ? max : asked);
}

/* ---- CONNECT and CONNACK ----------------------------------------------- */

void
enforce_connect(struct enforce_state *st, const struct enforce_env *env,
    const struct auth_decision *dec, const struct codec_packet *pkt,
    uint64_t now, struct enforce_verdict *v)
{
	const struct codec_connect	*c = &pkt->u.connect;
	const struct policy_auth	*a = &st->pol->auth;
	struct codec_buf		 user, pass, *up = NULL, *pw = NULL;
	uint8_t				*buf;
	uint32_t			 max;
	size_t				 n;

	verdict_init(v);
	st->identity = dec->identity;
	acl_cache_clear(&st->acl_cache);
	st->level = c->level;
	st->persistent = c->level == CODEC_V5 ?
	    pkt->props.session_expiry > 0 : !(c->flags & CODEC_CF_CLEAN);
	/*
	 * Identifiers in use: a 5.0 side is held to the Receive Maximum the
	 * other announced (the client's own is in its CONNECT; the broker's
	 * comes with the CONNACK), a 3.x one to limits.max_packet_ids.  A
	 * client that keeps its session may finish, with PUBREL, a QoS 2
	 * flow of an earlier connection [MQTT-4.4.0-1].
	 */
	if (c->level == CODEC_V5) {
		pktid_cap(&st->ids, CODEC_FROM_SERVER,
		    CODEC_PROP_HAS(&pkt->props, CODEC_PROP_RECEIVE_MAX) ?
		    pkt->props.receive_max : 65535);
		pktid_cap(&st->ids, CODEC_FROM_CLIENT, st->L->max_inflight);
	} else {
		pktid_cap(&st->ids, CODEC_FROM_SERVER, st->L->max_packet_ids);
		pktid_cap(&st->ids, CODEC_FROM_CLIENT, st->L->max_packet_ids);
	}
	pktid_resume(&st->ids, CODEC_FROM_CLIENT,
	    !(c->flags & CODEC_CF_CLEAN));
	/* A will is a delayed PUBLISH: its topic must be publishable. */
	if ((c->flags & CODEC_CF_WILL) && !will_allowed(st, env, c)) {
		event_refuse(env, M_AUTH_FAILED, 0x87,
		    "will topic denied by the ACL");
		verdict_close(v, 0x87, "will topic denied by the ACL");
		return;
	}
	if (identity_limits(st, env, now, v) == -1 ||
	    claim_client_id(st, env, &c->client_id, v) == -1)
		return;
	if (!dec->anonymous) {
		user.p = (const uint8_t *)dec->identity;
		user.len = strlen(dec->identity);
		up = &user;
	}
	if (a->upstream_password != NULL && up != NULL) {
		pass.p = a->upstream_password;
		pass.len = a->upstream_password_len;
		pw = &pass;
	}
	/* A 5.0 broker is told to send nothing the proxy would refuse. */
	max = st->L->max_packet > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)st->L->max_packet;
	n = codec_encode_connect(NULL, 0, pkt, up, pw, max);
	if (n == 0 || (buf = malloc(n)) == NULL) {
		event_refuse(env, M_AUTH_FAILED,
		    auth_reason(AUTH_FAIL_ERROR),
		    auth_result_str(AUTH_FAIL_ERROR));
		verdict_close(v, auth_reason(AUTH_FAIL_ERROR),
		    auth_result_str(AUTH_FAIL_ERROR));
		return;
	}
	codec_encode_connect(buf, n, pkt, up, pw, max);
	if (codec_connect_will_clamp(pkt, &v->will_delay)) {
		v->will_clamped = true;
		metrics_add(M_WILL_DELAY_CLAMPED, 1);
	}
	st->decided = true;
	v->heap = buf;
	v->out = buf;
	v->out_len = n;
	v->action = ENFORCE_REWRITE;
}

/*
 * The ACL's word on the will of CONNECT <c>, checked before anything is
 * counted or claimed, with the client id it asks for (a %c rule sees it).
 */
static bool
will_allowed(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_connect *c)
{
	bool	ok;

	st->client_id = c->client_id.p;
	st->client_id_len = c->client_id.len;
	ok = acl_allow(st, env, ACL_PUBLISH, true, &c->will_topic);
	st->client_id = NULL;
	st->client_id_len = 0;
	return ok;
}

/*
 * The identity is known: its own limits (limits.users, limits.groups)
 * replace the listener's, and its per-user caps count this connection.
 * Over one: 5.0 CONNACK 0x97 (quota exceeded) or 0x9F (connection rate
 * exceeded), 3.x 0x03 (server unavailable).  -1 with a verdict when
 * refused.
 */
static int
identity_limits(struct enforce_state *st, const struct enforce_env *env,
    uint64_t now, struct enforce_verdict *v)
{
	const struct policy_limits	*l;
	struct policy_limits		 tmp;
	enum limits_refusal		 r;
	size_t				 nr = st->pol->n_topic_rates;

	l = policy_limits_for(st->pol, st->lis, st->identity, &tmp);
	if (l == &tmp) {
		if ((st->own_lim = malloc(sizeof(*st->own_lim))) == NULL)
			goto oom;
		*st->own_lim = tmp;
		l = st->own_lim;
	}
	st->L = l;
	if (nr > 0 && (st->r_topics = calloc(2 * nr,
	    sizeof(*st->r_topics))) == NULL)
		goto oom;
	if (l->max_subscriptions > 0 &&
	    (st->subs = limits_subs_new()) == NULL)
		goto oom;
	r = limits_user_admit(env->limits, st->identity, l, now, &st->user);
	if (r == LIMITS_OK)
		return 0;
	metrics_refused(st->lis->index, r);
	event_refuse(env, M_LIMIT_USER, r == LIMITS_USER_RATE ? 0x9F : 0x97,
	    limits_refusal_str(r));
	verdict_close(v, r == LIMITS_USER_RATE ? 0x9F : 0x97,
	    limits_refusal_str(r));
	return -1;
oom:
	verdict_close(v, 0x88, "out of memory for the identity's limits");
	return -1;
}

/*
 * Registers the client id for the identity: another identity's live or
 * persistent session keeps it (0x85).  An empty id (the broker assigns
 * one) claims nothing.
 */
static int
claim_client_id(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_buf *cid, struct enforce_verdict *v)
{
	uint8_t	*copy;

	if (cid->len == 0)
		return 0;
	if (auth_registry_claim(env->guard, cid->p, cid->len, st->identity,
	    st->persistent) == -1) {
		event_refuse(env, M_AUTH_FAILED,
		    auth_reason(AUTH_FAIL_CLIENT_ID_TAKEN),
		    auth_result_str(AUTH_FAIL_CLIENT_ID_TAKEN));
		verdict_close(v, auth_reason(AUTH_FAIL_CLIENT_ID_TAKEN),
		    auth_result_str(AUTH_FAIL_CLIENT_ID_TAKEN));
		return -1;
	}
	if ((copy = malloc(cid->len)) == NULL) {
		auth_registry_release(env->guard, cid->p, cid->len,
		    st->persistent);
		event_refuse(env, M_AUTH_FAILED,
		    auth_reason(AUTH_FAIL_ERROR),
		    auth_result_str(AUTH_FAIL_ERROR));
		verdict_close(v, auth_reason(AUTH_FAIL_ERROR),
		    auth_result_str(AUTH_FAIL_ERROR));
		return -1;
	}
	memcpy(copy, cid->p, cid->len);
	st->client_id = copy;
	st->client_id_len = cid->len;
	st->claimed = true;
	return 0;
}

void
enforce_connack(struct enforce_state *st, const struct codec_packet *pkt,
    uint16_t *alias_max, struct enforce_verdict *v)
{
	struct codec_connack_amend	 am;
	uint16_t			 ka = st->keepalive;
	uint8_t				*buf;
	size_t				 n;

	verdict_init(v);
	*alias_max = 0;
	/*
	 * The broker resends what its stored session holds [MQTT-4.4.0-1];
	 * a 3.1 CONNACK has no session present flag to say so.
	 */
	pktid_resume(&st->ids, CODEC_FROM_SERVER, pkt->session_present ||
	    (st->level == CODEC_V31 && st->persistent));
	if (st->level != CODEC_V5 || pkt->reason != 0)
		return;
	if (CODEC_PROP_HAS(&pkt->props, CODEC_PROP_MAX_QOS))
		st->max_qos = pkt->props.max_qos;
	if (CODEC_PROP_HAS(&pkt->props, CODEC_PROP_RETAIN_AVAILABLE))
		st->retain_ok = pkt->props.retain_available != 0;
	/* The broker's own Server Keep Alive, if lower, wins. */
	if (CODEC_PROP_HAS(&pkt->props, CODEC_PROP_SERVER_KEEP_ALIVE) &&
	    pkt->props.server_keep_alive > 0 &&
	    pkt->props.server_keep_alive < ka)
		st->keepalive = ka = pkt->props.server_keep_alive;
	memset(&am, 0, sizeof(am));
	am.max_packet = st->L->max_packet > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)st->L->max_packet;
	am.receive_max = (uint16_t)st->L->max_inflight;
	am.topic_alias_max = (uint16_t)st->L->max_topic_aliases;
	/*
	 * The client keeps to a Server Keep Alive it is told
	 * [MQTT-3.2.2-21]: whenever the broker sent one, or the proxy
	 * enforces other than what was asked, it is told what the proxy
	 * enforces, never a longer one of the broker's.
	 */
	if (ka != st->keepalive_asked ||
	    CODEC_PROP_HAS(&pkt->props, CODEC_PROP_SERVER_KEEP_ALIVE))
		am.keepalive = ka;
	/* What the client is told, and held to: the lower of the two. */
	if (am.topic_alias_max > 0 &&
	    CODEC_PROP_HAS(&pkt->props, CODEC_PROP_TOPIC_ALIAS_MAX))
		*alias_max = pkt->props.topic_alias_max < am.topic_alias_max ?
		    pkt->props.topic_alias_max : am.topic_alias_max;
	/* The client's window: the lower of the broker's and the policy's. */
	pktid_cap(&st->ids, CODEC_FROM_CLIENT, CODEC_PROP_HAS(&pkt->props,
	    CODEC_PROP_RECEIVE_MAX) && (am.receive_max == 0 ||
	    pkt->props.receive_max < am.receive_max) ?
	    pkt->props.receive_max : am.receive_max);
	n = codec_encode_connack_amended(NULL, 0, pkt, &am);
	if (n == 0 || (buf = verdict_buf(v, n)) == NULL) {
		verdict_oom(v, "cannot amend CONNACK");
		return;
	}
	codec_encode_connack_amended(buf, n, pkt, &am);
	v->action = ENFORCE_REWRITE;
}

/* ---- frames of an open session ----------------------------------------- */

void
enforce_frame(struct enforce_state *st, const struct enforce_env *env,
    enum codec_dir dir, const struct codec_packet *pkt, uint64_t now,
    struct enforce_verdict *v)
{
	enum pktid_verdict	pv;

	verdict_init(v);
	if ((pv = ids_check(st, env, dir, pkt, v)) != PKTID_OK &&
	    pv != PKTID_ANSWER)
		return;
	switch (pkt->type) {
	case CODEC_PUBLISH:
		if (dir == CODEC_FROM_CLIENT)
			client_publish(st, env, pkt, now, v);
		else if (!acl_allow(st, env, ACL_READ, false,
		    &pkt->u.publish.resolved))
			deny_publish(st, dir, pkt, v);
		break;
	case CODEC_PUBREL:
		/* The end of a QoS 2 flow the proxy answered itself. */
		if (pv == PKTID_ANSWER)
			ack(st, CODEC_PUBCOMP, pkt->packet_id, 0, v);
		break;
	case CODEC_PUBACK:
	case CODEC_PUBREC:
	case CODEC_PUBCOMP:
		break;
	case CODEC_SUBSCRIBE:
		if (filters_within(st, env, pkt, now, v) == 0 &&
		    (st->pol->acl != NULL || st->subs != NULL ||
		    env->observe != NULL))
			subscribe(st, env, pkt, v);
		break;
	case CODEC_UNSUBSCRIBE:
		if (filters_within(st, env, pkt, now, v) == 0 &&
		    st->subs != NULL)
			unsubscribe(st, pkt);
		break;
	case CODEC_SUBACK:
		if (st->n_merges > 0)
			merge_suback(st, pkt, v);
		break;
	case CODEC_DISCONNECT:
		/*
		 * A session that was to end with the connection may not be
		 * given a life now (5.0 §3.14.2.2.2); Mosquitto calls it a
		 * protocol error.
		 */
		if (dir == CODEC_FROM_CLIENT && st->level == CODEC_V5 &&
		    !st->persistent && pkt->props.session_expiry > 0) {
			event_protocol(env, dir, CODEC_ERR_PROP_VALUE, 0x82,
			    "DISCONNECT with a Session Expiry Interval of %u "
			    "after a CONNECT with none", (unsigned)
			    pkt->props.session_expiry);
			verdict_close(v, 0x82, "DISCONNECT session expiry");
		}
		break;
	default:
		break;
	}
	ids_record(st, dir, pkt, v);
	if (dir == CODEC_FROM_SERVER && v->action != ENFORCE_CLOSE)
		broker_ack(st, pkt, v);
}

/*
 * The frame's packet identifier against those in use.  An illegal one
 * gets its verdict here: from the client, the session ends (5.0
 * DISCONNECT 0x82 protocol error, or 0x93 over the Receive Maximum); from
 * the broker, a stray answer is dropped, and a PUBLISH that reuses an
 * identifier or goes over the client's Receive Maximum ends the session
 * (the client would refuse it).  Returns pktid_check()'s word.
 */
static enum pktid_verdict
ids_check(struct enforce_state *st, const struct enforce_env *env,
    enum codec_dir dir, const struct codec_packet *pkt,
    struct enforce_verdict *v)
{
	enum pktid_verdict	pv;
	uint8_t			qos = 0;
	bool			dup = false;

	if (pkt->type == CODEC_PUBLISH) {
		qos = pkt->u.publish.qos;
		dup = pkt->u.publish.dup;
	}
	pv = pktid_check(&st->ids, dir, pkt->type, pkt->packet_id, qos, dup,
	    pkt->reason);
	switch (pv) {
	case PKTID_OK:
	case PKTID_ANSWER:
		return pv;
	case PKTID_FULL:
		if (dir == CODEC_FROM_CLIENT && pkt->type == CODEC_PUBLISH &&
		    st->level == CODEC_V5) {
			event_limit(env, M_LIMIT_INFLIGHT, false, 0x93,
			    "PUBLISH id %u over the Receive Maximum of %u "
			    "(limits.max_inflight or the broker's)",
			    pkt->packet_id, st->ids.t[dir].cap);
			verdict_close(v, 0x93, "Receive Maximum exceeded");
			return pv;
		}
		event_limit(env, M_LIMIT_INFLIGHT, false, 0x97, "%s id %u: "
		    "too many packet identifiers in use from the %s (%s)",
		    codec_type_str(pkt->type), pkt->packet_id,
		    dir == CODEC_FROM_CLIENT ? "client" : "broker",
		    pkt->type == CODEC_PUBLISH ? (st->level == CODEC_V5 ?
		    "the client's Receive Maximum" :
		    "limits.max_packet_ids") : "SUBSCRIBE and UNSUBSCRIBE");
		verdict_close(v, dir == CODEC_FROM_CLIENT ? 0x97 : 0x83,
		    "too many packet identifiers in use");
		return pv;
	default:
		break;
	}
	event_protocol(env, dir, pv == PKTID_IN_USE ?
	    CODEC_ERR_PACKET_ID_IN_USE : CODEC_ERR_PACKET_ID_UNKNOWN,
	    dir == CODEC_FROM_CLIENT ? 0 : 0x83, "%s%s id %u", codec_type_str(pkt->type), dup ? " (DUP)" : "",
	    pkt->packet_id);
	if (dir == CODEC_FROM_SERVER && pkt->type != CODEC_PUBLISH)
		v->action = ENFORCE_DROP;
	else
		verdict_close(v, dir == CODEC_FROM_CLIENT ? 0x82 : 0x83,
		    pktid_verdict_str(pv));
	return pv;
}

/*
 * Records what went on: a frame forwarded or rewritten is its sender's
 * (or, merged, the SUBACK the client gets); a PUBLISH the proxy answered
 * itself is answered at pktid too; a PUBREL the proxy answered ends its
 * flow.  A frame dropped, held or refused changes nothing.
 */
static void
ids_record(struct enforce_state *st, enum codec_dir dir,
    const struct codec_packet *pkt, struct enforce_verdict *v)
{
	enum pktid_verdict	r = PKTID_OK;
	uint8_t			qos = 0, rc;
	bool			dup = false;

	if (pkt->type == CODEC_PUBLISH) {
		qos = pkt->u.publish.qos;
		dup = pkt->u.publish.dup;
	}
	switch (v->action) {
	case ENFORCE_FORWARD:
	case ENFORCE_REWRITE:
		r = pktid_apply(&st->ids, dir, pkt->type, pkt->packet_id, qos,
		    dup, pkt->reason);
		break;
	case ENFORCE_ANSWER:
		if (pkt->type == CODEC_PUBLISH) {
			/* The reason the answer carries: after the id. */
			rc = v->out_len > 4 ? v->out[4] : 0;
			r = pktid_answer(&st->ids, dir, qos, pkt->packet_id,
			    rc);
		} else if (pkt->type == CODEC_PUBREL)
			r = pktid_apply(&st->ids, dir, pkt->type,
			    pkt->packet_id, 0, false, 0);
		break;
	default:
		break;
	}
	if (r != PKTID_OK)
		verdict_oom(v, "out of memory for packet identifiers");
}

/*
 * A frame illegal in the session's state, from <dir>: <err>, then what;
 * <code> the 5.0 reason it is answered with (0: codec_err_reason()'s).
 */
static void
event_protocol(const struct enforce_env *env, enum codec_dir dir,
    enum codec_err err, uint8_t code, const char *fmt, ...)
{
	struct enforce_event	e;
	char			text[ENFORCE_TEXT_MAX];
	va_list			ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memset(&e, 0, sizeof(e));
	e.kind = ENFORCE_EV_PROTOCOL;
	e.metric = M__MAX;
	e.err = err;
	e.dir = dir;
	e.code = code != 0 ? code : codec_err_reason(err);
	e.text = text;
	env->audit(env->arg, &e);
}

/*
 * The client's PUBLISHes the broker has not finished, as the inflight
 * window counts them: 5.0 as Receive Maximum does [MQTT-4.9.0-1], until
 * PUBACK, PUBCOMP or a failing PUBREC.  A 3.x client waits by not being
 * read, and the PUBREL that would lead to the PUBCOMP may be queued
 * behind the very frame that waits: for 3.x a QoS 2 PUBLISH counts until
 * the broker's PUBREC.
 */
static unsigned
inflight(const struct enforce_state *st)
{
	return pktid_inflight(&st->ids, CODEC_FROM_CLIENT,
	    st->level != CODEC_V5);
}

/*
 * A client's PUBLISH: the inflight window, the topic bounds, the rates,
 * then the ACL.  Forwarded, a QoS 1/2 one is in flight until the broker
 * finishes it.
 */
static void
client_publish(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_packet *pkt, uint64_t now, struct enforce_verdict *v)
{
	const struct policy_limits	*l = st->L;
	const char			*what = "";
	uint64_t			 wait;

	if (!broker_allows(st, env, pkt, v))
		return;
	/*
	 * A 5.0 client was told its Receive Maximum: pktid holds it to that
	 * (ids_check()), a protocol rule monitor mode does not relax.  A 3.x
	 * client has no such word: a new flow waits unread until the broker
	 * finishes one.
	 */
	if (pkt->u.publish.qos > 0 && l->max_inflight > 0 &&
	    st->level != CODEC_V5 && inflight(st) >= l->max_inflight &&
	    pktid_phase(&st->ids, CODEC_FROM_CLIENT, pkt->packet_id) ==
	    PKTID_FREE && !limit_monitored(st, env, POLICY_MON_INFLIGHT,
	    METRICS_W_INFLIGHT, "max_inflight")) {
		event_limit(env, M_LIMIT_INFLIGHT, true, 0, "%u QoS 1/2 "
		    "PUBLISHes in flight (limits.max_inflight): reading paused",
		    inflight(st));
		st->inflight_wait = true;
		v->action = ENFORCE_WAIT;
		return;
	}
	if (!topic_within(l, &pkt->u.publish.resolved) &&
	    !limit_monitored(st, env, POLICY_MON_TOPIC_BOUNDS,
	    METRICS_W_TOPIC_BOUNDS, "max_topic_length or max_topic_levels")) {
		event_limit(env, M_RATE_LIMITED, false, 0x90, "topic over "
		    "limits.max_topic_length or max_topic_levels");
		verdict_close(v, 0x90, "topic over the policy's bounds");
		return;
	}
	if ((wait = publish_tokens(st, env, now, pkt, &what)) > 0) {
		if (l->rate_action == POLICY_RATE_DISCONNECT) {
			event_limit(env, M_RATE_LIMITED, false, 0x96,
			    "publishes over %s: disconnected", what);
			verdict_close(v, 0x96, "message rate too high");
		} else if (l->rate_action == POLICY_RATE_DROP &&
		    pkt->u.publish.qos == 0) {
			event_limit(env, M_RATE_LIMITED, true, 0,
			    "QoS 0 PUBLISH dropped over %s", what);
			v->action = ENFORCE_DROP;
		} else {
			event_limit(env, M_RATE_LIMITED, true, 0, "held to %s",
			    what);
			v->action = ENFORCE_WAIT;
			v->wait_ms = wait;
		}
		return;
	}
	if (!acl_allow(st, env, ACL_PUBLISH, false, &pkt->u.publish.resolved))
		deny_publish(st, CODEC_FROM_CLIENT, pkt, v);
}

/*
 * A 5.0 client told the broker's Maximum QoS and Retain Available keeps
 * to them [MQTT-3.2.2-11] [MQTT-3.2.2-14]; Mosquitto disconnects one
 * that does not.  false with the verdict: DISCONNECT 0x9B or 0x9A.
 */
static bool
broker_allows(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_packet *pkt, struct enforce_verdict *v)
{
	if (pkt->u.publish.qos > st->max_qos) {
		event_protocol(env, CODEC_FROM_CLIENT, CODEC_ERR_QOS, 0x9B,
		    "PUBLISH of QoS %u over the broker's Maximum QoS %u",
		    pkt->u.publish.qos, st->max_qos);
		verdict_close(v, 0x9B, "QoS not supported");
		return false;
	}
	if (pkt->u.publish.retain && !st->retain_ok) {
		event_protocol(env, CODEC_FROM_CLIENT, CODEC_ERR_HEADER_FLAGS,
		    0x9A, "retained PUBLISH, the broker has no Retain "
		    "Available");
		verdict_close(v, 0x9A, "Retain not supported");
		return false;
	}
	return true;
}

/*
 * A PUBLISH the ACL denies is not forwarded.  Its sender still gets the
 * end of its QoS flow, so nothing stalls: from the client, 5.0 PUBACK or
 * PUBREC 0x87, 3.x as if accepted (or a disconnect, by policy); from the
 * broker, PUBACK or PUBREC as if delivered, so its inflight window moves.
 * A QoS 2 id answered here as accepted stays in use (ids_record()), its
 * PUBREL answered here too.  A resend (DUP) of a PUBLISH that went through
 * is only dropped: its receiver answers the first one, and an answer here
 * too would end a flow the receiver still has open, so that the next
 * PUBLISH on that id would look to it like a duplicate.
 */
static void
deny_publish(struct enforce_state *st, enum codec_dir dir,
    const struct codec_packet *pkt, struct enforce_verdict *v)
{
	bool	v5 = st->level == CODEC_V5;
	uint8_t	type, rc = 0;

	if (dir == CODEC_FROM_CLIENT && !v5 &&
	    st->pol->acl_deny_v3 == POLICY_DENY_DISCONNECT) {
		verdict_close(v, 0, "PUBLISH denied by the ACL");
		return;
	}
	v->action = ENFORCE_DROP;
	if (pkt->u.publish.qos == 0 || (pkt->u.publish.dup &&
	    pktid_forwarded(&st->ids, dir, pkt->packet_id)))
		return;
	type = pkt->u.publish.qos == 1 ? CODEC_PUBACK : CODEC_PUBREC;
	if (dir == CODEC_FROM_CLIENT && v5)
		rc = 0x87;		/* not authorized */
	ack(st, type, pkt->packet_id, rc, v);
}

/* ENFORCE_ANSWER with an acknowledgement of <type> for <id>. */
static void
ack(struct enforce_state *st, uint8_t type, uint16_t id, uint8_t rc,
    struct enforce_verdict *v)
{
	size_t	n = codec_encode_ack(v->inl, sizeof(v->inl), st->level, type,
		    id, rc, NULL);

	if (n == 0 || n > sizeof(v->inl)) {
		verdict_oom(v, "cannot encode an acknowledgement");
		return;
	}
	v->out = v->inl;
	v->out_len = n;
	v->action = ENFORCE_ANSWER;
}

/*
 * After a frame from the broker: a 3.x client held by the inflight window
 * is read again once the broker has finished one of its PUBLISHes.
 */
static void
broker_ack(struct enforce_state *st, const struct codec_packet *pkt,
    struct enforce_verdict *v)
{
	if (pkt->type != CODEC_PUBACK && pkt->type != CODEC_PUBREC)
		return;
	if (st->inflight_wait && inflight(st) < st->L->max_inflight)
		v->resume = true;
}

/*
 * (UN)SUBSCRIBE: every filter within the topic bounds (else DISCONNECT
 * 0x8F), then limits.subscribe_rate (the frame waits).  0 to go on.
 */
static int
filters_within(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_packet *pkt, uint64_t now, struct enforce_verdict *v)
{
	const struct policy_limits	*l = st->L;
	struct codec_buf		 f;
	size_t				 off = 0;
	uint64_t			 wait;

	while (codec_filter_next(pkt, &off, &f, NULL))
		if (!topic_within(l, &f) && !limit_monitored(st, env,
		    POLICY_MON_TOPIC_BOUNDS, METRICS_W_TOPIC_BOUNDS,
		    "max_topic_length or max_topic_levels")) {
			event_limit(env, M_RATE_LIMITED, false, 0x8F,
			    "filter over the topic bounds");
			verdict_close(v, 0x8F, "filter over the policy's "
			    "bounds");
			return -1;
		}
	if (l->subscribe_rate <= 0 || (wait = limits_bucket_take(&st->r_subs,
	    now, l->subscribe_rate, l->subscribe_rate, 1)) == 0 ||
	    limit_monitored(st, env, POLICY_MON_SUBSCRIBE_RATE,
	    METRICS_W_RATE, "subscribe_rate"))
		return 0;
	event_limit(env, M_RATE_LIMITED, true, 0,
	    "held to limits.subscribe_rate");
	v->action = ENFORCE_WAIT;
	v->wait_ms = wait;
	return -1;
}

/* Notes filter <i> of <f> as new to st->subs in <added> at *alen. */
static void
note_added(uint8_t *added, size_t *alen, size_t i, const struct codec_buf *f)
{
	added[(*alen)++] = (uint8_t)(i >> 8);
	added[(*alen)++] = (uint8_t)i;
	added[(*alen)++] = (uint8_t)(f->len >> 8);
	added[(*alen)++] = (uint8_t)f->len;
	memcpy(added + *alen, f->p, f->len);
	*alen += f->len;
}

/* Filters noted in <added>: their places in st->subs are given back. */
static void
forget_added(struct enforce_state *st, const uint8_t *added, size_t alen,
    const uint8_t *codes)
{
	size_t	k, i, flen;

	for (k = 0; k < alen; k += 4 + flen) {
		i = (size_t)added[k] << 8 | added[k + 1];
		flen = (size_t)added[k + 2] << 8 | added[k + 3];
		if (codes == NULL || codes[i] >= 0x80)
			limits_subs_del(st->subs, added + k + 4, flen);
	}
}

/*
 * Filter <f>, allowed by the ACL: it needs a place under
 * limits.max_subscriptions unless the connection has it already.
 * Returns 0 (kept), 1 (refused: over the cap), -1 (ENOMEM).
 */
static int
subs_place(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_buf *f, size_t i, uint8_t *added, size_t *alen)
{
	int	a;

	if (st->subs == NULL || limits_subs_has(st->subs, f->p, f->len))
		return 0;
	if (limits_subs_count(st->subs) >= st->L->max_subscriptions) {
		/* Monitored, it passes uncounted: the set stays bounded. */
		if (limit_monitored(st, env, POLICY_MON_SUBSCRIPTIONS,
		    METRICS_W_SUBSCRIPTIONS, "max_subscriptions"))
			return 0;
		event_limit(env, M_LIMIT_SUBSCRIPTIONS, true, 0x97, "filter "
		    "\"%.*s\"%s refused: %u subscriptions "
		    "(limits.max_subscriptions)", (int)(f->len < TOPIC_LOG ?
		    f->len : TOPIC_LOG), (const char *)f->p,
		    f->len > TOPIC_LOG ? "..." : "",
		    st->L->max_subscriptions);
		return 1;
	}
	if ((a = limits_subs_add(st->subs, f->p, f->len)) == -1)
		return -1;
	if (a == 1)
		note_added(added, alen, i, f);
	return 0;
}

/* A SUBACK of <n> <codes> to the client, answering <pkt>'s id. */
static void
answer_suback(struct enforce_state *st, uint16_t id, const uint8_t *codes,
    size_t n, struct enforce_verdict *v)
{
	size_t	 len = codec_encode_suback(NULL, 0, st->level, CODEC_SUBACK,
		    id, codes, n);
	uint8_t	*buf;

	if ((buf = verdict_buf(v, len)) == NULL) {
		verdict_oom(v, "out of memory filtering SUBSCRIBE");
		return;
	}
	codec_encode_suback(buf, len, st->level, CODEC_SUBACK, id, codes, n);
	v->action = ENFORCE_ANSWER;
}

/* Room for one more merge record; false when there is none. */
static bool
merge_room(struct enforce_state *st, bool *oom)
{
	struct enforce_merge	*nm;
	unsigned		 cap;

	*oom = false;
	if (st->n_merges < st->cap_merges)
		return true;
	if (st->cap_merges >= ENFORCE_MERGES_MAX)
		return false;
	cap = st->cap_merges ? st->cap_merges * 2 : 2;
	if ((nm = reallocarray(st->merges, cap, sizeof(*nm))) == NULL) {
		*oom = true;
		return false;
	}
	st->merges = nm;
	st->cap_merges = cap;
	return true;
}

/*
 * SUBSCRIBE, filter by filter: the ACL, then limits.max_subscriptions.
 * All allowed: forwarded unchanged.  None: answered here (3.x 0x80; 5.0
 * 0x87 not authorized, 0x97 quota exceeded).  Some: rewritten without
 * the refused ones, its SUBACK merged back later.  Filters counted here
 * are forgotten again if the broker refuses them.
 */
static void
subscribe(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_packet *pkt, struct enforce_verdict *v)
{
	struct enforce_merge	*m;
	struct codec_buf	 f;
	uint8_t			*codes = NULL, *added = NULL, *buf, fail;
	bool			*keep = NULL, oom;
	size_t			 off = 0, i, n = pkt->u.list.count, len;
	size_t			 denied = 0, alen = 0;
	int			 p;

	fail = st->level == CODEC_V5 ? 0x87 : 0x80;
	if ((codes = calloc(n, 1)) == NULL || (keep = calloc(n,
	    sizeof(*keep))) == NULL || (st->subs != NULL && (added =
	    malloc(pkt->len + 4 * n)) == NULL))
		goto oom;
	for (i = 0; i < n && codec_filter_next(pkt, &off, &f, NULL); i++) {
		keep[i] = acl_allow(st, env, ACL_SUBSCRIBE, false, &f);
		if (keep[i] && (p = subs_place(st, env, &f, i, added,
		    &alen)) != 0) {
			if (p == -1)
				goto oom;
			keep[i] = false;
			codes[i] = st->level == CODEC_V5 ? 0x97 : 0x80;
		}
		if (!keep[i]) {
			if (codes[i] == 0)
				codes[i] = fail;
			denied++;
		}
	}
	if (denied == 0 && alen == 0)
		goto done;
	if (denied == n || !merge_room(st, &oom)) {
		if (denied < n && oom)
			goto oom;	/* room to merge was wanted */
		/*
		 * Answer it here; with no room to merge, refuse it whole
		 * and forget what it counted.
		 */
		forget_added(st, added, alen, NULL);
		for (i = 0; i < n; i++)
			if (codes[i] == 0)
				codes[i] = fail;
		answer_suback(st, pkt->packet_id, codes, n, v);
		goto done;
	}
	m = &st->merges[st->n_merges++];
	m->id = pkt->packet_id;
	m->n = (uint16_t)n;
	m->codes = codes;
	m->added = added;
	m->added_len = alen;
	codes = added = NULL;
	if (denied == 0)
		goto done;	/* as it is; the SUBACK is still looked at */
	len = codec_encode_subscribe(NULL, 0, st->level, pkt, keep);
	if (len == 0 || (buf = verdict_buf(v, len)) == NULL)
		goto oom;
	codec_encode_subscribe(buf, len, st->level, pkt, keep);
	v->action = ENFORCE_REWRITE;
	goto done;
oom:
	verdict_oom(v, "out of memory filtering SUBSCRIBE");
done:
	free(codes);
	free(added);
	free(keep);
}

/* UNSUBSCRIBE: its filters no longer count against max_subscriptions. */
static void
unsubscribe(struct enforce_state *st, const struct codec_packet *pkt)
{
	struct codec_buf	f;
	size_t			off = 0;

	while (codec_filter_next(pkt, &off, &f, NULL))
		limits_subs_del(st->subs, f.p, f.len);
}

/*
 * The broker's SUBACK for a filtered SUBSCRIBE: its codes go back in the
 * places of the allowed filters, the failure codes in those of the
 * refused ones, and the client gets one SUBACK for what it sent.  A
 * SUBACK for no merge record is forwarded.
 */
static void
merge_suback(struct enforce_state *st, const struct codec_packet *pkt,
    struct enforce_verdict *v)
{
	struct enforce_merge	*m = NULL;
	const uint8_t		*bc = pkt->u.list.list.p;
	uint8_t			*codes;
	size_t			 i, j = 0, k;

	for (k = 0; k < st->n_merges; k++)
		if (st->merges[k].id == pkt->packet_id) {
			m = &st->merges[k];
			break;
		}
	if (m == NULL)
		return;
	codes = m->codes;
	for (i = 0; i < m->n; i++) {
		if (codes[i] != 0)
			continue;
		/* A broker that answers fewer codes than it was sent fails. */
		codes[i] = j < pkt->u.list.count ? bc[j] : 0x80;
		j++;
	}
	/* A filter the broker refused holds no place. */
	forget_added(st, m->added, m->added_len, codes);
	answer_suback(st, pkt->packet_id, codes, m->n, v);
	if (v->action == ENFORCE_ANSWER)
		v->action = ENFORCE_REWRITE;	/* on to the client */
	free(m->codes);
	free(m->added);
	*m = st->merges[--st->n_merges];
}

bool
enforce_payload_utf8(const struct enforce_state *st,
    const struct codec_packet *pkt)
{
	return pkt->type == CODEC_PUBLISH && st->level == CODEC_V5 &&
	    st->L->validate_payload_format &&
	    CODEC_PROP_HAS(&pkt->props, CODEC_PROP_PAYLOAD_FORMAT) &&
	    pkt->props.payload_format == 1;
}

void
enforce_bad_payload(struct enforce_state *st, const struct enforce_env *env,
    const struct codec_packet *pkt, struct enforce_verdict *v)
{
	const struct codec_buf	*t = &pkt->u.publish.resolved;
	enum pktid_verdict	 pv;

	verdict_init(v);
	if ((pv = ids_check(st, env, CODEC_FROM_CLIENT, pkt, v)) != PKTID_OK)
		return;
	event_protocol(env, CODEC_FROM_CLIENT, CODEC_ERR_PAYLOAD_FORMAT, 0,
	    "PUBLISH QoS %u to \"%.*s\"%s", pkt->u.publish.qos,
	    (int)(t->len < TOPIC_LOG ? t->len : TOPIC_LOG),
	    (const char *)t->p, t->len > TOPIC_LOG ? "..." : "");
	if (pkt->u.publish.qos == 0) {
		verdict_close(v, 0x99, "payload not UTF-8 though its format "
		    "indicator says so");
		return;
	}
	/* A resend of one that went through: the broker answers that. */
	if (pkt->u.publish.dup && pktid_forwarded(&st->ids,
	    CODEC_FROM_CLIENT, pkt->packet_id)) {
		v->action = ENFORCE_DROP;
		return;
	}
	ack(st, pkt->u.publish.qos == 1 ? CODEC_PUBACK : CODEC_PUBREC,
	    pkt->packet_id, 0x99, v);
	ids_record(st, CODEC_FROM_CLIENT, pkt, v);
}

void
enforce_oversize_delivery(struct enforce_state *st,
    const struct enforce_env *env, unsigned qos, uint16_t id, size_t size,
    struct enforce_verdict *v)
{
	verdict_init(v);
	v->action = ENFORCE_DROP;
	event_limit(env, M_LIMIT_DELIVERY_SIZE, true, 0, "QoS %u PUBLISH of "
	    "%zu bytes from the broker dropped: over limits.max_packet_size "
	    "(%zu)", qos, size, st->L->max_packet);
	/* Its identifier is the client's to answer: the flow stays open. */
	if (qos == 0 || pktid_forwarded(&st->ids, CODEC_FROM_SERVER, id))
		return;
	if (pktid_answer(&st->ids, CODEC_FROM_SERVER, qos, id, 0) !=
	    PKTID_OK) {
		verdict_oom(v, "out of memory");
		return;
	}
	ack(st, qos == 1 ? CODEC_PUBACK : CODEC_PUBREC, id, 0, v);
}

/* ---- rates ------------------------------------------------------------- */

/* A bucket taken from, to give back if a later one is short. */
struct taken {
	struct limits_bucket	*b;
	double			 cost;
};

/* Takes <cost> from <b> unless <rate> is off; a taking is noted in <t>. */
static uint64_t
take(struct limits_bucket *b, uint64_t now, double rate, double burst,
    double cost, struct taken *t, size_t *n)
{
	uint64_t	wait;

	if (rate <= 0)
		return 0;
	if ((wait = limits_bucket_take(b, now, rate, burst > 0 ? burst : rate,
	    cost)) == 0) {
		t[*n].b = b;
		t[(*n)++].cost = cost;
	}
	return wait;
}

/*
 * The tokens of one PUBLISH, from every bucket it counts against: the
 * connection's message and byte rates, each limits.topic_rates rule its
 * topic matches, then its identity's shared rates.  All or nothing: when
 * one bucket is short, what the others gave is put back.  Returns 0, or
 * the milliseconds to wait with the name of the limit in *what.
 */
static uint64_t
publish_tokens(struct enforce_state *st, const struct enforce_env *env,
    uint64_t now, const struct codec_packet *pkt, const char **what)
{
	const struct policy_limits	*l = st->L;
	const struct codec_buf		*t = &pkt->u.publish.resolved;
	const struct policy_topic_rate	*r;
	struct taken			 tk[2 + 2 * POLICY_TOPIC_RATES_MAX];
	double				 len = (double)pkt->len;
	uint64_t			 wait;
	size_t				 n = 0, i;

	if ((wait = take(&st->r_msgs, now, l->message_rate, l->message_burst,
	    1, tk, &n)) > 0 && !limit_monitored(st, env,
	    POLICY_MON_MESSAGE_RATE, METRICS_W_RATE, "message_rate")) {
		*what = "limits.message_rate";
		goto short_;
	}
	if ((wait = take(&st->r_bytes, now, (double)l->byte_rate,
	    (double)l->byte_burst, len, tk, &n)) > 0 && !limit_monitored(st,
	    env, POLICY_MON_BYTE_RATE, METRICS_W_RATE, "byte_rate")) {
		*what = "limits.byte_rate";
		goto short_;
	}
	for (i = 0; st->r_topics != NULL && i < st->pol->n_topic_rates; i++) {
		r = &st->pol->topic_rates[i];
		if (!topic_match(r->filter, r->filter_len,
		    (const char *)t->p, t->len))
			continue;
		if (((wait = take(&st->r_topics[2 * i], now, r->message_rate,
		    r->message_burst, 1, tk, &n)) > 0 ||
		    (wait = take(&st->r_topics[2 * i + 1], now,
		    (double)r->byte_rate, (double)r->byte_burst, len, tk,
		    &n)) > 0) && !limit_monitored(st, env,
		    POLICY_MON_TOPIC_RATES, METRICS_W_RATE, "topic_rates")) {
			*what = "a limits.topic_rates rule";
			goto short_;
		}
	}
	if ((wait = limits_user_take(env->limits, st->user, l, now,
	    pkt->len)) > 0 && !limit_monitored(st, env, POLICY_MON_USER_RATE,
	    METRICS_W_RATE, "user_message_rate or user_byte_rate")) {
		*what = "the identity's limits.user_message_rate or "
		    "user_byte_rate";
		goto short_;
	}
	return 0;
short_:
	while (n > 0) {
		n--;
		limits_bucket_refund(tk[n].b, tk[n].cost);
	}
	return wait;
}
