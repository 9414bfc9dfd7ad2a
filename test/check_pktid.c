/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for pktid: each case is a sequence of frames, client (C) and
 * broker (S), each with the verdict pktid_step() must give, walked from an
 * empty state.  A case is named for the rule it proves; the rules are
 * [MQTT-2.2.1-3] (an identifier in use is not reused), [MQTT-3.3.1-1]
 * (DUP marks a resend), [MQTT-4.3.2]/[MQTT-4.3.3] (the QoS 1 and QoS 2
 * flows, each answered by its own packet types) and [MQTT-4.4.0-1]
 * (resumption resends PUBREL).  Then the table itself: growth, deletion
 * by backward shift under collisions, counters, caps.
 */
#include <stdlib.h>

#include "check_suites.h"
#include "mqttguard/pktid.h"

#define C	CODEC_FROM_CLIENT
#define S	CODEC_FROM_SERVER
#define END	{ 0, 0, 0, 0, false, 0, PKTID_OK }

struct step {
	enum codec_dir		dir;
	uint8_t			type;
	uint16_t		id;
	uint8_t			qos;
	bool			dup;
	uint8_t			reason;
	enum pktid_verdict	want;
};

struct pcase {
	const char	*name;
	bool		 resumed[2];
	unsigned	 cap[2];
	struct step	 steps[12];
};

#define PUB(d, id, q, dup, w)	{ d, CODEC_PUBLISH, id, q, dup, 0, w }
#define ACK(d, t, id, w)	{ d, t, id, 0, false, 0, w }
#define ACKR(d, t, id, r, w)	{ d, t, id, 0, false, r, w }

