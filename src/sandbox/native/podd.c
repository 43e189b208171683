// flowlens-podd: the process inside each sandbox pod (one per pod, a few hundred KB RSS).
//
//   flowlens-podd serve [--tcp PORT[:http]]... [--udp PORT]...
//       TCP echo, HTTP/1.1 (keep-alive; answers any request with 200 naming $POD_NAME and the
//       path) and UDP echo servers. One epoll loop, non-blocking sockets, no threads. Exits on
//       SIGTERM/SIGINT.
//   flowlens-podd probe --host H --port N --protocol tcp|udp --timeout-ms T [--send BYTES]
//       One connection attempt; prints one JSON line; exit 0 when connected, 1 when not.
//       The default payload is an HTTP/1.0 request, so echo servers echo it and HTTP servers
//       answer it: either way a backend that answers is visible in "reply".
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 64
#define BUF_SIZE 16384
#define MAX_EVENTS 64

enum kind { K_TCP_ECHO, K_TCP_HTTP, K_UDP, K_SIGNAL, K_CONN };

struct conn {
	enum kind kind; /* must stay first: epoll data points at either a conn or a listener */
	int fd;
	int http;
	size_t in_len, out_len, out_off;
	size_t discard; /* request body bytes still to skip (HTTP) */
	int close_after; /* close once out is flushed (HTTP/1.0 or Connection: close) */
	char in[BUF_SIZE];
	char out[BUF_SIZE];
};

struct listener {
	enum kind kind;
	int fd;
	int port;
};

static struct listener listeners[MAX_LISTENERS];
static int n_listeners;
static int epfd;
static const char *pod_name = "unknown";

static int parse_port(const char *s) {
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || v < 1 || v > 65535 || (*end != '\0' && *end != ':')) return -1;
	return (int)v;
}

static int add_listener(int port, int udp, int http) {
	if (n_listeners >= MAX_LISTENERS) return -1;
	int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (!udp && listen(fd, 1024) < 0)) {
		fprintf(stderr, "podd: bind %s/%d: %s\n", udp ? "udp" : "tcp", port, strerror(errno));
		close(fd);
		return -1;
	}
	struct listener *l = &listeners[n_listeners++];
	l->kind = udp ? K_UDP : (http ? K_TCP_HTTP : K_TCP_ECHO);
	l->fd = fd;
	l->port = port;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void conn_close(struct conn *c) {
	close(c->fd); /* closing removes it from the epoll set */
	free(c);
}

static void conn_arm(struct conn *c) {
	struct epoll_event ev = { .events = c->out_len > c->out_off ? EPOLLOUT : EPOLLIN, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is pending; returns -1 on a fatal error, 0 otherwise. */
static int conn_flush(struct conn *c) {
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	return 0;
}

static void accept_all(struct listener *l) {
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) return;
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) { close(fd); continue; }
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->kind = K_CONN;
		c->fd = fd;
		c->http = l->kind == K_TCP_HTTP;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) conn_close(c);
	}
}

static int header_has(const char *hdrs, size_t len, const char *name, const char *value) {
	/* case-insensitive search for "name:" followed by a value containing `value` on the same line */
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl < len; i++) {
		if ((i == 0 || hdrs[i - 1] == '\n') && strncasecmp(hdrs + i, name, nl) == 0 && hdrs[i + nl] == ':') {
			const char *eol = memchr(hdrs + i, '\r', len - i);
			size_t vlen = eol ? (size_t)(eol - (hdrs + i)) : len - i;
			char line[512];
			if (vlen >= sizeof(line)) vlen = sizeof(line) - 1;
			memcpy(line, hdrs + i, vlen);
			line[vlen] = '\0';
			if (value == NULL) return 1;
			return strcasestr(line + nl + 1, value) != NULL;
		}
	}
	return 0;
}

static long header_long(const char *hdrs, size_t len, const char *name) {
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl < len; i++) {
		if ((i == 0 || hdrs[i - 1] == '\n') && strncasecmp(hdrs + i, name, nl) == 0 && hdrs[i + nl] == ':')
			return strtol(hdrs + i + nl + 1, NULL, 10);
	}
	return 0;
}

