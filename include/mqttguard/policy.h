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

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "mqttguard/proxy.h"

/* Secure defaults, used when the policy is silent. */
#define POLICY_MAX_PACKET_DEFAULT	(1024 * 1024)	/* bytes */
#define POLICY_CLIENT_ID_MAX_DEFAULT	256		/* bytes of a client id */
#define POLICY_PACKET_IDS_DEFAULT	1024		/* 3.x ids in use, each way */
#define POLICY_TOPIC_LEVELS_DEFAULT	201		/* levels: 200 separators */
#define POLICY_MAX_PACKET_LIMIT		(268435455 + 5)	/* the protocol's */
#define POLICY_CONNECT_TIMEOUT_DEFAULT	10000		/* ms */
#define POLICY_UPSTREAM_TIMEOUT_DEFAULT	5000		/* ms */
#define POLICY_OUTPUT_BUFFER_DEFAULT	(256 * 1024)	/* bytes */
#define POLICY_BACKLOG_DEFAULT		511
#define POLICY_TLS_HANDSHAKE_DEFAULT	10000		/* ms */
#define POLICY_UNAUTH_DEFAULT		1024
#define POLICY_KEEPALIVE_MAX_DEFAULT	3600000		/* ms */
#define POLICY_WORKERS_MAX		64
#define POLICY_ADMIN_PORT_DEFAULT	9883
#define POLICY_SHA256_HEX		65	/* 64 hex digits and a NUL */

/*
 * Defaults of the auth section.  The lockout has three scopes (README,
 * "Brute-force protection"): wrong passwords for one identity from one
 * address lock that pair quickly; an identity guessed from many addresses
 * is locked for addresses it has not logged in from; an address is slowed,
 * then blocked, only when it tries many identities (spraying).
 */
#define POLICY_PAIR_FAILURES_DEFAULT	5
#define POLICY_PAIR_WINDOW_DEFAULT	300000		/* ms */
#define POLICY_PAIR_DURATION_DEFAULT	300000		/* ms */
#define POLICY_PAIR_MAX_DEFAULT		3600000		/* ms */
#define POLICY_KNOWN_FAILURES_DEFAULT	50	/* a known device's pair */
#define POLICY_IDENT_FAILURES_DEFAULT	30
#define POLICY_IDENT_WINDOW_DEFAULT	900000		/* ms */
#define POLICY_IDENT_DURATION_DEFAULT	300000		/* ms */
#define POLICY_IDENT_MAX_DEFAULT	3600000		/* ms */
#define POLICY_ADDR_IDENTITIES_DEFAULT	20	/* distinct, to block */
#define POLICY_ADDR_TARPIT_AFTER_DEFAULT 5	/* distinct, to slow down */
#define POLICY_ADDR_WINDOW_DEFAULT	600000		/* ms */
#define POLICY_ADDR_DURATION_DEFAULT	300000		/* ms */
#define POLICY_ADDR_MAX_DEFAULT		3600000		/* ms */
#define POLICY_KNOWN_DEVICE_DEFAULT	604800000	/* ms: 7 days */
#define POLICY_TARPIT_DEFAULT		1000		/* ms */
#define POLICY_TARPIT_MAX_DEFAULT	30000		/* ms */
#define POLICY_CACHE_TTL_DEFAULT	600000		/* ms */
#define POLICY_LOCKOUT_MAX_LIMIT	604800000	/* ms: any max */
#define POLICY_HASH_THREADS_MAX		64
#define POLICY_HASH_QUEUE_DEFAULT	256		/* pending checks */

/*
 * Defaults of the tls section: the "intermediate" profile of Mozilla's
 * server-side TLS guidelines, less its DHE suites (ECDHE is faster and
 * needs no parameters of ours).  TLS 1.2 suites are ECDHE with AEAD only.
 */
#define POLICY_TLS_CIPHERS_DEFAULT \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define POLICY_TLS_CIPHERSUITES_DEFAULT \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
#define POLICY_TLS_GROUPS_DEFAULT	"X25519:P-256:P-384"
#define POLICY_TLS_VERIFY_DEPTH_DEFAULT	4	/* intermediate CAs */
#define POLICY_TLS_VERIFY_DEPTH_MAX	16
#define POLICY_TLS_LIST_MAX		1024	/* a cipher or group list */
#define POLICY_TLS_CRL_MAX		4	/* CRL files */
#define POLICY_TLS_SNI_MAX		16	/* tls.sni certificates */
#define POLICY_TLS_NAME_MAX		254	/* a DNS name, its NUL too */
#define POLICY_TRUSTED_PROXIES_MAX	64	/* ranges per listener */
#define POLICY_WS_ORIGINS_MAX		64	/* websocket_origins */