static const struct pcase cases[] = {
	{ "qos1 flow, id free again after PUBACK [MQTT-4.3.2]", {0}, {0}, {
	    PUB(C, 1, 1, false, PKTID_OK),
	    ACK(S, CODEC_PUBACK, 1, PKTID_OK),
	    PUB(C, 1, 1, false, PKTID_OK), END } },
	{ "qos2 flow, id free again after PUBCOMP [MQTT-4.3.3]", {0}, {0}, {
	    PUB(C, 7, 2, false, PKTID_OK),
	    ACK(S, CODEC_PUBREC, 7, PKTID_OK),
	    ACK(C, CODEC_PUBREL, 7, PKTID_OK),
	    PUB(C, 7, 2, false, PKTID_IN_USE),
	    ACK(S, CODEC_PUBCOMP, 7, PKTID_OK),
	    PUB(C, 7, 2, false, PKTID_OK), END } },
	{ "qos2 id reused without DUP [MQTT-2.2.1-3] (CVE-2023-28366)",
	    {0}, {0}, {
	    PUB(C, 1, 2, false, PKTID_OK),
	    PUB(C, 1, 2, false, PKTID_IN_USE), END } },
	{ "qos1 id reused without DUP [MQTT-2.2.1-3]", {0}, {0}, {
	    PUB(C, 1, 1, false, PKTID_OK),
	    PUB(C, 1, 1, false, PKTID_IN_USE),
	    PUB(C, 1, 2, true, PKTID_IN_USE), END } },
	{ "resend with DUP 1 before PUBREL [MQTT-3.3.1-1]", {0}, {0}, {
	    PUB(C, 3, 1, false, PKTID_OK),
	    PUB(C, 3, 1, true, PKTID_OK),
	    PUB(C, 4, 2, false, PKTID_OK),
	    PUB(C, 4, 2, true, PKTID_OK),
	    ACK(S, CODEC_PUBREC, 4, PKTID_OK),
	    PUB(C, 4, 2, true, PKTID_OK),
	    ACK(S, CODEC_PUBREC, 4, PKTID_OK),
	    ACK(C, CODEC_PUBREL, 4, PKTID_OK),
	    PUB(C, 4, 2, true, PKTID_IN_USE), END } },
	{ "DUP 1 on a free id is a new flow", {0}, {0}, {
	    PUB(C, 9, 2, true, PKTID_OK),
	    ACK(S, CODEC_PUBREC, 9, PKTID_OK), END } },
	{ "qos1 delivery answered with PUBREC", {0}, {0}, {
	    PUB(S, 1, 1, false, PKTID_OK),
	    ACK(C, CODEC_PUBREC, 1, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBCOMP, 1, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBACK, 1, PKTID_OK), END } },
	{ "qos2 delivery answered with PUBACK", {0}, {0}, {
	    PUB(S, 1, 2, false, PKTID_OK),
	    ACK(C, CODEC_PUBACK, 1, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBCOMP, 1, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBREC, 1, PKTID_OK),
	    ACK(C, CODEC_PUBCOMP, 1, PKTID_UNKNOWN),
	    ACK(S, CODEC_PUBREL, 1, PKTID_OK),
	    ACK(C, CODEC_PUBCOMP, 1, PKTID_OK),
	    ACK(C, CODEC_PUBCOMP, 1, PKTID_UNKNOWN), END } },
	{ "acks for ids never used", {0}, {0}, {
	    ACK(C, CODEC_PUBACK, 5, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBREC, 5, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBREL, 5, PKTID_UNKNOWN),
	    ACK(C, CODEC_PUBCOMP, 5, PKTID_UNKNOWN),
	    ACK(S, CODEC_SUBACK, 5, PKTID_UNKNOWN),
	    ACK(S, CODEC_UNSUBACK, 5, PKTID_UNKNOWN), END } },
	{ "PUBREL before PUBREC [MQTT-4.3.3]", {0}, {0}, {
	    PUB(C, 2, 2, false, PKTID_OK),
	    ACK(C, CODEC_PUBREL, 2, PKTID_UNKNOWN), END } },
	{ "5.0 PUBREC failing ends the flow", {0}, {0}, {
	    PUB(C, 2, 2, false, PKTID_OK),
	    ACKR(S, CODEC_PUBREC, 2, 0x87, PKTID_OK),
	    ACK(C, CODEC_PUBREL, 2, PKTID_UNKNOWN),
	    PUB(C, 2, 2, false, PKTID_OK), END } },
	{ "SUBACK and UNSUBACK match their requests", {0}, {0}, {
	    ACK(C, CODEC_SUBSCRIBE, 10, PKTID_OK),
	    ACK(C, CODEC_SUBSCRIBE, 10, PKTID_IN_USE),
	    ACK(C, CODEC_UNSUBSCRIBE, 11, PKTID_OK),
	    ACK(S, CODEC_UNSUBACK, 10, PKTID_UNKNOWN),
	    ACK(S, CODEC_SUBACK, 11, PKTID_UNKNOWN),
	    PUB(C, 10, 1, false, PKTID_IN_USE),
	    ACK(S, CODEC_SUBACK, 10, PKTID_OK),
	    ACK(S, CODEC_UNSUBACK, 11, PKTID_OK),
	    ACK(S, CODEC_SUBACK, 10, PKTID_UNKNOWN), END } },
	{ "directions number apart", {0}, {0}, {
	    PUB(C, 1, 1, false, PKTID_OK),
	    PUB(S, 1, 2, false, PKTID_OK),
	    ACK(C, CODEC_PUBREC, 1, PKTID_OK),
	    ACK(S, CODEC_PUBACK, 1, PKTID_OK),
	    ACK(S, CODEC_PUBREL, 1, PKTID_OK),
	    ACK(C, CODEC_PUBCOMP, 1, PKTID_OK), END } },
	{ "resumed client: PUBREL of an earlier connection [MQTT-4.4.0-1]",
	    { true, false }, {0}, {
	    ACK(C, CODEC_PUBREL, 40, PKTID_OK),
	    ACK(C, CODEC_PUBREL, 40, PKTID_OK),
	    ACK(S, CODEC_PUBCOMP, 40, PKTID_OK),
	    ACK(S, CODEC_PUBCOMP, 40, PKTID_UNKNOWN), END } },
	{ "resumed broker: PUBREL and DUP PUBLISH of an earlier connection",
	    { false, true }, {0}, {
	    ACK(S, CODEC_PUBREL, 3, PKTID_OK),
	    PUB(S, 4, 1, true, PKTID_OK),
	    ACK(C, CODEC_PUBCOMP, 3, PKTID_OK),
	    ACK(C, CODEC_PUBACK, 4, PKTID_OK),
	    ACK(C, CODEC_PUBREL, 3, PKTID_UNKNOWN), END } },
	{ "cap on PUBLISH flows (Receive Maximum)", {0}, { 2, 0 }, {
	    PUB(C, 1, 1, false, PKTID_OK),
	    PUB(C, 2, 2, false, PKTID_OK),
	    PUB(C, 3, 1, false, PKTID_FULL),
	    PUB(C, 1, 1, true, PKTID_OK),
	    PUB(C, 3, 0, false, PKTID_OK),
	    ACK(C, CODEC_SUBSCRIBE, 3, PKTID_OK),
	    ACK(S, CODEC_PUBACK, 1, PKTID_OK),
	    PUB(C, 4, 1, false, PKTID_OK), END } },
};

static void
run_steps(struct pktid_state *st, const struct pcase *c)
{
	const struct step	*s;
	enum pktid_verdict	 v;
	size_t			 i;

	for (i = 0; i < NELEM(c->steps) && c->steps[i].type != 0; i++) {
		s = &c->steps[i];
		v = pktid_step(st, s->dir, s->type, s->id, s->qos, s->dup,
		    s->reason);
		ck_assert_msg(v == s->want, "%s: step %zu: %s, want %s",
		    c->name, i, pktid_verdict_str(v),
		    pktid_verdict_str(s->want));
	}
}