static int http_respond(struct conn *c, const char *req, size_t hlen) {
	char method[16] = "", path[256] = "", version[16] = "";
	if (sscanf(req, "%15s %255s %15s", method, path, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
		const char *bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		c->out_len = strlen(bad);
		memcpy(c->out, bad, c->out_len);
		c->close_after = 1;
		return 0;
	}
	int http10 = strcmp(version, "HTTP/1.0") == 0;
	c->close_after = http10 ? !header_has(req, hlen, "connection", "keep-alive") : header_has(req, hlen, "connection", "close");
	if (header_has(req, hlen, "transfer-encoding", "chunked")) c->close_after = 1; /* not supported: answer, then close */
	long cl = header_long(req, hlen, "content-length");
	c->discard = cl > 0 ? (size_t)cl : 0;
	char body[512];
	int blen = snprintf(body, sizeof(body), "pod=%s path=%s\n", pod_name, path);
	if (blen < 0 || (size_t)blen >= sizeof(body)) blen = (int)sizeof(body) - 1;
	int n = snprintf(c->out + c->out_len, sizeof(c->out) - c->out_len,
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Pod-Name: %s\r\nConnection: %s\r\n\r\n%.*s",
		blen, pod_name, c->close_after ? "close" : "keep-alive", blen, body);
	if (n < 0 || (size_t)n >= sizeof(c->out) - c->out_len) return -1;
	c->out_len += (size_t)n;
	return 0;
}

/* Consumes complete requests from c->in; returns -1 to close the connection. */
static int http_process(struct conn *c) {
	for (;;) {
		if (c->discard > 0) {
			size_t d = c->discard < c->in_len ? c->discard : c->in_len;
			memmove(c->in, c->in + d, c->in_len - d);
			c->in_len -= d;
			c->discard -= d;
			if (c->discard > 0) return 0;
		}
		if (c->close_after || c->out_len > sizeof(c->out) / 2) return 0; /* flush first */
		char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		if (!end) return c->in_len >= sizeof(c->in) ? -1 : 0; /* headers too large: drop */
		size_t hlen = (size_t)(end - c->in) + 4;
		c->in[hlen - 1] = '\0'; /* safe: sscanf/strcasestr stop at the header end */
		if (http_respond(c, c->in, hlen) < 0) return -1;
		memmove(c->in, c->in + hlen, c->in_len - hlen);
		c->in_len -= hlen;
	}
}

static void conn_event(struct conn *c, uint32_t events) {
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) { conn_close(c); return; }
	if (events & EPOLLOUT) {
		if (conn_flush(c) < 0) { conn_close(c); return; }
		if (c->out_len == 0 && c->close_after) { conn_close(c); return; }
		if (c->http && http_process(c) < 0) { conn_close(c); return; }
		if (conn_flush(c) < 0) { conn_close(c); return; }
		conn_arm(c);
		return;
	}
	size_t room = sizeof(c->in) - c->in_len;
	ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) { conn_close(c); return; }
	if (n < 0) return;
	if (!c->http) { /* echo: move input to output */
		memcpy(c->out, c->in, (size_t)n);
		c->out_len = (size_t)n;
		c->out_off = 0;
	} else {
		c->in_len += (size_t)n;
		if (http_process(c) < 0) { conn_close(c); return; }
	}
	if (conn_flush(c) < 0 || (c->out_len == 0 && c->close_after)) { conn_close(c); return; }
	conn_arm(c);
}

