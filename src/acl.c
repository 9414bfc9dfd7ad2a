/* SPDX-License-Identifier: ISC */
/*
 * acl — the topic ACL index: rules compiled into one trie of topic levels
 * per subject (everyone, each identity, each group), and the check the
 * session asks for every PUBLISH, every SUBSCRIBE filter and every delivery.
 *
 * A trie node has its literal children in an open-addressing hash table
 * and at most four wildcard children: '+', '#', "%u" and "%c".  A rule ends
 * at one node (a '#' rule at the '#' child); the node's leaf keeps, per
 * action, the rule that decides there (a deny if any, else the first
 * allow), as a number: rules ending at one node have the same filter, so
 * the same specificity, and that comparison is settled when the index is
 * built.  A check splits the topic once (levels on the stack, each
 * hashed when a trie node first looks it up), walks the everyone trie,
 * the identity's rules and the tries of its groups, and keeps the most
 * specific decision.  It never allocates
 * and never writes shared memory: every worker may check at once.
 *
 * Most identities have a few rules of their own ("devices/<user>/#"), and
 * in a policy of a million of them every identity is a cache miss.  So an
 * identity is a 128-byte record of a table, at the place its name's hash
 * gives: the check asks for it first and splits the topic while it comes.
 * The record holds the name, the identity's groups and, up to
 * ACL_FLAT_MAX, its rules as filters matched one by one against the
 * levels the check split (flat_match()); more rules go to a trie of the
 * identity's own, a longer record to one block elsewhere.  The trie walk
 * is the index's own, level by level; test/check_topic.c proves it
 * answers as topic_match() and topic_covers() do, flat_vs_trie that the
 * flat rules answer as the trie.  Decisions name rules by index into one
 * array, so the verdict costs no further load.
 *
 * So a check reads its topic once: split() finds the levels (validating
 * them), and the everyone trie, the identity's flat rules or trie, its
 * groups' tries and the "%u"/"%c" levels all work on those levels; a
 * level is hashed only when a node with literal children asks, and only
 * once.  A session's decision cache (struct acl_cache) spares the check
 * altogether for the topics it asked about last.
 *
 * The hash tables are hmaps (hmap.h), keyed per index, and filled from
 * the policy alone: a client chooses which probe sequence a check walks,
 * never how long it is.  A topic level is hashed once per check: every
 * node's children share the index's key, so one hash serves them all.
 * All memory of an index but the rule array and the identity table comes
 * from its arena and goes with acl_free();
 * the arena's big chunks are advised as huge pages, for the page walks a
 * big index would otherwise add to its cache misses.
 *
 * Recursion in a check is bounded by ACL_LEVELS_MAX, the deepest filter a
 * rule may have.  A pathological policy (a '+' and a literal child at every
 * level, matched at every level) costs 2^depth node visits per check; real
 * policies branch at one or two levels.
 *
 * acl_lint() answers what the lint asks of the rules alone (broad rules,
 * shadowed rules, unused groups, names that match nobody); the files and
 * the password database are the caller's.  Nothing here logs.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "mqttguard/acl.h"
#include "mqttguard/hmap.h"
#include "mqttguard/topic.h"
#include "mqttguard/util.h"

#define ARENA_CHUNK	(64 * 1024)	/* the first chunk; they double */
#define ARENA_HUGE	(2 * 1024 * 1024)	/* from here: huge pages */
#define NACTIONS	3

enum lv_kind {
	LV_LIT = 0,
	LV_PLUS,
	LV_HASH
};

/* Bump allocation; chunks are freed together by acl_free(). */
struct chunk {
	struct chunk	*next;
	size_t		 used, size;
	size_t		 pad;		/* data[] 16-byte aligned */
	unsigned char	 data[];
};

struct arena {
	struct chunk	*head;
	size_t		 next;		/* size of the next chunk */
};

/* What a hash table holds: something with a name.  First member. */
struct named {
	const char	*name;		/* arena */
	uint32_t	 len;
};

/* A slot of a name table (an hmap of the index's type ntype). */
struct slot {
	uint64_t	 hash;
	struct named	*val;
};

struct node;
struct fidx;
struct fentry;

struct wild {
	struct node	*plus, *hash, *pu, *pc;
};

/*
 * The rules ending at a node: for each action, the one that decides there,
 * as DECISION(index of the rule, deny), 0 for none.  The specificity is the
 * node's; a check compares these numbers and never touches a rule.
 */
#define DECISION(idx, deny)	((uint32_t)((idx) + 1) << 1 | (deny))
#define DECISION_IDX(d)		(((d) >> 1) - 1)

struct leaf {
	uint32_t	 spec;		/* topic_specificity() */
	uint32_t	 d[NACTIONS];
};

struct node {
	struct named	 k;		/* the level (literal children) */
	struct hmap	 kids;		/* literal children, struct slot */
	struct wild	*wild;		/* NULL: none */
	struct leaf	*leaf;		/* NULL: no rule ends here */
};

struct group;

/*
 * An identity's rules while they are few, as filters matched one by one:
 * cheaper than a trie when the whole identity fits in two cache lines.
 */
struct flat {
	struct leaf	 lf;
	uint16_t	 size;		/* of the entry, padded to 8 */
	uint16_t	 len;		/* of the filter */
	char		 filter[];	/* not terminated */
};

/*
 * An identity: a record of the identity table, at a place computed from
 * its name's hash, so that a check can ask for it before it knows anything
 * else; its name, groups and flat rules are in it (data[]), or, when they
 * do not fit, in one block elsewhere (ext).  Rebuilt when a group or a
 * flat rule is added.  Past ACL_FLAT_MAX rules or ACL_FLAT_BYTES, the
 * identity's rules move to a trie of their own.
 */
#define SUBJECT_SIZE	128

struct subject {
	uint64_t	 hash;
	const char	*name;		/* a stable copy, for rules, groups */
	struct node	*root;		/* its rules once many; NULL: flat */
	unsigned char	*ext;		/* the data when it does not fit */
	uint32_t	 len;		/* of the name */
	uint32_t	 ngroups;	/* group pointers at data + goff */
	uint32_t	 goff, foff;
	uint32_t	 size;		/* of the data */
	uint16_t	 nflat;		/* flat entries at data + foff */
	uint16_t	 pad;
	unsigned char	 data[SUBJECT_SIZE - 56];	/* name, groups, flat */
};

_Static_assert(sizeof(struct subject) == SUBJECT_SIZE,
    "an identity record is two cache lines");

#define ACL_FLAT_MAX	8
#define ACL_FLAT_BYTES	1024
#define ACL_FLAT_FILTER	255
#define PAD8(n)		(((n) + 7) & ~(size_t)7)

struct group {
	struct named	 k;
	struct acl_group pub;
	struct node	 root;
	bool		 used;		/* named by a rule */
};

struct acl {
	struct arena	 arena;
	struct hmap_type ntype;		/* name tables: slots in the arena */
	struct hmap_type stype;		/* the identity table */
	struct node	 everyone;
	struct hmap	 subjects;	/* the identities, struct subject */
	struct hmap	 groupmap;	/* name -> struct group */
	struct acl_rule	*rules;		/* malloc'd; in the order added */
	size_t		 nrules, caprules;
	struct group	**groups;
	size_t		 ngroups, capgroups;
	struct acl_test	**tests;
	size_t		 ntests, captests;
	char		**files;	/* interned rule file names */
	size_t		 nfiles, capfiles;
	uint32_t	 depth;		/* the deepest rule, in levels */
	uint64_t	 serial;	/* 1, 2, ...: one per index made */
};

/* The serial of the last index made (acl_cache's entries name it). */
static _Atomic uint64_t	serials;

/* One level of the topic being checked. */
struct lvl {
	uint32_t	 off, len;
	uint64_t	 hash;		/* in ntype, for every node's kids */
	enum lv_kind	 kind;
};

/* A check in progress; lives on the checker's stack. */
struct walk {
	const struct hmap_type *ht;	/* the index's ntype */
	const char	*t;
	size_t		 tlen;
	struct lvl	 lv[ACL_LEVELS_MAX + 1];
	uint32_t	 n;		/* levels in lv[] */
	bool		 more;		/* the topic has levels past lv[] */
	bool		 dollar;	/* its first level starts with '$' */
	bool		 sub;		/* a subscription filter */
	unsigned	 act;
	const char	*id, *cid;
	size_t		 idlen, cidlen;
	bool		 found;
	uint32_t	 bestkey, bestidx;
};