enum policy_verify {
	POLICY_VERIFY_NONE = 0,		/* no client certificate asked */
	POLICY_VERIFY_OPTIONAL,		/* asked; verified when sent */
	POLICY_VERIFY_REQUIRE		/* handshake fails without one */
};

enum policy_tls_profile {
	POLICY_TLS_INTERMEDIATE = 0,	/* TLS 1.2 (ECDHE, AEAD) and 1.3 */
	POLICY_TLS_MODERN		/* TLS 1.3 only */
};

/* Zero is "unset", so a zeroed section means the profile's floor. */
enum policy_tls_version {
	POLICY_TLS_VERSION_PROFILE = 0,	/* 1.2, or 1.3 with modern */
	POLICY_TLS_1_0,			/* needs allow_insecure */
	POLICY_TLS_1_1,			/* needs allow_insecure */
	POLICY_TLS_1_2,
	POLICY_TLS_1_3
};

/*
 * One tls.sni entry: the certificate served to clients asking for <name>
 * (RFC 6066 server_name), exact or "*.<domain>" (one label, RFC 6125).
 */
struct policy_tls_sni {
	char		 name[POLICY_TLS_NAME_MAX];	/* lower case */
	char		 cert[PATH_MAX];	/* absolute */
	char		 key[PATH_MAX];		/* absolute */
	int		 line, col;	/* where the entry is in the file */
};

/*
 * The lists, CRL paths and SNI entries are bounded arrays, not heap
 * strings: an empty list means the profile's, and the snapshot's
 * destructor has nothing more to free.
 */