static void udp_event(struct listener *l) {
	char buf[65536];
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(l->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) return;
		sendto(l->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

static int serve_loop(int sfd) {
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return 1;
		for (int i = 0; i < n; i++) {
			enum kind k = *(enum kind *)evs[i].data.ptr;
			if (k == K_SIGNAL) return 0;
			if (k == K_CONN) conn_event(evs[i].data.ptr, evs[i].events);
			else if (k == K_UDP) udp_event(evs[i].data.ptr);
			else accept_all(evs[i].data.ptr);
		}
	}
	(void)sfd;
}

static int cmd_serve(int argc, char **argv) {
	const char *env = getenv("POD_NAME");
	if (env && *env) pod_name = env;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) return 1;
	for (int i = 0; i < argc; i++) {
		int udp = strcmp(argv[i], "--udp") == 0;
		if ((!udp && strcmp(argv[i], "--tcp") != 0) || i + 1 >= argc) {
			fprintf(stderr, "usage: flowlens-podd serve [--tcp PORT[:http]]... [--udp PORT]...\n");
			return 2;
		}
		const char *spec = argv[++i];
		int port = parse_port(spec);
		const char *colon = strchr(spec, ':');
		int http = colon && strcmp(colon, ":http") == 0;
		if (port < 0 || (colon && (udp || !http))) { fprintf(stderr, "podd: bad port %s\n", spec); return 2; }
		if (add_listener(port, udp, http) < 0) return 1;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	static enum kind sigkind = K_SIGNAL;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &sigkind };
	if (sfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0) return 1;
	signal(SIGPIPE, SIG_IGN);
	/* tell the supervisor every port is bound; stdout is not used afterwards */
	if (write(STDOUT_FILENO, "ready\n", 6) != 6 && errno != EBADF) return 1;
	close(STDOUT_FILENO);
	return serve_loop(sfd);
}

/* ---------------- probe ---------------- */

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void json_str(const char *s, size_t len) {
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') printf("\\%c", ch);
		else if (ch == '\n') printf("\\n");
		else if (ch == '\r') printf("\\r");
		else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch);
		else putchar(ch);
	}
	putchar('"');
}

struct probe {
	const char *host, *proto, *send;
	int port, timeout_ms;
	char ip[INET_ADDRSTRLEN], local_ip[INET_ADDRSTRLEN];
	int local_port, connected;
	double latency_ms;
	char error[128];
	char reply[256];
	ssize_t reply_len;
};

static void probe_print(struct probe *p) {
	printf("{\"connected\":%s,\"ip\":", p->connected ? "true" : "false");
	if (p->ip[0]) json_str(p->ip, strlen(p->ip)); else printf("null");
	printf(",\"port\":%d,\"protocol\":\"%s\",\"local_ip\":", p->port, p->proto);
	if (p->local_ip[0]) json_str(p->local_ip, strlen(p->local_ip)); else printf("null");
	printf(",\"local_port\":%d,\"latency_ms\":%.3f", p->local_port, p->latency_ms);
	if (p->reply_len >= 0) {
		printf(",\"reply_bytes\":%zd,\"reply\":", p->reply_len);
		json_str(p->reply, (size_t)p->reply_len < sizeof(p->reply) ? (size_t)p->reply_len : sizeof(p->reply));
	}
	if (!p->connected) { printf(",\"error\":"); json_str(p->error, strlen(p->error)); }
	printf("}\n");
}

static int wait_fd(int fd, short events, int timeout_ms) {
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;
	do r = poll(&pfd, 1, timeout_ms); while (r < 0 && errno == EINTR);
	return r;
}

static void probe_local(struct probe *p, int fd) {
	struct sockaddr_in la;
	socklen_t ll = sizeof(la);
	if (getsockname(fd, (struct sockaddr *)&la, &ll) == 0) {
		inet_ntop(AF_INET, &la.sin_addr, p->local_ip, sizeof(p->local_ip));
		p->local_port = ntohs(la.sin_port);
	}
}

static void probe_read_reply(struct probe *p, int fd, int remaining_ms) {
	if (remaining_ms < 1) remaining_ms = 1;
	if (wait_fd(fd, POLLIN, remaining_ms) > 0) {
		ssize_t n = recv(fd, p->reply, sizeof(p->reply), 0);
		if (n >= 0) p->reply_len = n;
		else if (!p->error[0]) snprintf(p->error, sizeof(p->error), "%s", strerror(errno));
	}
}

