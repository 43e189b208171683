// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flowlens-ctquery: answers conntrack lookups one tuple at a time over ctnetlink
 * (IPCTNL_MSG_CT_GET), for the agent's service translation. Reading the whole table from
 * /proc/net/nf_conntrack costs ~5 us per entry and grows with the node's connections; a GET
 * costs the same for any table size.
 *
 * stdin, one query per line:   ID o|r PROTO SRC SPORT DST DPORT
 *   o: the entry whose original tuple is SRC:SPORT -> DST:DPORT (a client's connection as it
 *      sent it); answers the reply tuple's source: where it really went.
 *   r: the entry whose reply tuple is SRC:SPORT -> DST:DPORT (a server's answer to its peer);
 *      answers the original tuple's destination: what the client dialled.
 * stdout, one answer per query, in order:
 *   ID = ADDR PORT PEER PEERPORT   found; PEER PEERPORT: the client's end as the other direction
 *                    names it (o: the reply's destination, the client as the server sees it; r: the
 *                    original source, the client as it sent): they differ from the query's when
 *                    conntrack rewrote the client's port (a tuple clash) or address (SNAT)
 *   ID -             no such entry
 *   ID ! ERRNO       the kernel refused (EPERM, EPROTONOSUPPORT ...) or the line was invalid (22)
 * Answers to the queries of one read are written together. Exits 0 at end of input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES 256
#define OUT_BYTES 65536

struct tuple {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* network order */
	int have_ip, have_ports;
};

static int nl_fd = -1;
static uint32_t nl_seq;

static void *put_attr(char *buf, size_t *len, uint16_t type, const void *data, uint16_t dlen)
{
	struct nlattr *a = (struct nlattr *)(buf + *len);
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + dlen;
	if (data)
		memcpy((char *)a + NLA_HDRLEN, data, dlen);
	*len += NLA_ALIGN(a->nla_len);
	return a;
}

static void end_nest(char *buf, size_t len, struct nlattr *nest)
{
	nest->nla_len = (uint16_t)(buf + len - (char *)nest);
}

/* Sends one CT_GET for the tuple (as the original or the reply direction); fills *out with the entry's
 * other tuple's wanted end. Returns 0, or a positive errno. */
static int ct_get(int by_reply, int proto, const struct tuple *q, struct tuple *orig, struct tuple *reply)
{
	union {
		char buf[512];
		struct nlmsghdr nlh;
	} req;
	memset(&req, 0, sizeof(req));
	size_t len = NLMSG_HDRLEN;
	struct nfgenmsg *nfg = (struct nfgenmsg *)(req.buf + len);
	nfg->nfgen_family = (uint8_t)q->family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	len += NLMSG_ALIGN(sizeof(*nfg));
	int v6 = q->family == AF_INET6;
	uint16_t alen = v6 ? 16 : 4;
	struct nlattr *t = put_attr(req.buf, &len, (by_reply ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG) | NLA_F_NESTED, NULL, 0);
	struct nlattr *ip = put_attr(req.buf, &len, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
	put_attr(req.buf, &len, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, q->src, alen);
	put_attr(req.buf, &len, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, q->dst, alen);
	end_nest(req.buf, len, ip);
	struct nlattr *p = put_attr(req.buf, &len, CTA_TUPLE_PROTO | NLA_F_NESTED, NULL, 0);
	uint8_t pnum = (uint8_t)proto;
	put_attr(req.buf, &len, CTA_PROTO_NUM, &pnum, 1);
	put_attr(req.buf, &len, CTA_PROTO_SRC_PORT, &q->sport, 2);
	put_attr(req.buf, &len, CTA_PROTO_DST_PORT, &q->dport, 2);
	end_nest(req.buf, len, p);
	end_nest(req.buf, len, t);
	req.nlh.nlmsg_len = (uint32_t)len;
	req.nlh.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	req.nlh.nlmsg_flags = NLM_F_REQUEST; /* an error is answered anyway; success is the entry alone */
	req.nlh.nlmsg_seq = ++nl_seq;

	if (send(nl_fd, req.buf, len, 0) < 0)
		return errno;
	static char resp[8192];
	for (;;) {
		ssize_t n = recv(nl_fd, resp, sizeof(resp), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)resp; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != nl_seq)
				continue; /* a late answer to an earlier query */
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? -e->error : EBADMSG;
			}
			if (h->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW))
				return EBADMSG;
			const char *a0 = (const char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
			int rem = (int)h->nlmsg_len - (int)(a0 - (const char *)h);
			memset(orig, 0, sizeof(*orig));
			memset(reply, 0, sizeof(*reply));
			for (const struct nlattr *a = (const void *)a0; rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
			     rem -= NLA_ALIGN(a->nla_len), a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len))) {
				int type = a->nla_type & NLA_TYPE_MASK;
				struct tuple *tp = type == CTA_TUPLE_ORIG ? orig : type == CTA_TUPLE_REPLY ? reply : NULL;
				if (!tp)
					continue;
				tp->family = q->family;
				int trem = a->nla_len - NLA_HDRLEN;
				for (const struct nlattr *b = (const void *)((const char *)a + NLA_HDRLEN); trem >= NLA_HDRLEN && b->nla_len >= NLA_HDRLEN && b->nla_len <= trem;
				     trem -= NLA_ALIGN(b->nla_len), b = (const void *)((const char *)b + NLA_ALIGN(b->nla_len))) {
					int btype = b->nla_type & NLA_TYPE_MASK;
					int crem = b->nla_len - NLA_HDRLEN;
					for (const struct nlattr *c = (const void *)((const char *)b + NLA_HDRLEN); crem >= NLA_HDRLEN && c->nla_len >= NLA_HDRLEN && c->nla_len <= crem;
					     crem -= NLA_ALIGN(c->nla_len), c = (const void *)((const char *)c + NLA_ALIGN(c->nla_len))) {
						int ctype = c->nla_type & NLA_TYPE_MASK;
						const void *d = (const char *)c + NLA_HDRLEN;
						int dlen = c->nla_len - NLA_HDRLEN;
						if (btype == CTA_TUPLE_IP && dlen == alen) {
							if (ctype == (v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC))
								memcpy(tp->src, d, alen), tp->have_ip |= 1;
							else if (ctype == (v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST))
								memcpy(tp->dst, d, alen), tp->have_ip |= 2;
						} else if (btype == CTA_TUPLE_PROTO && dlen == 2) {
							if (ctype == CTA_PROTO_SRC_PORT)
								memcpy(&tp->sport, d, 2), tp->have_ports |= 1;
							else if (ctype == CTA_PROTO_DST_PORT)
								memcpy(&tp->dport, d, 2), tp->have_ports |= 2;
						}
					}
				}
			}
			return orig->have_ip == 3 && orig->have_ports == 3 && reply->have_ip == 3 && reply->have_ports == 3 ? 0 : EBADMSG;
		}
	}
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 65535 || s[0] == '-' || s[0] == '+')
		return -1;
	*out = htons((uint16_t)v);
	return 0;
}