START_TEST(t_cases)
{
	const struct pcase	*c = &cases[_i];
	struct pktid_state	 st;

	pktid_init(&st);
	pktid_resume(&st, C, c->resumed[0]);
	pktid_resume(&st, S, c->resumed[1]);
	pktid_cap(&st, C, c->cap[0]);
	pktid_cap(&st, S, c->cap[1]);
	run_steps(&st, c);
	pktid_fini(&st);
}
END_TEST

/* The proxy answered a denied QoS 2 PUBLISH: its PUBREL is the proxy's. */
START_TEST(t_answer)
{
	struct pktid_state	st;

	pktid_init(&st);
	ck_assert_int_eq(pktid_check(&st, C, CODEC_PUBLISH, 5, 2, false, 0),
	    PKTID_OK);
	ck_assert_int_eq(pktid_answer(&st, C, 2, 5, 0), PKTID_OK);
	ck_assert_int_eq(pktid_phase(&st, C, 5), PKTID_QOS2_REC);
	ck_assert_uint_eq(pktid_inflight(&st, C, false), 0);
	ck_assert_int_eq(pktid_check(&st, C, CODEC_PUBLISH, 5, 2, false, 0),
	    PKTID_IN_USE);
	/* The broker never saw it: its PUBCOMP would be unknown. */
	ck_assert_int_eq(pktid_check(&st, S, CODEC_PUBREC, 5, 0, false, 0),
	    PKTID_UNKNOWN);
	ck_assert_int_eq(pktid_step(&st, C, CODEC_PUBREL, 5, 0, false, 0),
	    PKTID_ANSWER);
	ck_assert_int_eq(pktid_phase(&st, C, 5), PKTID_FREE);
	/* QoS 1 and a failing PUBREC leave nothing behind. */
	ck_assert_int_eq(pktid_answer(&st, S, 1, 6, 0), PKTID_OK);
	ck_assert_int_eq(pktid_answer(&st, S, 2, 7, 0x87), PKTID_OK);
	ck_assert_int_eq(pktid_phase(&st, S, 6), PKTID_FREE);
	ck_assert_int_eq(pktid_phase(&st, S, 7), PKTID_FREE);
	pktid_fini(&st);
}
END_TEST

/* Every id at once, then freed in a scrambled order: the table holds. */
START_TEST(t_table)
{
	struct pktid_state	st;
	unsigned		i, id;

	pktid_init(&st);
	for (i = 1; i <= 65535; i++)
		ck_assert_int_eq(pktid_step(&st, C, CODEC_PUBLISH,
		    (uint16_t)i, 1 + (i & 1), false, 0), PKTID_OK);
	ck_assert_uint_eq(pktid_inflight(&st, C, false), 65535);
	ck_assert_uint_eq(pktid_inflight(&st, C, true), 65535);
	ck_assert_int_eq(pktid_check(&st, C, CODEC_SUBSCRIBE, 9, 0, false,
	    0), PKTID_IN_USE);
	for (i = 0; i < 65535; i++) {
		id = (i * 7919u) % 65535u + 1;
		ck_assert_int_eq(pktid_step(&st, S, (id & 1) ? CODEC_PUBREC :
		    CODEC_PUBACK, (uint16_t)id, 0, false, 0), PKTID_OK);
		ck_assert_int_eq(pktid_phase(&st, C, (uint16_t)id),
		    (id & 1) ? PKTID_QOS2_REC : PKTID_FREE);
	}
	ck_assert_uint_eq(pktid_inflight(&st, C, true), 0);
	ck_assert_uint_eq(pktid_inflight(&st, C, false), 32768);
	for (i = 1; i <= 65535; i += 2) {
		ck_assert_int_eq(pktid_step(&st, C, CODEC_PUBREL, (uint16_t)i,
		    0, false, 0), PKTID_OK);
		ck_assert_int_eq(pktid_step(&st, S, CODEC_PUBCOMP,
		    (uint16_t)i, 0, false, 0), PKTID_OK);
	}
	ck_assert_uint_eq(pktid_inflight(&st, C, false), 0);
	ck_assert_ptr_null(st.t[C].slot);
	pktid_fini(&st);
}
END_TEST

Suite *
pktid_suite(void)
{
	Suite	*s = suite_create("pktid");
	TCase	*tc = tcase_create("flows");

	tcase_add_loop_test(tc, t_cases, 0, NELEM(cases));
	tcase_add_test(tc, t_answer);
	tcase_add_test(tc, t_table);
	suite_add_tcase(s, tc);
	return s;
}
