/* SPDX-License-Identifier: ISC */
/*
 * policy — the immutable, reference-counted policy snapshot.
 *
 * config_load() builds one from a YAML file; the runtime only reads it.
 * Sessions hold a reference for their whole life, so a reload that swaps in
 * a new snapshot never changes the rules under a running session; the last
 * policy_unref() frees it.  No YAML and no sockets here.
 */
#ifndef MQTTGUARD_POLICY_H
#define MQTTGUARD_POLICY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Secure defaults, used when the policy is silent. */
#define POLICY_MAX_PACKET_DEFAULT	(1024 * 1024)	/* bytes */
#define POLICY_MAX_PACKET_LIMIT		(268435455 + 5)	/* the protocol's */
#define POLICY_CONNECT_TIMEOUT_DEFAULT	10000		/* ms */
#define POLICY_UPSTREAM_TIMEOUT_DEFAULT	5000		/* ms */
#define POLICY_OUTPUT_BUFFER_DEFAULT	(256 * 1024)	/* bytes */
#define POLICY_BACKLOG_DEFAULT		511
#define POLICY_WORKERS_MAX		64

/* Defaults of the auth section. */
#define POLICY_LOCKOUT_FAILURES_DEFAULT	5
#define POLICY_LOCKOUT_WINDOW_DEFAULT	60000		/* ms */
#define POLICY_LOCKOUT_DURATION_DEFAULT	60000		/* ms */
#define POLICY_LOCKOUT_MAX_DEFAULT	3600000		/* ms */
#define POLICY_TARPIT_DEFAULT		1000		/* ms */
#define POLICY_HASH_QUEUE_DEFAULT	256		/* pending checks */

enum policy_verify {
	POLICY_VERIFY_NONE = 0,		/* no client certificate asked */
	POLICY_VERIFY_OPTIONAL,		/* asked; verified when sent */
	POLICY_VERIFY_REQUIRE		/* handshake fails without one */
};

struct policy_tls {
	char		*cert;		/* owned; absolute path */
	char		*key;		/* owned; absolute path */
	char		*ca;		/* owned; NULL if unset */
	int		 line, col;	/* where the section starts */
};

/* How a listener's clients prove who they are. */
enum policy_authn {
	POLICY_AUTHN_PASSWORD = 0,	/* username and password */
	POLICY_AUTHN_CERTIFICATE,	/* a verified client certificate */
	POLICY_AUTHN_BOTH,		/* certificate and password */
	POLICY_AUTHN_EITHER		/* certificate, else password */
};

/* Where a client certificate's identity is read from. */
enum policy_cert_id {
	POLICY_CERT_ID_CN = 0,
	POLICY_CERT_ID_SAN_EMAIL,
	POLICY_CERT_ID_SAN_DNS,
	POLICY_CERT_ID_SAN_URI
};

enum policy_empty_id {
	POLICY_EMPTY_ID_REJECT = 0,	/* CONNACK 0x85 / 0x02 */
	POLICY_EMPTY_ID_ASSIGN		/* forwarded; the broker assigns */
};

struct passwd_db;

struct policy_auth {
	char		*password_file;	/* owned; NULL: no passwords */
	struct passwd_db *passwd;	/* owned; loaded with the policy */
	bool		 anonymous;	/* clients without credentials */
	char		*anonymous_identity;	/* owned */
	enum policy_cert_id cert_identity;
	char		*upstream_password_file;	/* owned; NULL: strip */
	uint8_t		*upstream_password;	/* owned, wiped on free */
	size_t		 upstream_password_len;
	unsigned	 lockout_failures;	/* 0: no lockout */
	unsigned	 lockout_window_ms;
	unsigned	 lockout_duration_ms;	/* first lockout */
	unsigned	 lockout_max_ms;	/* doubling stops here */
	unsigned	 tarpit_ms;	/* delay before a failure answer */
	bool		 allow_wildcard_names;	/* + # in user/client id */
	char		*client_id_pattern;	/* owned; NULL: any */
	enum policy_empty_id empty_client_id;
	unsigned	 hash_threads;	/* password checks off the loops */
	unsigned	 hash_queue;	/* pending checks before "busy" */
	int		 line, col;
};

struct policy_listener {
	char		*name;		/* owned */
	char		*address;	/* owned; numeric IPv4 or IPv6 */
	uint16_t	 port;
	bool		 tls;		/* false: plain MQTT, say so loudly */
	enum policy_verify client_certs;	/* TLS client certificates */
	enum policy_authn authn;
	int		 backlog;
	int		 line, col;	/* where it is in the file */
};

struct policy_upstream {
	char		*host;		/* owned */
	uint16_t	 port;
	unsigned	 connect_timeout_ms;
};

struct policy_limits {
	size_t		 max_packet;	/* whole frame, both directions */
	unsigned	 connect_timeout_ms;	/* accept to complete CONNECT */
	size_t		 output_buffer;	/* per-direction high watermark */
	bool		 reject_control_chars;
};

struct policy_log {
	int		 level;		/* enum log_level */
	bool		 json;
};

struct policy {
	atomic_uint		 refs;
	char			*path;		/* owned; the file loaded */
	struct policy_listener	*listeners;	/* owned; n_listeners */
	size_t			 n_listeners;
	struct policy_upstream	 upstream;
	struct policy_tls	 tls;
	bool			 has_tls;	/* a tls section was given */
	struct policy_auth	 auth;
	struct policy_limits	 limits;
	struct policy_log	 log;
	unsigned		 workers;
};

/* A snapshot with every default set and one reference.  NULL on ENOMEM. */
struct policy	*policy_new(void);
struct policy	*policy_ref(struct policy *);
void		 policy_unref(struct policy *);

#endif