static void probe_tcp(struct probe *p, int fd, struct sockaddr *addr, socklen_t alen, double start) {
	int r = connect(fd, addr, alen);
	if (r < 0 && errno != EINPROGRESS) { snprintf(p->error, sizeof(p->error), "%s", strerror(errno)); return; }
	if (r < 0) {
		if (wait_fd(fd, POLLOUT, p->timeout_ms) <= 0) { snprintf(p->error, sizeof(p->error), "timeout"); return; }
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) { snprintf(p->error, sizeof(p->error), "%s", strerror(err)); return; }
	}
	p->latency_ms = now_ms() - start;
	p->connected = 1;
	probe_local(p, fd);
	if (send(fd, p->send, strlen(p->send), MSG_NOSIGNAL) < 0) return;
	probe_read_reply(p, fd, p->timeout_ms - (int)(now_ms() - start));
}

static void probe_udp(struct probe *p, int fd, struct sockaddr *addr, socklen_t alen, double start) {
	if (connect(fd, addr, alen) < 0) { snprintf(p->error, sizeof(p->error), "%s", strerror(errno)); return; }
	probe_local(p, fd);
	if (send(fd, p->send, strlen(p->send), 0) < 0) { snprintf(p->error, sizeof(p->error), "%s", strerror(errno)); return; }
	probe_read_reply(p, fd, p->timeout_ms);
	if (p->reply_len >= 0) { p->connected = 1; p->latency_ms = now_ms() - start; }
	else if (!p->error[0]) snprintf(p->error, sizeof(p->error), "timeout");
}

static int probe_args(struct probe *p, int argc, char **argv) {
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (strcmp(k, "--host") == 0) p->host = v;
		else if (strcmp(k, "--port") == 0) p->port = parse_port(v);
		else if (strcmp(k, "--protocol") == 0) p->proto = strcasecmp(v, "udp") == 0 ? "udp" : strcasecmp(v, "tcp") == 0 ? "tcp" : NULL;
		else if (strcmp(k, "--timeout-ms") == 0) p->timeout_ms = atoi(v);
		else if (strcmp(k, "--send") == 0) p->send = v;
		else return -1;
	}
	return (argc % 2 == 0 && p->host && p->port > 0 && p->proto && p->timeout_ms > 0) ? 0 : -1;
}

static int cmd_probe(int argc, char **argv) {
	struct probe p = { .proto = "tcp", .timeout_ms = 1000, .send = "GET /flowlens-probe HTTP/1.0\r\n\r\n", .reply_len = -1 };
	if (probe_args(&p, argc, argv) < 0) {
		fprintf(stderr, "usage: flowlens-podd probe --host H --port N --protocol tcp|udp --timeout-ms T [--send BYTES]\n");
		return 2;
	}
	int udp = strcmp(p.proto, "udp") == 0;
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM }, *res = NULL;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", p.port);
	double start = now_ms();
	int gai = getaddrinfo(p.host, portstr, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(p.error, sizeof(p.error), "resolve %s: %s", p.host, gai_strerror(gai));
		probe_print(&p);
		return 1;
	}
	inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, p.ip, sizeof(p.ip));
	int fd = socket(AF_INET, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	start = now_ms(); /* latency excludes name resolution */
	if (fd < 0) snprintf(p.error, sizeof(p.error), "%s", strerror(errno));
	else if (udp) probe_udp(&p, fd, res->ai_addr, res->ai_addrlen, start);
	else probe_tcp(&p, fd, res->ai_addr, res->ai_addrlen, start);
	if (!p.connected) p.latency_ms = now_ms() - start; /* time until the failure */
	if (fd >= 0) close(fd);
	freeaddrinfo(res);
	probe_print(&p);
	return p.connected ? 0 : 1;
}

int main(int argc, char **argv) {
	if (argc >= 2 && strcmp(argv[1], "serve") == 0) return cmd_serve(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "probe") == 0) return cmd_probe(argc - 2, argv + 2);
	fprintf(stderr, "usage: flowlens-podd serve|probe ...\n");
	return 2;
}