static void	*arena_alloc(struct arena *, size_t);
static char	*arena_strndup(struct arena *, const char *, size_t);
static int	 grow(struct arena *, void *, size_t *, size_t, size_t);
static void	*arena_hook(void *, size_t);
static void	 arena_keep(void *, void *);
static bool	 named_eq(void *, const void *, const void *, size_t);
static struct named *map_find(const struct hmap *, const char *, size_t,
		    uint64_t);
static int	 map_put(const struct hmap_type *, struct hmap *,
		    struct named *, uint64_t);
static void	*stab_alloc(void *, size_t);
static bool	 subject_eq(void *, const void *, const void *, size_t);
static struct subject *subject_get(struct acl *, const char *);
static int	 subject_rebuild(struct acl *, struct subject *,
		    struct group *, const struct flat *);
static int	 subject_add(struct acl *, struct subject *, size_t);
static struct leaf *trie_leaf(struct acl *, struct node *, const char *,
		    size_t);
static void	 leaf_add(struct leaf *, size_t, const struct acl_rule *);
static int	 rule_check(const struct acl *, const struct acl_rule *,
		    char *, size_t);
static struct acl_rule *rule_store(struct acl *, const struct acl_rule *);
static int	 rule_index(struct acl *, const struct acl_rule *, size_t);
static void	 flat_match(struct walk *, const struct flat *);
static const char *intern_file(struct acl *, const char *);
static struct node *child(struct acl *, struct node *, const char *,
		    size_t);
static int	 action_index(unsigned);
static int	 split(struct walk *, const char *, size_t, uint32_t);
static void	 consider(struct walk *, const struct leaf *);
static void	 walk(struct walk *, const struct node *, uint32_t);
static struct chunk *chunk_new(size_t);
static bool	 names_user(const struct acl *, const struct acl_rule *,
		    const char *);
static bool	 covers_subjects(const struct acl *, const struct acl_rule *,
		    const struct acl_rule *);
static bool	 broad(const char *);
static void	 actions_str(unsigned, char *, size_t);
static struct fentry *fidx_get(struct fidx *, const char *, size_t, bool);
static size_t	 lint_shadow(const struct acl *, struct fidx *, size_t,
		    void (*)(void *, const char *, int, const char *), void *);
static size_t	 lint_names(const struct acl *, const struct acl_lint_ctx *,
		    const struct acl_rule *,
		    void (*)(void *, const char *, int, const char *), void *);
static size_t	 lint_shadows(const struct acl *,
		    void (*)(void *, const char *, int, const char *), void *);
static size_t	 lint_grants(const struct acl *, const struct acl_lint_ctx *,
		    const struct acl_rule *,
		    void (*)(void *, const char *, int, const char *), void *);
static size_t	 lint_unused(const struct acl *, const struct acl_lint_ctx *,
		    void (*)(void *, const char *, int, const char *), void *);

/* ---- memory --------------------------------------------------------- */

/*
 * A chunk of <size> bytes.  Chunks double from ARENA_CHUNK; from
 * ARENA_HUGE on they are aligned to and advised as huge pages: a million
 * identities' tries are read at random, and with 4 KiB pages nearly every
 * check would add a page walk to its cache misses.
 */
static struct chunk *
chunk_new(size_t size)
{
	struct chunk	*c;
	void		*p;
	size_t		 total = sizeof(*c) + size;

	if (total >= ARENA_HUGE) {
		total = (total + ARENA_HUGE - 1) & ~(size_t)(ARENA_HUGE - 1);
		if (posix_memalign(&p, ARENA_HUGE, total) != 0)
			return NULL;
#ifdef MADV_HUGEPAGE
		(void)madvise(p, total, MADV_HUGEPAGE);
#endif
		c = p;
		c->size = total - sizeof(*c);
	} else {
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->size = size;
	}
	c->used = 0;
	return c;
}