static int parse_addr(const char *s, struct tuple *t, uint8_t *out)
{
	int family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (t->family && t->family != family)
		return -1;
	t->family = family;
	return inet_pton(family, s, out) == 1 ? 0 : -1;
}

/* One query line -> one answer appended to out. */
static size_t answer(char *line, char *out, size_t cap)
{
	char *f[8];
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok && n < 8; tok = strtok_r(NULL, " ", &save))
		f[n++] = tok;
	unsigned long id = 0;
	char *end = NULL;
	if (n >= 1)
		id = strtoul(f[0], &end, 10);
	if (n < 1 || !end || *end || end == f[0] || f[0][0] == '-')
		return (size_t)snprintf(out, cap, "0 ! %d\n", EINVAL);
	struct tuple q = { 0 };
	char *pend = NULL;
	long proto = n == 7 ? strtol(f[2], &pend, 10) : -1;
	if (n != 7 || (strcmp(f[1], "o") && strcmp(f[1], "r")) || !pend || *pend || (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP) ||
	    parse_addr(f[3], &q, q.src) || parse_port(f[4], &q.sport) || parse_addr(f[5], &q, q.dst) || parse_port(f[6], &q.dport))
		return (size_t)snprintf(out, cap, "%lu ! %d\n", id, EINVAL);
	int by_reply = f[1][0] == 'r';
	struct tuple orig, reply;
	int err = ct_get(by_reply, (int)proto, &q, &orig, &reply);
	if (err == ENOENT)
		return (size_t)snprintf(out, cap, "%lu -\n", id);
	if (err)
		return (size_t)snprintf(out, cap, "%lu ! %d\n", id, err);
	/* o: where the connection really went (the reply's source); r: what the client dialled. */
	const uint8_t *addr = by_reply ? orig.dst : reply.src, *peer = by_reply ? orig.src : reply.dst;
	uint16_t port = by_reply ? orig.dport : reply.sport, peer_port = by_reply ? orig.sport : reply.dport;
	char text[INET6_ADDRSTRLEN], peer_text[INET6_ADDRSTRLEN];
	inet_ntop(q.family, addr, text, sizeof(text));
	inet_ntop(q.family, peer, peer_text, sizeof(peer_text));
	return (size_t)snprintf(out, cap, "%lu = %s %u %s %u\n", id, text, ntohs(port), peer_text, ntohs(peer_port));
}

static int write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(void)
{
	nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (nl_fd < 0) {
		fprintf(stderr, "flowlens-ctquery: netlink socket: %s\n", strerror(errno));
		return 1;
	}
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	if (bind(nl_fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		fprintf(stderr, "flowlens-ctquery: netlink bind: %s\n", strerror(errno));
		return 1;
	}
	static char in[65536];
	static char out[OUT_BYTES];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, in + have, sizeof(in) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? 1 : 0;
		have += (size_t)n;
		size_t used = 0, olen = 0;
		for (char *nl; (nl = memchr(in + used, '\n', have - used)) != NULL; used = (size_t)(nl - in) + 1) {
			*nl = '\0';
			if ((size_t)(nl - (in + used)) > LINE_MAX_BYTES)
				(in + used)[0] = '\0'; /* an over-long line answers as invalid */
			if (olen + 128 > sizeof(out)) {
				if (write_all(out, olen))
					return 1;
				olen = 0;
			}
			olen += answer(in + used, out + olen, sizeof(out) - olen);
		}
		if (olen && write_all(out, olen))
			return 1;
		memmove(in, in + used, have - used);
		have -= used;
		if (have == sizeof(in)) { /* no newline in a full buffer: not our protocol */
			fprintf(stderr, "flowlens-ctquery: line too long\n");
			return 1;
		}
	}
}