struct policy_tls {
	char		*cert;		/* owned; absolute path */
	char		*key;		/* owned; absolute path */
	char		*ca;		/* owned; NULL if unset */
	enum policy_tls_profile profile;
	enum policy_tls_version min_version;
	char		 ciphers[POLICY_TLS_LIST_MAX];	/* TLS 1.2 */
	char		 ciphersuites[POLICY_TLS_LIST_MAX];	/* TLS 1.3 */
	char		 groups[POLICY_TLS_LIST_MAX];
	char		 crl[POLICY_TLS_CRL_MAX][PATH_MAX];	/* absolute */
	size_t		 n_crl;		/* CRL files in crl[] */
	struct policy_tls_sni sni[POLICY_TLS_SNI_MAX];
	size_t		 n_sni;		/* entries in sni[] */
	int		 verify_depth;	/* set by the loader (default 4) */
	bool		 allow_insecure; /* weak: a warning, not a refusal */
	bool		 watch;		/* reload when the files change */
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
struct acl;

/* What a 3.x client gets for a denied PUBLISH (5.0 always gets 0x87). */
enum policy_deny_action {
	POLICY_DENY_DROP = 0,		/* acknowledged as if accepted */
	POLICY_DENY_DISCONNECT		/* the connection is closed */
};

/*
 * One scope of the brute-force lockout: <failures> guesses (for an
 * address: distinct identities guessed) within <window_ms> lock the scope
 * for <duration_ms>, doubling on each repetition up to <max_ms>.
 */
struct policy_lockout {
	unsigned	 failures;	/* 0: this scope never locks */
	unsigned	 window_ms;
	unsigned	 duration_ms;	/* first lockout */
	unsigned	 max_ms;	/* doubling stops here */
	unsigned	 known_failures;	/* pair: of a known device */
	unsigned	 tarpit_after;	/* address: identities to slow it */
	unsigned	 tarpit_max_ms;	/* address: the tarpit's growth cap */
};

struct policy_auth {
	char		*password_file;	/* owned; NULL: no passwords */
	struct passwd_db *passwd;	/* owned; loaded with the policy */
	bool		 anonymous;	/* clients without credentials */
	char		*anonymous_identity;	/* owned */
	enum policy_cert_id cert_identity;
	char		*upstream_password_file;	/* owned; NULL: strip */
	uint8_t		*upstream_password;	/* owned, wiped on free */
	size_t		 upstream_password_len;
	struct policy_lockout lock_pair;	/* identity@address */
	struct policy_lockout lock_identity;	/* from anywhere */
	struct policy_lockout lock_address;	/* identities guessed */
	unsigned	 known_device_ms;	/* 0: no exemption */
	unsigned	 tarpit_ms;	/* delay before a guess's answer */
	unsigned	 cache_ttl_ms;	/* verified credentials; 0: off */
	bool		 allow_wildcard_names;	/* + # in user/client id */
	char		*client_id_pattern;	/* owned; NULL: any */
	enum policy_empty_id empty_client_id;
	unsigned	 hash_threads;	/* password checks off the loops */
	char		 hash_threads_auto[96];	/* "auto": how it counted */
	unsigned	 hash_queue;	/* pending checks before "busy" */
	int		 line, col;
};

/* What happens to a client publishing over its rate. */
enum policy_rate_action {
	POLICY_RATE_THROTTLE = 0,	/* stop reading it: TCP slows it */
	POLICY_RATE_DISCONNECT,		/* 5.0 DISCONNECT 0x96, then close */
	POLICY_RATE_DROP		/* QoS 0 dropped; QoS 1/2 throttled */
};

/* 0 in a cap or a rate means "off" unless said otherwise. */
struct policy_limits {
	size_t		 max_packet;	/* whole frame, both directions */
	unsigned	 connect_timeout_ms;	/* handshake end to CONNECT */
	unsigned	 tls_handshake_timeout_ms;	/* accept to handshake end */
	size_t		 output_buffer;	/* per-direction high watermark */
	bool		 reject_control_chars;
	bool		 reject_noncharacters;	/* U+FDD0.., U+xFFFE/F */
	unsigned	 max_client_id_length;	/* bytes; 0: the protocol's */
	/* connections, checked at accept, before any TLS work */
	unsigned	 max_connections;
	unsigned	 max_unauthenticated;	/* default 1024 */
	unsigned	 max_connections_per_address;
	unsigned	 max_connections_per_network;
	unsigned	 network_v4;		/* prefix bits, default 24 */
	unsigned	 network_v6;		/* prefix bits, default 64 */
	unsigned	 connection_rate_per_address;	/* per second */
	unsigned	 connection_burst_per_address;
	/* sessions */
	unsigned	 max_keepalive_ms;	/* default 3600 s */
	unsigned	 message_rate;		/* PUBLISH per second */
	unsigned	 message_burst;
	size_t		 byte_rate;		/* PUBLISH bytes per second */
	size_t		 byte_burst;
	enum policy_rate_action rate_action;
	unsigned	 subscribe_rate;	/* (UN)SUBSCRIBE per second */
	unsigned	 max_topic_length;	/* bytes; 0: the protocol's */
	unsigned	 max_topic_levels;
	unsigned	 max_subscriptions;	/* per connection */
	unsigned	 max_inflight;	/* QoS 1/2 from the client, unacked */
	unsigned	 max_packet_ids;	/* 3.x: ids in use, each way */
	bool		 validate_payload_format;	/* 5.0 indicator 1 */
	unsigned	 max_topic_aliases;	/* 5.0, from the client; 0: the
						   broker's Topic Alias Maximum */
	/* per user (identity), over all its connections */
	unsigned	 max_connections_per_user;
	unsigned	 connection_rate_per_user;	/* per second */
	unsigned	 connection_burst_per_user;
	unsigned	 user_message_rate;	/* PUBLISH per second */
	unsigned	 user_message_burst;
	size_t		 user_byte_rate;
	size_t		 user_byte_burst;
	/* limits.monitor: the POLICY_MON_* limits that only warn */
	unsigned	 monitor;
};

/*
 * The limits limits.monitor may name (bits of policy_limits.monitor):
 * over one of them a frame passes, counted and logged as would_deny.
 * Connection caps, max_packet_size and the CONNECT deadline are not among
 * them: they bound the proxy's own memory and descriptors.
 */
#define POLICY_MON_MESSAGE_RATE		0x001	/* message_rate */
#define POLICY_MON_BYTE_RATE		0x002	/* byte_rate */
#define POLICY_MON_TOPIC_RATES		0x004	/* topic_rates */
#define POLICY_MON_USER_RATE		0x008	/* user_message_rate,
						   user_byte_rate */
#define POLICY_MON_SUBSCRIBE_RATE	0x010	/* subscribe_rate */
#define POLICY_MON_SUBSCRIPTIONS	0x020	/* max_subscriptions */
#define POLICY_MON_INFLIGHT		0x040	/* max_inflight */
#define POLICY_MON_TOPIC_BOUNDS		0x080	/* max_topic_length,
						   max_topic_levels */
#define POLICY_MON_ALL			0x0ff

/* mode: and listeners[].mode: */
enum policy_mode {
	POLICY_ENFORCE = 0,	/* denials are enforced */
	POLICY_MONITOR		/* ACL and limit denials only warn */
};

/*
 * audit.observe: every distinct (identity, client id, action, topic) is
 * counted and written to <file> as JSON lines (observe.c).
 */
#define POLICY_OBSERVE_ENTRIES_DEFAULT	100000
#define POLICY_OBSERVE_FLUSH_DEFAULT	60000	/* ms */
struct policy_audit {
	bool		 observe;
	char		 file[PATH_MAX];	/* absolute; "" unless observe */
	unsigned	 max_entries;
	unsigned	 flush_ms;
	int		 line, col;
};

/*
 * The limits given for one listener, user or group (limits.listeners,
 * limits.users, limits.groups): only the keys written, the others unset
 * (every byte POLICY_LIMIT_UNSET).  policy_limits_merge() lays them over
 * the limits they refine.
 */
#define POLICY_LIMIT_UNSET	0xff
struct policy_limits_set {
	char			*name;	/* owned */
	struct policy_limits	 v;
	int			 line, col;
};

/* Every field of <l> unset. */
void	policy_limits_unset(struct policy_limits *l);
/* Copies into <dst> the fields <over> sets. */
void	policy_limits_merge(struct policy_limits *dst,
	    const struct policy_limits *over);
/* Whether <l> sets field number <i> (0 up); -1 past the last field. */
int	policy_limits_isset(const struct policy_limits *l, size_t i);

/*
 * One limits.topic_rates rule: PUBLISHes whose topic matches <filter> are
 * held, per connection, to these rates (0: that rate is off).
 */
struct policy_topic_rate {
	char		*filter;	/* owned */
	size_t		 filter_len;	/* strlen(filter), set at load */
	unsigned	 message_rate;	/* per second */
	unsigned	 message_burst;
	size_t		 byte_rate;
	size_t		 byte_burst;
	int		 line, col;
};
#define POLICY_TOPIC_RATES_MAX	64

struct policy_listener {
	char		*name;		/* owned */
	char		*address;	/* owned; numeric IPv4 or IPv6 */
	uint16_t	 port;
	bool		 tls;		/* false: plain MQTT, say so loudly */
	enum policy_verify client_certs;	/* TLS client certificates */
	enum policy_authn authn;
	int		 backlog;
	/* The global limits with limits.listeners.<name> laid over them. */
	struct policy_limits limits;
	unsigned	 max_connections;	/* its own cap; 0: none */
	/*
	 * PROXY protocol: with a mode other than PROXY_OFF, connections
	 * are accepted only from <trusted_proxies> (at least one) and each
	 * must start with a header naming the real client.
	 */
	enum proxy_mode	 proxy_protocol;
	struct proxy_cidr trusted_proxies[POLICY_TRUSTED_PROXIES_MAX];
	size_t		 n_trusted_proxies;
	int		 mode;		/* enum policy_mode; the policy's
					   unless the listener says */
	/*
	 * MQTT over WebSockets (ws.h): an HTTP/1.1 upgrade to <ws_path>
	 * comes first (after the PROXY header and TLS), then binary
	 * messages carrying the MQTT byte stream.
	 */
	bool		 websocket;
	char		*ws_path;	/* owned; "/mqtt" unless given */
	char		**ws_origins;	/* owned, n_ws_origins strings;
					   none: any Origin */
	size_t		 n_ws_origins;
	size_t		 ws_max_message;	/* 0: limits.max_packet_size */
	unsigned	 index;		/* in policy.listeners */
	int		 line, col;	/* where it is in the file */
};

/*
 * The broker.  With tls, its certificate is verified against ca (the
 * system's trust store when empty) and server_name (set to host by the
 * loader when not given), and cert/key, when set, are ours for it.  The
 * TLS paths are bounded arrays, as in struct policy_tls.
 */
struct policy_upstream {
	char		*host;		/* owned */
	uint16_t	 port;
	unsigned	 connect_timeout_ms;
	unsigned	 connack_timeout_ms;	/* connected to CONNACK */
	bool		 tls;		/* TLS to the broker */
	char		 ca[PATH_MAX];	/* absolute; "": system store */
	char		 server_name[POLICY_TLS_NAME_MAX];	/* SNI, check */
	char		 cert[PATH_MAX];	/* absolute; "": none */
	char		 key[PATH_MAX];		/* absolute; "": none */
	/* PROXY_OFF, V1 or V2: the header sent before the CONNECT (and
	 * before TLS): the client's address, v2 its TLS too. */
	enum proxy_mode	 proxy_protocol;
	int		 line, col;	/* where the section starts */
};


/* shutdown: what SIGTERM does with established sessions. */
struct policy_shutdown {
	unsigned	 drain_ms;	/* served on, not accepting */
	unsigned	 spread_ms;	/* then closed over this long */
};

struct policy_log {
	int		 level;		/* enum log_level */
	bool		 json;
	char		 file[PATH_MAX];	/* "": stderr */
};

/*
 * The admin listener (metrics, health, readiness): HTTP on main's loop.
 * With token_file, every request must carry "Authorization: Bearer"
 * and the token; the loader refuses an address off loopback without one.
 */
struct policy_admin {
	char		*address;	/* owned; numeric; 127.0.0.1 default */
	uint16_t	 port;		/* POLICY_ADMIN_PORT_DEFAULT */
	char		*token_file;	/* owned; NULL: no token asked */
	uint8_t		*token;		/* owned, wiped on free */
	size_t		 token_len;
	int		 line, col;	/* where the section starts */
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
	struct acl		*acl;		/* owned; NULL: no acl section,
						   every topic allowed */
	enum policy_deny_action	 acl_deny_v3;
	struct policy_limits	 limits;	/* global */
	/* As written: limits.listeners, limits.groups, limits.users. */
	struct policy_limits_set *limits_listeners, *limits_groups,
				*limits_users;
	size_t			 n_limits_listeners, n_limits_groups,
				 n_limits_users;
	/*
	 * Resolved per identity: the groups it is in (in the order of
	 * limits.groups), then its limits.users entry; sorted by name.
	 */
	struct policy_limits_set *limits_who;
	size_t			 n_limits_who;
	struct policy_topic_rate *topic_rates;	/* owned */
	size_t			 n_topic_rates;
	struct policy_log	 log;
	int			 mode;		/* enum policy_mode */
	struct policy_audit	 audit;
	struct policy_shutdown	 shutdown;
	unsigned		 workers;
	char			 workers_auto[96];	/* "workers: auto": how
						   it counted; "" if not */
	bool			 watch;		/* reload when files change */
	char			**files;	/* owned; every file read: the
						   policy, includes, secrets */
	size_t			 n_files;
	struct policy_admin	 admin;
	bool			 has_admin;	/* an admin section was given */
	/*
	 * user, group: who the daemon runs as once its sockets are bound
	 * and its start-up files read; resolved by the loader.  NULL user:
	 * the starting user is kept.
	 */
	char			*user;		/* owned; NULL: not set */
	char			*group;		/* owned; NULL: the primary */
	uid_t			 uid;		/* of user */
	gid_t			 gid;		/* of group, or the primary */
	char			 sha256[POLICY_SHA256_HEX];	/* of the file's
						   bytes, lower-case hex */
	uint64_t		 serial;	/* 1, 2, ...: newer is greater */
};

/*
 * The limits of a session of <identity> on <lis>: the listener's, with
 * the identity's resolved set (groups, then user) laid over them.  Returns
 * the listener's own when no set applies, else fills and returns <buf>.
 */
const struct policy_limits *policy_limits_for(const struct policy *,
	    const struct policy_listener *lis, const char *identity,
	    struct policy_limits *buf);

/* Notes <path> among the files the policy was read from.  -1: ENOMEM. */
int		 policy_add_file(struct policy *, const char *path);
/*
 * A stamp of every file the policy was read from (util_file_stamp()):
 * it changes when one of them is written, replaced or swapped.
 */
uint64_t	 policy_files_stamp(const struct policy *);

/* A snapshot with every default set and one reference.  NULL on ENOMEM. */
struct policy	*policy_new(void);
struct policy	*policy_ref(struct policy *);
void		 policy_unref(struct policy *);

#endif