/* Zeroed memory from <a>, 16-byte aligned; NULL on ENOMEM. */
static void *
arena_alloc(struct arena *a, size_t n)
{
	struct chunk	*c = a->head;
	void		*p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (c == NULL || c->size - c->used < n) {
		if (a->next < ARENA_CHUNK)
			a->next = ARENA_CHUNK;
		if (n > a->next / 4) {
			/* A big one: the current chunk stays in use. */
			if ((c = chunk_new(n)) == NULL)
				return NULL;
			if (a->head != NULL) {
				c->next = a->head->next;
				a->head->next = c;
			} else {
				c->next = NULL;
				a->head = c;
			}
		} else {
			if ((c = chunk_new(a->next)) == NULL)
				return NULL;
			if (a->next < 16 * ARENA_HUGE)
				a->next *= 2;
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char	*p;

	if ((p = arena_alloc(a, n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Makes room for one more element in the array at *<arrp> (<n> used of
 * *<cap>, elements of <size> bytes).  The old array stays in the arena.
 */
static int
grow(struct arena *a, void *arrp, size_t *cap, size_t n, size_t size)
{
	void	**arr = arrp;
	void	 *p;
	size_t	  ncap;

	if (n < *cap)
		return 0;
	ncap = *cap == 0 ? 8 : *cap * 2;
	if ((p = arena_alloc(a, ncap * size)) == NULL)
		return -1;
	if (n > 0)
		memcpy(p, *arr, n * size);
	*arr = p;
	*cap = ncap;
	return 0;
}

/* ---- hash tables ---------------------------------------------------- */

/*
 * The index's tables are hmaps.  Name tables (a node's children, the
 * groups, the lint's filters) keep their slots in the arena, which frees
 * them all at once; slots a table outgrows stay there until then.
 */
static void *
arena_hook(void *ctx, size_t n)
{
	return arena_alloc(ctx, n);
}

static void
arena_keep(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

static bool
named_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct named	*v = ((const struct slot *)slot)->val;

	(void)ctx;
	return v->len == len && memcmp(v->name, key, len) == 0;
}

/* A zeroed hmap (a node's kids) is empty: it gets its type when added to. */
static struct named *
map_find(const struct hmap *m, const char *key, size_t len, uint64_t hash)
{
	const struct slot	*s = hmap_find(m, hash, key, len);

	return s != NULL ? s->val : NULL;
}

/* Adds <val> (not yet in <m>) with hash <hash> of type <t>. */
static int
map_put(const struct hmap_type *t, struct hmap *m, struct named *val,
    uint64_t hash)
{
	struct slot	*s;

	if (m->type == NULL)
		hmap_init(m, t, NULL, 0);
	if ((s = hmap_add(m, hash)) == NULL)
		return -1;
	s->val = val;
	return 0;
}

/*
 * The identity table is an allocation of its own, aligned to cache lines,
 * and to huge pages once it is big: a million records are read at random.
 */
static void *
stab_alloc(void *ctx, size_t size)
{
	void	*p;

	(void)ctx;
	if (posix_memalign(&p, size >= ARENA_HUGE ? ARENA_HUGE : 64,
	    size) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (size >= ARENA_HUGE)
		(void)madvise(p, size, MADV_HUGEPAGE);
#endif
	memset(p, 0, size);
	return p;
}

static inline const unsigned char *
sdata(const struct subject *s)
{
	return s->ext != NULL ? s->ext : s->data;
}

static bool
subject_eq(void *ctx, const void *slot, const void *key, size_t len)
{
	const struct subject	*s = slot;

	(void)ctx;
	return s->len == len && memcmp(sdata(s), key, len) == 0;
}

/* ---- building ------------------------------------------------------- */

struct acl *
acl_new(void)
{
	struct acl	*acl;

	if ((acl = calloc(1, sizeof(*acl))) == NULL)
		return NULL;
	acl->ntype.size = sizeof(struct slot);
	acl->ntype.min = 2;
	acl->ntype.eq = named_eq;
	acl->ntype.alloc = arena_hook;
	acl->ntype.release = arena_keep;
	acl->ntype.ctx = &acl->arena;
	acl->stype.size = sizeof(struct subject);
	acl->stype.min = 64;
	acl->stype.eq = subject_eq;
	acl->stype.alloc = stab_alloc;
	if (hmap_type_init(&acl->ntype) == -1 ||
	    hmap_type_init(&acl->stype) == -1) {
		free(acl);
		return NULL;
	}
	hmap_init(&acl->subjects, &acl->stype, NULL, 0);
	hmap_init(&acl->groupmap, &acl->ntype, NULL, 0);
	hmap_init(&acl->everyone.kids, &acl->ntype, NULL, 0);
	acl->serial = atomic_fetch_add(&serials, 1) + 1;
	return acl;
}

void
acl_free(struct acl *acl)
{
	struct chunk	*c, *next;

	if (acl == NULL)
		return;
	free(acl->rules);
	hmap_fini(&acl->subjects);
	for (c = acl->arena.head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(acl);
}

/*
 * The record of identity <name>, made on first use.  NULL on ENOMEM.  It
 * stays where it is until the next identity is made.
 */
static struct subject *
subject_get(struct acl *acl, const char *name)
{
	struct subject	*s;
	size_t		 len = strlen(name);
	uint64_t	 h = hmap_hash(&acl->stype, name, len);
	char		*copy;

	if ((s = hmap_find(&acl->subjects, h, name, len)) != NULL)
		return s;
	if (len == 0 || len > ACL_TOPIC_MAX ||
	    (copy = arena_strndup(&acl->arena, name, len)) == NULL ||
	    (s = hmap_add(&acl->subjects, h)) == NULL)
		return NULL;
	s->name = copy;
	s->goff = s->foff = (uint32_t)PAD8(len);
	s->size = s->goff;
	if (s->size > sizeof(s->data)) {
		if ((s->ext = arena_alloc(&acl->arena, s->size)) == NULL)
			return NULL;
		memcpy(s->ext, name, len);
	} else
		memcpy(s->data, name, len);
	s->len = (uint32_t)len;
	return s;
}

/*
 * Rebuilds the data of <s> with group <g> and flat entry <f> added (each
 * may be NULL): in the record if it fits, else in a new block.
 */
static int
subject_rebuild(struct acl *acl, struct subject *s, struct group *g,
    const struct flat *f)
{
	const unsigned char	*old = sdata(s);
	unsigned char		*buf;
	size_t			 gbytes = (size_t)s->ngroups * sizeof(g);
	size_t			 fbytes = s->size - s->foff, size, foff;

	foff = s->goff + gbytes + (g != NULL ? sizeof(g) : 0);
	size = foff + fbytes + (f != NULL ? f->size : 0);
	if (s->ngroups == UINT32_MAX || size > UINT32_MAX ||
	    (buf = malloc(size)) == NULL)
		return -1;
	memcpy(buf, old, s->goff + gbytes);
	if (g != NULL)
		memcpy(buf + s->goff + gbytes, &g, sizeof(g));
	memcpy(buf + foff, old + s->foff, fbytes);
	if (f != NULL)
		memcpy(buf + foff + fbytes, f, f->size);
	if (size <= sizeof(s->data)) {
		memcpy(s->data, buf, size);
		s->ext = NULL;
	} else {
		unsigned char	*ext = arena_alloc(&acl->arena, size);

		if (ext == NULL) {
			free(buf);
			return -1;
		}
		memcpy(ext, buf, size);
		s->ext = ext;
	}
	free(buf);
	s->ngroups += g != NULL;
	s->nflat += f != NULL;
	s->foff = (uint32_t)foff;
	s->size = (uint32_t)size;
	return 0;
}

/* Adds rule <idx> to the rules of identity <s>, flat or in its trie. */
static int
subject_add(struct acl *acl, struct subject *s, size_t idx)
{
	const struct acl_rule	*r = &acl->rules[idx];
	struct flat		*e, *nf;
	struct leaf		*lf;
	size_t			 flen = strlen(r->filter), i, esize;
	unsigned		 depth;
	int			 rc;

	if (s->root == NULL) {
		e = (struct flat *)(sdata(s) + s->foff);
		for (i = 0; i < s->nflat; i++) {
			if (e->len == flen &&
			    memcmp(e->filter, r->filter, flen) == 0) {
				leaf_add(&e->lf, idx, r);
				return 0;
			}
			e = (struct flat *)((char *)e + e->size);
		}
		esize = PAD8(sizeof(*e) + flen);
		if (s->nflat < ACL_FLAT_MAX && flen <= ACL_FLAT_FILTER &&
		    s->size - s->foff + esize <= ACL_FLAT_BYTES) {
			if ((nf = calloc(1, esize)) == NULL)
				return -1;
			nf->size = (uint16_t)esize;
			nf->len = (uint16_t)flen;
			memcpy(nf->filter, r->filter, flen);
			nf->lf.spec = topic_specificity(r->filter, flen,
			    &depth);
			leaf_add(&nf->lf, idx, r);
			if (depth > acl->depth)
				acl->depth = depth;
			rc = subject_rebuild(acl, s, NULL, nf);
			free(nf);
			return rc;
		}
		/* Too many for one record: its rules move to a trie. */
		if ((s->root = arena_alloc(&acl->arena,
		    sizeof(*s->root))) == NULL)
			return -1;
		e = (struct flat *)(sdata(s) + s->foff);
		for (i = 0; i < s->nflat; i++) {
			if ((lf = trie_leaf(acl, s->root, e->filter,
			    e->len)) == NULL)
				return -1;
			*lf = e->lf;
			e = (struct flat *)((char *)e + e->size);
		}
		s->nflat = 0;
		s->size = s->foff;
	}
	if ((lf = trie_leaf(acl, s->root, r->filter, flen)) == NULL)
		return -1;
	leaf_add(lf, idx, r);
	return 0;
}

/* Rules of one file share its name. */
static const char *
intern_file(struct acl *acl, const char *file)
{
	size_t	i;
	char	*p;

	if (file == NULL)
		file = "";
	for (i = acl->nfiles; i > 0; i--)
		if (strcmp(acl->files[i - 1], file) == 0)
			return acl->files[i - 1];
	if (grow(&acl->arena, &acl->files, &acl->capfiles, acl->nfiles,
	    sizeof(*acl->files)) == -1 ||
	    (p = arena_strndup(&acl->arena, file, strlen(file))) == NULL)
		return NULL;
	acl->files[acl->nfiles++] = p;
	return p;
}

int
acl_add_group(struct acl *acl, const char *name, const char *const *members,
    size_t n, char *err, size_t errlen)
{
	return acl_add_group_at(acl, name, members, n, NULL, 0, err, errlen);
}

int
acl_add_group_at(struct acl *acl, const char *name,
    const char *const *members, size_t n, const char *file, int line,
    char *err, size_t errlen)
{
	const struct acl_group	*old;
	struct group		*g;
	struct subject		*s;
	size_t			 i, j, len;

	if (name == NULL || *name == '\0') {
		util_errf(err, errlen, "empty group name");
		return -1;
	}
	if ((len = strlen(name)) > ACL_TOPIC_MAX) {
		util_errf(err, errlen, "group name longer than %d bytes",
		    ACL_TOPIC_MAX);
		return -1;
	}
	if ((old = acl_group_find(acl, name)) != NULL) {
		if (old->file != NULL)
			util_errf(err, errlen, "group \"%s\" is already "
			    "declared (%s:%d)", name, old->file, old->line);
		else
			util_errf(err, errlen, "group \"%s\" is already "
			    "declared", name);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (members[i] == NULL || *members[i] == '\0') {
			util_errf(err, errlen, "group \"%s\": empty member "
			    "name", name);
			return -1;
		}
	}
	if ((g = arena_alloc(&acl->arena, sizeof(*g))) == NULL ||
	    (g->pub.name = arena_strndup(&acl->arena, name, len)) == NULL ||
	    (g->pub.members = arena_alloc(&acl->arena,
	    (n + 1) * sizeof(char *))) == NULL ||
	    (file != NULL && (g->pub.file = (char *)intern_file(acl,
	    file)) == NULL))
		goto nomem;
	g->k.name = g->pub.name;
	g->k.len = (uint32_t)len;
	g->pub.line = line;
	for (i = 0; i < n; i++) {
		struct group *const	*gs;

		if ((s = subject_get(acl, members[i])) == NULL)
			goto nomem;
		gs = (struct group *const *)(sdata(s) + s->goff);
		for (j = 0; j < s->ngroups && gs[j] != g; j++)
			;
		if (j < s->ngroups)
			continue;	/* listed twice */
		g->pub.members[g->pub.n_members++] = (char *)s->name;
		if (subject_rebuild(acl, s, g, NULL) == -1)
			goto nomem;
	}
	if (map_put(&acl->ntype, &acl->groupmap, &g->k,
	    hmap_hash(&acl->ntype, name, len)) == -1 ||
	    grow(&acl->arena, &acl->groups, &acl->capgroups, acl->ngroups,
	    sizeof(*acl->groups)) == -1)
		goto nomem;
	acl->groups[acl->ngroups++] = g;
	return 0;
nomem:
	util_errf(err, errlen, "out of memory");
	return -1;
}

int
acl_filter_check(const char *filter, char *err, size_t errlen)
{
	const char	*lv, *end, *p;
	size_t		 len, n, levels = 0;

	if (filter == NULL || *filter == '\0') {
		util_errf(err, errlen, "empty topic filter");
		return -1;
	}
	if ((len = strlen(filter)) > ACL_TOPIC_MAX) {
		util_errf(err, errlen, "topic filter longer than %d bytes",
		    ACL_TOPIC_MAX);
		return -1;
	}
	if (topic_utf8_check((const uint8_t *)filter, len, 0) != TOPIC_OK) {
		util_errf(err, errlen, "topic filter is not valid UTF-8");
		return -1;
	}
	if (strncmp(filter, "$share/", 7) == 0) {
		util_errf(err, errlen, "\"%s\" names a shared subscription: a "
		    "rule names the filter inside it (\"$share/group/\" is "
		    "removed before the check)", filter);
		return -1;
	}
	for (lv = filter;; lv = end + 1) {
		if ((end = strchr(lv, '/')) == NULL)
			end = lv + strlen(lv);
		n = (size_t)(end - lv);
		if (++levels > ACL_LEVELS_MAX) {
			util_errf(err, errlen, "topic filter deeper than %d "
			    "levels; end it with '#' instead", ACL_LEVELS_MAX);
			return -1;
		}
		if (memchr(lv, '#', n) != NULL) {
			if (n != 1) {
				util_errf(err, errlen, "'#' must be a whole "
				    "level, as in \"a/#\"");
				return -1;
			}
			if (*end != '\0') {
				util_errf(err, errlen, "'#' must be the last "
				    "level");
				return -1;
			}
		}
		if (memchr(lv, '+', n) != NULL && n != 1) {
			util_errf(err, errlen, "'+' must be a whole level, as "
			    "in \"a/+/b\"");
			return -1;
		}
		for (p = lv; p + 1 < end; p++) {
			if (p[0] == '%' && (p[1] == 'u' || p[1] == 'c') &&
			    n != 2) {
				util_errf(err, errlen, "\"%%%c\" must be a "
				    "whole level, as in \"devices/%%%c/#\": it "
				    "is compared with the %s as one level, "
				    "never pasted into a longer one (\"%.*s\")",
				    p[1], p[1], p[1] == 'u' ? "identity" :
				    "client id", (int)(n > 64 ? 64 : n), lv);
				return -1;
			}
		}
		if (*end == '\0')
			break;
	}
	return 0;
}

static int
action_index(unsigned a)
{
	switch (a) {
	case ACL_PUBLISH:
		return 0;
	case ACL_SUBSCRIBE:
		return 1;
	case ACL_READ:
		return 2;
	}
	return -1;
}

/* The child of <n> for the level <lv> (<len> bytes), made if missing. */
static struct node *
child(struct acl *acl, struct node *n, const char *lv, size_t len)
{
	struct node	**slot;
	struct node	 *c;
	uint64_t	  h;

	if (len == 1 && (*lv == '+' || *lv == '#'))
		goto wild;
	if (len == 2 && lv[0] == '%' && (lv[1] == 'u' || lv[1] == 'c'))
		goto wild;
	h = hmap_hash(&acl->ntype, lv, len);
	if ((c = (struct node *)map_find(&n->kids, lv, len, h)) != NULL)
		return c;
	if ((c = arena_alloc(&acl->arena, sizeof(*c))) == NULL ||
	    (c->k.name = arena_strndup(&acl->arena, lv, len)) == NULL)
		return NULL;
	c->k.len = (uint32_t)len;
	if (map_put(&acl->ntype, &n->kids, &c->k, h) == -1)
		return NULL;
	return c;
wild:
	if (n->wild == NULL &&
	    (n->wild = arena_alloc(&acl->arena, sizeof(*n->wild))) == NULL)
		return NULL;
	slot = *lv == '+' ? &n->wild->plus : *lv == '#' ? &n->wild->hash :
	    lv[1] == 'u' ? &n->wild->pu : &n->wild->pc;
	if (*slot == NULL)
		*slot = arena_alloc(&acl->arena, sizeof(**slot));
	return *slot;
}

/* The leaf for the <len>-byte filter <f> under <root>, made if missing. */
static struct leaf *
trie_leaf(struct acl *acl, struct node *root, const char *f, size_t len)
{
	const char	*lv, *end, *stop = f + len;
	struct node	*n = root;
	unsigned	 depth;

	for (lv = f;; lv = end + 1) {
		if ((end = memchr(lv, '/', (size_t)(stop - lv))) == NULL)
			end = stop;
		if ((n = child(acl, n, lv, (size_t)(end - lv))) == NULL)
			return NULL;
		if (end == stop)
			break;
	}
	if (n->leaf == NULL) {
		if ((n->leaf = arena_alloc(&acl->arena,
		    sizeof(*n->leaf))) == NULL)
			return NULL;
		n->leaf->spec = topic_specificity(f, len, &depth);
		if (depth > acl->depth)
			acl->depth = depth;
	}
	return n->leaf;
}

/*
 * Records rule <idx> (<r>) where it ends: for each of its actions it
 * decides if it is the first rule there, or a deny over an allow (earlier
 * rules win ties of the same kind).
 */
static void
leaf_add(struct leaf *lf, size_t idx, const struct acl_rule *r)
{
	int	a;

	for (a = 0; a < NACTIONS; a++) {
		if (!(r->actions & (1u << a)))
			continue;
		if (lf->d[a] == 0 || (!r->allow && !(lf->d[a] & 1)))
			lf->d[a] = DECISION(idx, r->allow ? 0 : 1);
	}
}

/* Whether <in> is a rule acl_add_rule() takes; -1 with the reason if not. */
static int
rule_check(const struct acl *acl, const struct acl_rule *in, char *err,
    size_t errlen)
{
	size_t	i;

	if (in->actions == 0 || (in->actions & ~(unsigned)ACL_ALL) != 0) {
		util_errf(err, errlen, "a rule needs one or more of the "
		    "actions publish, subscribe, read");
		return -1;
	}
	if (acl_filter_check(in->filter, err, errlen) == -1)
		return -1;
	if (in->everyone != (in->n_users == 0 && in->n_groups == 0)) {
		util_errf(err, errlen, in->everyone ? "a rule for everyone "
		    "lists no users or groups" : "a rule lists users or "
		    "groups, or is for everyone");
		return -1;
	}
	for (i = 0; i < in->n_users; i++) {
		if (in->users[i] == NULL || *in->users[i] == '\0') {
			util_errf(err, errlen, "empty user name");
			return -1;
		}
	}
	for (i = 0; i < in->n_groups; i++) {
		if (in->groups[i] == NULL ||
		    acl_group_find(acl, in->groups[i]) == NULL) {
			util_errf(err, errlen, "group \"%s\" is not declared",
			    in->groups[i] != NULL ? in->groups[i] : "");
			return -1;
		}
	}
	return 0;
}

/*
 * A copy of the checked rule <in> appended to acl->rules, its strings in
 * the arena; its user and group names are filled in by rule_index().  NULL
 * on ENOMEM (the array may have grown).
 */
static struct acl_rule *
rule_store(struct acl *acl, const struct acl_rule *in)
{
	struct acl_rule	*r;

	if (acl->nrules >= UINT32_MAX / 2 - 1)
		return NULL;
	if (acl->nrules == acl->caprules) {
		size_t		 cap = acl->caprules ? acl->caprules * 2 : 16;
		struct acl_rule	*nr;

		if ((nr = realloc(acl->rules, cap * sizeof(*nr))) == NULL)
			return NULL;
		acl->rules = nr;
		acl->caprules = cap;
	}
	r = &acl->rules[acl->nrules];
	memset(r, 0, sizeof(*r));
	if ((r->filter = arena_strndup(&acl->arena, in->filter,
	    strlen(in->filter))) == NULL ||
	    (r->file = (char *)intern_file(acl, in->file)) == NULL ||
	    (in->n_users > 0 && (r->users = arena_alloc(&acl->arena,
	    in->n_users * sizeof(char *))) == NULL) ||
	    (in->n_groups > 0 && (r->groups = arena_alloc(&acl->arena,
	    in->n_groups * sizeof(char *))) == NULL))
		return NULL;
	r->allow = in->allow;
	r->actions = in->actions;
	r->line = in->line;
	r->everyone = in->everyone;
	r->admin = in->admin;
	r->monitor = in->monitor;
	r->n_users = in->n_users;
	r->n_groups = in->n_groups;
	acl->nrules++;
	return r;
}

/*
 * Rule <idx> (stored from <in>) where checks find it: the everyone trie,
 * each named identity's rules, each named group's trie.  -1 on ENOMEM.
 */
static int
rule_index(struct acl *acl, const struct acl_rule *in, size_t idx)
{
	struct acl_rule	*r = &acl->rules[idx];
	struct subject	*s;
	struct group	*g;
	struct leaf	*lf;
	size_t		 i;

	if (in->everyone) {
		if ((lf = trie_leaf(acl, &acl->everyone, r->filter,
		    strlen(r->filter))) == NULL)
			return -1;
		leaf_add(lf, idx, r);
	}
	for (i = 0; i < in->n_users; i++) {
		if ((s = subject_get(acl, in->users[i])) == NULL)
			return -1;
		r->users[i] = (char *)s->name;
		if (subject_add(acl, s, idx) == -1)
			return -1;
	}
	for (i = 0; i < in->n_groups; i++) {
		g = (struct group *)map_find(&acl->groupmap, in->groups[i],
		    strlen(in->groups[i]), hmap_hash(&acl->ntype,
		    in->groups[i], strlen(in->groups[i])));
		if (g == NULL || (lf = trie_leaf(acl, &g->root, r->filter,
		    strlen(r->filter))) == NULL)
			return -1;
		leaf_add(lf, idx, r);
		g->used = true;
		r->groups[i] = g->pub.name;
	}
	return 0;
}

int
acl_add_rule(struct acl *acl, const struct acl_rule *in, char *err,
    size_t errlen)
{
	struct acl_rule	*r;

	if (rule_check(acl, in, err, errlen) == -1)
		return -1;
	if ((r = rule_store(acl, in)) == NULL ||
	    rule_index(acl, in, (size_t)(r - acl->rules)) == -1) {
		util_errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- checking ------------------------------------------------------- */

/*
 * Splits <t> (<len> bytes) into w->lv[], at most <keep> levels (deeper ones
 * can only be reached by '#'), and validates all of it: a topic name has
 * no wildcard; a filter has them as whole levels, '#' last.  Returns 0, or
 * -1 if it is not a valid topic (name or filter).
 */
static int
split(struct walk *w, const char *t, size_t len, uint32_t keep)
{
	size_t		 start = 0, i;
	uint32_t	 total = 0;
	bool		 wild = false;
	struct lvl	*l;

	if (len == 0 || len > ACL_TOPIC_MAX)
		return -1;
	w->t = t;
	w->tlen = len;
	w->n = 0;
	w->more = false;
	w->dollar = t[0] == '$';
	for (i = 0; i <= len; i++) {
		if (i < len && t[i] != '/') {
			if (t[i] == '+' || t[i] == '#') {
				if (!w->sub)
					return -1;
				wild = true;
			}
			continue;
		}
		if (total >= keep) {
			w->more = true;
			if (wild && !(i - start == 1 && (t[start] == '+' ||
			    (t[start] == '#' && i == len))))
				return -1;
		} else {
			l = &w->lv[w->n++];
			l->off = (uint32_t)start;
			l->len = (uint32_t)(i - start);
			l->kind = LV_LIT;
			if (wild) {
				if (l->len == 1 && t[start] == '+')
					l->kind = LV_PLUS;
				else if (l->len == 1 && t[start] == '#' &&
				    i == len)
					l->kind = LV_HASH;
				else
					return -1;
			}
			l->hash = 0;	/* hashed when first needed */
		}
		total++;
		wild = false;
		start = i + 1;
	}
	return 0;
}

/* Takes the decision at <lf>, if any, when it beats the best so far. */
static inline void
consider(struct walk *w, const struct leaf *lf)
{
	uint32_t	d, key, idx;

	if (lf == NULL || (d = lf->d[w->act]) == 0)
		return;
	key = lf->spec << 1 | (d & 1);
	idx = DECISION_IDX(d);
	if (!w->found || key > w->bestkey ||
	    (key == w->bestkey && idx < w->bestidx)) {
		w->found = true;
		w->bestkey = key;
		w->bestidx = idx;
	}
}

/*
 * The hash of literal level <l>, computed the first time a node with
 * literal children asks for it: one SipHash per level and check at most,
 * none for the levels only wildcards, "%u"/"%c" or flat rules look at.
 */
static inline uint64_t
level_hash(struct walk *w, struct lvl *l)
{
	if (l->hash == 0)
		l->hash = hmap_hash(w->ht, w->t + l->off, l->len);
	return l->hash;
}

static inline bool
level_is(const struct walk *w, const struct lvl *l, const char *s, size_t n)
{
	return n != 0 && l->kind == LV_LIT && l->len == n &&
	    memcmp(w->t + l->off, s, n) == 0;
}

/*
 * Visits every rule of the trie under <n> that matches the topic from
 * level <i> on.  For a subscription, "matches" means the rule's filter
 * covers every topic the subscription's filter can match: a subscription
 * '+' is covered only by a rule '+' (or '#'), a subscription '#' only by a
 * rule '#'.  A leading wildcard, "%u" or "%c" never reaches a '$' topic.
 */
static void
walk(struct walk *w, const struct node *n, uint32_t i)
{
	const struct wild	*wd = n->wild;
	const struct lvl	*l;
	const struct named	*kid;
	bool			 top = i == 0 && w->dollar;

	if (wd != NULL && wd->hash != NULL && !top)
		consider(w, wd->hash->leaf);
	if (i >= w->n) {
		if (!w->more)
			consider(w, n->leaf);
		return;
	}
	l = &w->lv[i];
	if (l->kind == LV_HASH)
		return;
	if (l->kind == LV_PLUS) {
		if (wd != NULL && wd->plus != NULL)
			walk(w, wd->plus, i + 1);
		return;
	}
	if (n->kids.n > 0 && (kid = map_find(&n->kids, w->t + l->off,
	    l->len, level_hash(w, &w->lv[i]))) != NULL)
		walk(w, (const struct node *)kid, i + 1);
	if (wd == NULL || top)
		return;
	if (wd->plus != NULL)
		walk(w, wd->plus, i + 1);
	if (wd->pu != NULL && level_is(w, l, w->id, w->idlen))
		walk(w, wd->pu, i + 1);
	if (wd->pc != NULL && level_is(w, l, w->cid, w->cidlen))
		walk(w, wd->pc, i + 1);
}

/*
 * Whether filter level <o> (<on> bytes, not '#') matches the topic's
 * level <i>: '+' any but a leading one on a '$' topic, "%u"/"%c" the
 * identity/client id when not empty, anything else itself.  For a
 * subscription, a topic's '+' is covered only by a '+'.
 */
static inline bool
flat_level(const struct walk *w, const char *o, size_t on, uint32_t i)
{
	const struct lvl	*l = &w->lv[i];
	bool			 top = i == 0 && w->dollar;

	if (l->kind == LV_HASH)
		return false;		/* only '#' covers '#' */
	if (on == 1 && *o == '+')
		return !top;
	if (l->kind == LV_PLUS)
		return false;
	if (on == 2 && o[0] == '%' && (o[1] == 'u' || o[1] == 'c'))
		return !top && (o[1] == 'u' ? level_is(w, l, w->id,
		    w->idlen) : level_is(w, l, w->cid, w->cidlen));
	return l->len == on && memcmp(w->t + l->off, o, on) == 0;
}

/*
 * walk() for one flat entry: its filter matched level by level against
 * the levels split() found, so the topic is scanned once per check
 * however many flat rules there are.  A flat filter is never deeper than
 * acl->depth, and split() kept one level more: a topic with levels past
 * lv[] only meets a '#'.  That this answers as the trie does is what
 * flat_vs_trie and the acl_match fuzzer prove.
 */
static void
flat_match(struct walk *w, const struct flat *e)
{
	const char	*f = e->filter, *o, *end;
	const char	*stop = f + e->len;
	uint32_t	 i = 0;

	for (o = f;; o = end + 1, i++) {
		if ((end = memchr(o, '/', (size_t)(stop - o))) == NULL)
			end = stop;
		if (end - o == 1 && *o == '#') {
			if (i > 0 || !w->dollar)
				consider(w, &e->lf);
			return;
		}
		if (i >= w->n || !flat_level(w, o, (size_t)(end - o), i))
			return;
		if (end == stop)
			break;
	}
	if (i + 1 == w->n && !w->more)
		consider(w, &e->lf);
}

static inline bool
empty_node(const struct node *n)
{
	return n->kids.n == 0 && n->wild == NULL && n->leaf == NULL;
}

/*
 * acl_check() for a valid <acl>, <who> and <action> whose identity
 * (<idlen> bytes) hashes to <h> in the identity table: the walk itself.
 * Fills <v> (never NULL).
 */
static void
check(const struct acl *acl, const struct acl_subject *who, size_t idlen,
    uint64_t h, enum acl_action action, const uint8_t *topic, size_t len,
    struct acl_verdict *v)
{
	struct walk		 w;
	const struct subject	*s;
	const char		*t = (const char *)topic, *slash;
	uint32_t		 i;

	w.found = false;
	w.bestkey = w.bestidx = 0;
	w.ht = &acl->ntype;
	w.act = (unsigned)action_index(action);
	w.sub = action == ACL_SUBSCRIBE;
	w.id = who->identity;
	w.idlen = idlen;
	w.cid = who->client_id != NULL ? who->client_id : "";
	w.cidlen = who->client_id != NULL ? who->client_id_len : 0;
	/*
	 * The identity's record is likely a cache miss, in a big index: ask
	 * for it first; split the topic and walk the everyone trie (likely
	 * cached) meanwhile.
	 */
	if ((s = hmap_home(&acl->subjects, h)) != NULL) {
		__builtin_prefetch(s);
		__builtin_prefetch((const char *)s + 64);
	}
	/* A shared subscription is checked on the filter it shares. */
	if (w.sub && len >= 7 && memcmp(t, "$share/", 7) == 0) {
		if ((slash = memchr(t + 7, '/', len - 7)) == NULL ||
		    slash == t + 7 || memchr(t + 7, '+', (size_t)(slash -
		    t - 7)) != NULL || memchr(t + 7, '#', (size_t)(slash -
		    t - 7)) != NULL)
			goto done;
		len -= (size_t)(slash + 1 - t);
		t = slash + 1;
	}
	if (split(&w, t, len, acl->depth + 1) == -1)
		goto done;
	if (!empty_node(&acl->everyone))
		walk(&w, &acl->everyone, 0);
	if ((s = hmap_find(&acl->subjects, h, w.id, w.idlen)) != NULL) {
		const unsigned char	*d = sdata(s);
		const struct flat	*e;
		struct group *const	*gs;

		e = (const struct flat *)(d + s->foff);
		for (i = 0; i < s->nflat; i++) {
			flat_match(&w, e);
			e = (const struct flat *)((const char *)e + e->size);
		}
		if (s->root != NULL)
			walk(&w, s->root, 0);
		gs = (struct group *const *)(d + s->goff);
		for (i = 0; i < s->ngroups; i++)
			walk(&w, &gs[i]->root, 0);
	}
done:
	v->allow = w.found && !(w.bestkey & 1);
	v->rule = w.found ? &acl->rules[w.bestidx] : NULL;
}

/* Whether acl_check() may look: the index, subject and action valid. */
static inline bool
checkable(const struct acl *acl, const struct acl_subject *who,
    enum acl_action action, const uint8_t *topic)
{
	return acl != NULL && who != NULL && who->identity != NULL &&
	    topic != NULL && action_index(action) != -1;
}

bool
acl_check(const struct acl *acl, const struct acl_subject *who,
    enum acl_action action, const uint8_t *topic, size_t len,
    struct acl_verdict *v)
{
	struct acl_verdict	own;
	size_t			idlen;

	if (v == NULL)
		v = &own;
	if (!checkable(acl, who, action, topic)) {
		v->allow = false;
		v->rule = NULL;
		return false;
	}
	idlen = strlen(who->identity);
	check(acl, who, idlen, hmap_hash(&acl->stype, who->identity, idlen),
	    action, topic, len, v);
	return v->allow;
}

void
acl_cache_clear(struct acl_cache *c)
{
	memset(c, 0, sizeof(*c));
}

/*
 * Makes sure the entries of <c> are of <acl> and <who>: empties it (but
 * for its counters) and hashes the identity anew when they are not.
 */
static void
cache_bind(const struct acl *acl, struct acl_cache *c,
    const struct acl_subject *who)
{
	const char	*cid = who->client_id != NULL ? who->client_id : "";
	size_t		 cidlen = who->client_id != NULL ?
			    who->client_id_len : 0;
	uint64_t	 hits = c->hits, misses = c->misses;

	if (c->serial == acl->serial && c->identity == who->identity &&
	    c->client_id == cid && c->client_id_len == cidlen)
		return;
	memset(c, 0, sizeof(*c));
	c->hits = hits;
	c->misses = misses;
	c->serial = acl->serial;
	c->identity = who->identity;
	c->idlen = strlen(who->identity);
	c->idhash = hmap_hash(&acl->stype, who->identity, c->idlen);
	c->client_id = cid;
	c->client_id_len = cidlen;
}

/* The slot of <c> holding <action> on <topic> (<len> bytes), or NULL. */
static const struct acl_cache_slot *
cache_find(const struct acl_cache *c, enum acl_action action,
    const uint8_t *topic, size_t len)
{
	const struct acl_cache_slot	*e;
	unsigned			 i;

	for (i = 0; i < ACL_CACHE_SLOTS; i++) {
		e = &c->slot[i];
		if (e->len == len && e->act == action &&
		    memcmp(e->topic, topic, len) == 0)
			return e;
	}
	return NULL;
}

bool
acl_check_cached(const struct acl *acl, struct acl_cache *c,
    const struct acl_subject *who, enum acl_action action,
    const uint8_t *topic, size_t len, struct acl_verdict *v)
{
	const struct acl_cache_slot	*hit;
	struct acl_cache_slot		*e;
	struct acl_verdict		 own;
	bool				 fits = len > 0 &&
					    len <= ACL_CACHE_TOPIC;

	if (c == NULL || !checkable(acl, who, action, topic))
		return acl_check(acl, who, action, topic, len, v);
	if (v == NULL)
		v = &own;
	cache_bind(acl, c, who);
	if (fits && (hit = cache_find(c, action, topic, len)) != NULL) {
		c->hits++;
		v->allow = hit->allow;
		v->rule = hit->rule != 0 ? &acl->rules[hit->rule - 1] : NULL;
		return v->allow;
	}
	c->misses++;
	check(acl, who, c->idlen, c->idhash, action, topic, len, v);
	if (!fits)
		return v->allow;
	e = &c->slot[c->next];
	c->next = (c->next + 1) % ACL_CACHE_SLOTS;
	memcpy(e->topic, topic, len);
	e->len = (uint16_t)len;
	e->act = (uint8_t)action;
	e->allow = v->allow;
	e->rule = v->rule != NULL ? (uint32_t)(v->rule - acl->rules) + 1 : 0;
	return v->allow;
}

/* ---- accessors ------------------------------------------------------ */

size_t
acl_count(const struct acl *acl)
{
	return acl != NULL ? acl->nrules : 0;
}

const struct acl_rule *
acl_rule_at(const struct acl *acl, size_t i)
{
	return acl != NULL && i < acl->nrules ? &acl->rules[i] : NULL;
}

size_t
acl_group_count(const struct acl *acl)
{
	return acl != NULL ? acl->ngroups : 0;
}

const struct acl_group *
acl_group_at(const struct acl *acl, size_t i)
{
	return acl != NULL && i < acl->ngroups ? &acl->groups[i]->pub : NULL;
}

const struct acl_group *
acl_group_find(const struct acl *acl, const char *name)
{
	const struct group	*g;
	size_t			 len = strlen(name);

	g = (const struct group *)map_find(&acl->groupmap, name, len,
	    hmap_hash(&acl->ntype, name, len));
	return g != NULL ? &g->pub : NULL;
}

const char *
acl_action_str(enum acl_action a)
{
	switch (a) {
	case ACL_PUBLISH:
		return "publish";
	case ACL_SUBSCRIBE:
		return "subscribe";
	case ACL_READ:
		return "read";
	}
	return "unknown";
}

int
acl_action_parse(const char *s)
{
	if (strcmp(s, "publish") == 0)
		return ACL_PUBLISH;
	if (strcmp(s, "subscribe") == 0)
		return ACL_SUBSCRIBE;
	if (strcmp(s, "read") == 0)
		return ACL_READ;
	if (strcmp(s, "all") == 0)
		return ACL_ALL;
	return -1;
}

void
acl_rule_str(const struct acl_rule *r, char *buf, size_t len)
{
	size_t	n = 0, i;
	int	a;

#define OUT(...) do {							\
	if (n < len)							\
		n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);	\
} while (0)
	if (len == 0)
		return;
	buf[0] = '\0';
	OUT("%s", r->allow ? "allow" : "deny");
	if (r->actions == ACL_ALL)
		OUT(" all");
	else
		for (a = 0, i = 0; a < NACTIONS; a++)
			if (r->actions & (1u << a))
				OUT("%s %s", i++ ? "," : "",
				    acl_action_str((enum acl_action)(1u << a)));
	OUT(" \"%s\" %s", r->filter, r->allow ? "to" : "for");
	if (r->everyone)
		OUT(" everyone");
	for (i = 0; i < r->n_users; i++)
		OUT("%s %s", i ? "," : " user", r->users[i]);
	for (i = 0; i < r->n_groups; i++)
		OUT("%s %s", i ? "," : r->n_users ? "; group" : " group",
		    r->groups[i]);
#undef OUT
}

/* ---- tests of the policy -------------------------------------------- */

int
acl_add_test(struct acl *acl, const struct acl_test *in, char *err,
    size_t errlen)
{
	struct walk	 w;
	struct acl_test	*t;
	size_t		 len;

	if (action_index(in->action) == -1) {
		util_errf(err, errlen, "unknown action");
		return -1;
	}
	len = in->topic != NULL ? strlen(in->topic) : 0;
	w.ht = &acl->ntype;	/* split() keeps no level: hashes none */
	w.sub = in->action == ACL_SUBSCRIBE;
	if (len == 0 || split(&w, in->topic, len, 0) == -1 ||
	    topic_utf8_check((const uint8_t *)in->topic, len, 0) != TOPIC_OK) {
		util_errf(err, errlen, w.sub ? "not a valid topic filter" :
		    "not a valid topic name (a wildcard is for subscribe)");
		return -1;
	}
	if (in->identity != NULL && *in->identity == '\0') {
		util_errf(err, errlen, "empty user name");
		return -1;
	}
	if (grow(&acl->arena, &acl->tests, &acl->captests, acl->ntests,
	    sizeof(*acl->tests)) == -1 ||
	    (t = arena_alloc(&acl->arena, sizeof(*t))) == NULL ||
	    (in->identity != NULL && (t->identity = arena_strndup(&acl->arena,
	    in->identity, strlen(in->identity))) == NULL) ||
	    (t->client_id = arena_strndup(&acl->arena, in->client_id != NULL ?
	    in->client_id : "", in->client_id != NULL ?
	    strlen(in->client_id) : 0)) == NULL ||
	    (t->topic = arena_strndup(&acl->arena, in->topic, len)) == NULL ||
	    (t->file = (char *)intern_file(acl, in->file)) == NULL) {
		util_errf(err, errlen, "out of memory");
		return -1;
	}
	t->action = in->action;
	t->expect_allow = in->expect_allow;
	t->line = in->line;
	acl->tests[acl->ntests++] = t;
	return 0;
}

size_t
acl_test_count(const struct acl *acl)
{
	return acl != NULL ? acl->ntests : 0;
}

const struct acl_test *
acl_test_at(const struct acl *acl, size_t i)
{
	return acl != NULL && i < acl->ntests ? acl->tests[i] : NULL;
}

bool
acl_test_run(const struct acl *acl, const struct acl_test *t,
    const char *anonymous_identity, struct acl_verdict *v)
{
	struct acl_subject	who;
	bool			allow;

	who.identity = t->identity != NULL ? t->identity : anonymous_identity;
	who.client_id = t->client_id;
	who.client_id_len = strlen(t->client_id);
	allow = acl_check(acl, &who, t->action, (const uint8_t *)t->topic,
	    strlen(t->topic), v);
	return allow == t->expect_allow;
}

/* ---- lint ----------------------------------------------------------- */

/* Whether rule <r> names user <u>, itself or through a group. */
static bool
names_user(const struct acl *acl, const struct acl_rule *r, const char *u)
{
	const struct acl_group	*g;
	size_t			 i, j;

	for (i = 0; i < r->n_users; i++)
		if (strcmp(r->users[i], u) == 0)
			return true;
	for (i = 0; i < r->n_groups; i++) {
		g = acl_group_find(acl, r->groups[i]);
		for (j = 0; g != NULL && j < g->n_members; j++)
			if (strcmp(g->members[j], u) == 0)
				return true;
	}
	return false;
}

/* Whether every identity <in> applies to, <out> applies to as well. */
static bool
covers_subjects(const struct acl *acl, const struct acl_rule *out,
    const struct acl_rule *in)
{
	const struct acl_group	*g;
	size_t			 i, j, k;

	if (out->everyone)
		return true;
	if (in->everyone)
		return false;
	for (i = 0; i < in->n_users; i++)
		if (!names_user(acl, out, in->users[i]))
			return false;
	for (i = 0; i < in->n_groups; i++) {
		for (k = 0; k < out->n_groups; k++)
			if (strcmp(out->groups[k], in->groups[i]) == 0)
				break;
		if (k < out->n_groups)
			continue;
		g = acl_group_find(acl, in->groups[i]);
		for (j = 0; g != NULL && j < g->n_members; j++)
			if (!names_user(acl, out, g->members[j]))
				return false;
	}
	return true;
}

/* "#", "+/#", "+/+/#": wildcards only, ending in '#'. */
static bool
broad(const char *f)
{
	while (f[0] == '+' && f[1] == '/')
		f += 2;
	return strcmp(f, "#") == 0;
}

static void
actions_str(unsigned actions, char *buf, size_t len)
{
	size_t	n = 0;
	int	a;

	buf[0] = '\0';
	for (a = 0; a < NACTIONS; a++)
		if ((actions & (1u << a)) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n ? ", " : "", acl_action_str((enum acl_action)
			    (1u << a)));
}

/* Rules by filter, for the shadowing questions.  Temporary, malloc'd. */
struct fidx {
	struct hmap_type type;		/* the index's ntype, this arena */
	struct hmap	 map;
	struct arena	 arena;
};

struct fentry {
	struct named	 k;
	size_t		*rules;		/* indexes, n of cap */
	size_t		 n, cap;
};

static struct fentry *
fidx_get(struct fidx *fx, const char *f, size_t len, bool make)
{
	struct fentry	*e;
	uint64_t	 h = hmap_hash(&fx->type, f, len);

	if ((e = (struct fentry *)map_find(&fx->map, f, len, h)) != NULL ||
	    !make)
		return e;
	if ((e = arena_alloc(&fx->arena, sizeof(*e))) == NULL)
		return NULL;
	e->k.name = f;
	e->k.len = (uint32_t)len;
	if (map_put(&fx->type, &fx->map, &e->k, h) == -1)
		return NULL;
	return e;
}

/*
 * Rule <i> never decides, or decides nothing another rule would not: a
 * rule <j> on the same filter, or on the same filter with "/#" added
 * (equally specific, and covering it), applies to all its identities and
 * actions and wins (a deny at equal specificity, or the earlier of two of
 * the same kind).
 */
static size_t
lint_shadow(const struct acl *acl, struct fidx *fx, size_t i,
    void (*warn)(void *, const char *, int, const char *), void *arg)
{
	const struct acl_rule	*r = &acl->rules[i], *o;
	const struct fentry	*e[2];
	char			 buf[80 + ACL_TOPIC_MAX], acts[40], msg[512];
	size_t			 flen = strlen(r->filter), k, m, found = 0;
	unsigned		 both;
	bool			 hashed;

	e[0] = fidx_get(fx, r->filter, flen, false);
	e[1] = NULL;
	hashed = flen >= 1 && r->filter[flen - 1] == '#' &&
	    (flen == 1 || r->filter[flen - 2] == '/');
	if (!hashed && flen + 2 < sizeof(buf)) {
		snprintf(buf, sizeof(buf), "%s/#", r->filter);
		e[1] = fidx_get(fx, buf, flen + 2, false);
	}
	for (k = 0; k < 2 && found == 0; k++) {
		for (m = 0; e[k] != NULL && m < e[k]->n && found == 0; m++) {
			if (e[k]->rules[m] == i)
				continue;
			o = &acl->rules[e[k]->rules[m]];
			if (!covers_subjects(acl, o, r))
				continue;
			both = o->actions & r->actions;
			if (r->allow && !o->allow && both != 0) {
				actions_str(both, acts, sizeof(acts));
				snprintf(msg, sizeof(msg), "rule never "
				    "decides%s%s: the deny at %s:%d (\"%s\") "
				    "covers it at equal specificity, and deny "
				    "wins ties", both == r->actions ? "" :
				    " for ", both == r->actions ? "" : acts,
				    o->file, o->line, o->filter);
			} else if (r->allow == o->allow &&
			    (r->actions & ~o->actions) == 0 &&
			    (k == 1 || e[k]->rules[m] < i))
				snprintf(msg, sizeof(msg), "rule is redundant: "
				    "the %s at %s:%d (\"%s\") already %s "
				    "everything it does", o->allow ? "allow" :
				    "deny", o->file, o->line, o->filter,
				    o->allow ? "allows" : "denies");
			else
				continue;
			warn(arg, r->file, r->line, msg);
			found++;
		}
	}
	return found;
}

/* Findings about the identities a rule names. */
static size_t
lint_names(const struct acl *acl, const struct acl_lint_ctx *ctx,
    const struct acl_rule *r,
    void (*warn)(void *, const char *, int, const char *), void *arg)
{
	const struct acl_group	*g;
	char			 msg[512];
	size_t			 i, j, found = 0;
	bool			 known;

	for (i = 0; i < r->n_users; i++) {
		known = false;
		for (j = 0; j < ctx->n_users && !known; j++)
			known = strcmp(ctx->users[j].name, r->users[i]) == 0;
		if (known)
			continue;
		if (strcmp(r->users[i], ctx->anonymous_identity) == 0) {
			if (ctx->anonymous)
				continue;
			snprintf(msg, sizeof(msg), "rule names the anonymous "
			    "identity \"%s\", but auth.anonymous is false: it "
			    "never matches", r->users[i]);
		} else if (ctx->users_known && !ctx->cert_identities)
			snprintf(msg, sizeof(msg), "user \"%s\" is not in the "
			    "password file nor the anonymous identity: the "
			    "rule never matches it", r->users[i]);
		else
			continue;
		warn(arg, r->file, r->line, msg);
		found++;
	}
	for (i = 0; i < r->n_groups; i++) {
		if ((g = acl_group_find(acl, r->groups[i])) == NULL ||
		    g->n_members > 0)
			continue;
		snprintf(msg, sizeof(msg), "group \"%s\" has no members: the "
		    "rule never matches through it", g->name);
		warn(arg, r->file, r->line, msg);
		found++;
	}
	return found;
}

/*
 * The rules that never decide or are redundant: the rules indexed by
 * filter, so that lint_shadow() finds those on the same filter at once.
 */
static size_t
lint_shadows(const struct acl *acl,
    void (*warn)(void *, const char *, int, const char *), void *arg)
{
	struct fidx	 fx;
	struct fentry	*e;
	struct chunk	*c, *next;
	size_t		 i, found = 0;

	memset(&fx, 0, sizeof(fx));
	fx.type = acl->ntype;
	fx.type.ctx = &fx.arena;
	for (i = 0; i < acl->nrules; i++) {
		if ((e = fidx_get(&fx, acl->rules[i].filter,
		    strlen(acl->rules[i].filter), true)) == NULL ||
		    grow(&fx.arena, &e->rules, &e->cap, e->n,
		    sizeof(*e->rules)) == -1) {
			warn(arg, NULL, 0, "out of memory: rules not compared");
			found++;
			goto done;
		}
		e->rules[e->n++] = i;
	}
	for (i = 0; i < acl->nrules; i++)
		found += lint_shadow(acl, &fx, i, warn, arg);
done:
	for (c = fx.arena.head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	return found;
}

/*
 * What rule <r> grants too widely: every topic to everyone or to users
 * not marked admin, publish to clients without credentials.
 */
static size_t
lint_grants(const struct acl *acl, const struct acl_lint_ctx *ctx,
    const struct acl_rule *r,
    void (*warn)(void *, const char *, int, const char *), void *arg)
{
	char	msg[512], acts[40];
	size_t	found = 0;
	bool	anon;

	actions_str(r->actions, acts, sizeof(acts));
	if (r->allow && broad(r->filter) && (r->everyone || !r->admin)) {
		snprintf(msg, sizeof(msg), "allows %s on \"%s\" to %s%s", acts,
		    r->filter, r->everyone ? "everyone" :
		    "users or groups not marked admin: true",
		    r->everyone ? ": every client reaches every topic; "
		    "narrow the filter" : "; narrow it, or add admin: true if "
		    "this is meant");
		warn(arg, r->file, r->line, msg);
		found++;
	}
	anon = names_user(acl, r, ctx->anonymous_identity);
	if (r->allow && (r->actions & ACL_PUBLISH) &&
	    (anon || (r->everyone && ctx->anonymous))) {
		snprintf(msg, sizeof(msg), "gives publish on \"%s\" to %s",
		    r->filter, anon ? "the anonymous identity" : "everyone "
		    "while auth.anonymous is true: clients without "
		    "credentials may write");
		warn(arg, r->file, r->line, msg);
		found++;
	}
	return found;
}

/*
 * Names that no rule uses: declared groups no rule names, and, when no
 * rule is for everyone, users of the password file no rule names.
 */
static size_t
lint_unused(const struct acl *acl, const struct acl_lint_ctx *ctx,
    void (*warn)(void *, const char *, int, const char *), void *arg)
{
	const struct group	*g;
	char			 msg[512];
	size_t			 i, j, found = 0;
	bool			 everyone = false, named;

	for (i = 0; i < acl->ngroups; i++) {
		g = acl->groups[i];
		if (g->used)
			continue;
		snprintf(msg, sizeof(msg), "group \"%s\" is declared but no "
		    "rule names it", g->pub.name);
		warn(arg, g->pub.file, g->pub.line, msg);
		found++;
	}
	for (i = 0; i < acl->nrules; i++)
		everyone |= acl->rules[i].everyone;
	for (i = 0; i < ctx->n_users && !everyone; i++) {
		for (j = 0, named = false; j < acl->nrules && !named; j++)
			named = names_user(acl, &acl->rules[j],
			    ctx->users[i].name);
		if (named)
			continue;
		snprintf(msg, sizeof(msg), "user \"%s\" has no rule (by name "
		    "or group) and there is no rule for everyone: every topic "
		    "is denied to it", ctx->users[i].name);
		warn(arg, ctx->users[i].file, ctx->users[i].line, msg);
		found++;
	}
	return found;
}

size_t
acl_lint(const struct acl *acl, const struct acl_lint_ctx *ctx,
    void (*warn)(void *, const char *, int, const char *), void *arg)
{
	size_t	i, found;

	found = lint_shadows(acl, warn, arg);
	for (i = 0; i < acl->nrules; i++) {
		found += lint_grants(acl, ctx, &acl->rules[i], warn, arg);
		found += lint_names(acl, ctx, &acl->rules[i], warn, arg);
	}
	return found + lint_unused(acl, ctx, warn, arg);
}
