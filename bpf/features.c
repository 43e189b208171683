// SPDX-License-Identifier: MIT
/*
 * Kernel feature probing (what the running kernel offers; the loader enables programs
 * accordingly and reports the bits in HELLO and with --features), and the drop reason
 * names from the kernel's own BTF (enum skb_drop_reason), sent as FL_REC_DROP_REASON.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

static const char *const feature_names[] = {
	"btf", "ringbuf", "mmap_array", "sched_cls", "tracepoint", "cgroup_sock_addr",
	"drop_reason_enum", "kfree_skb_reason", "tcp_retransmit_tp", "tcp_reset_tps",
	"sock_state_tp", "lru_hash", "cgroup2", "syscall_prog",
};

bool tracepoint_exists(const char *category, const char *name)
{
	static const char *const roots[] = { "/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events" };
	char path[256];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", roots[i], category, name);
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

static bool btf_has_member(struct btf *btf, const char *type, const char *member)
{
	int id = btf ? btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT) : -1;
	const struct btf_type *t;
	const struct btf_member *m;

	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), member))
			return true;
	return false;
}

static bool mmap_array_works(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 4, &opts);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The cgroup v2 mount: /sys/fs/cgroup (unified), else the first cgroup2 in /proc/self/mounts. */
const char *find_cgroup2(void)
{
	static char path[256];
	char dev[64], mnt[256], type[64];
	struct statfs sfs;
	FILE *m;

	if (path[0])
		return path;
	if (!statfs("/sys/fs/cgroup", &sfs) && sfs.f_type == CGROUP2_SUPER_MAGIC) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup");
		return path;
	}
	m = fopen("/proc/self/mounts", "r");
	if (!m)
		return NULL;
	while (fscanf(m, "%63s %255s %63s %*[^\n]", dev, mnt, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(path, sizeof(path), "%s", mnt);
			break;
		}
	fclose(m);
	return path[0] ? path : NULL;
}

__u64 probe_features(struct btf *btf)
{
	__u64 f = 0;

	if (btf)
		f |= FL_FEAT_BTF;
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) > 0)
		f |= FL_FEAT_RINGBUF;
	if (mmap_array_works())
		f |= FL_FEAT_MMAP_ARRAY;
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL) > 0)
		f |= FL_FEAT_SCHED_CLS;
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, NULL) > 0)
		f |= FL_FEAT_TRACEPOINT;
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) > 0)
		f |= FL_FEAT_CGROUP_SOCK_ADDR;
	if (btf && (btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM) >= 0 ||
		    btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM64) >= 0))
		f |= FL_FEAT_DROP_REASON_ENUM;
	if (btf_has_member(btf, "trace_event_raw_kfree_skb", "reason"))
		f |= FL_FEAT_KFREE_SKB_REASON;
	if (tracepoint_exists("tcp", "tcp_retransmit_skb"))
		f |= FL_FEAT_TCP_RETRANSMIT_TP;
	if (tracepoint_exists("tcp", "tcp_send_reset") && tracepoint_exists("tcp", "tcp_receive_reset"))
		f |= FL_FEAT_TCP_RESET_TPS;
	if (tracepoint_exists("sock", "inet_sock_set_state"))
		f |= FL_FEAT_SOCK_STATE_TP;
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LRU_HASH, NULL) > 0)
		f |= FL_FEAT_LRU_HASH;
	if (find_cgroup2())
		f |= FL_FEAT_CGROUP2;
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL) > 0)
		f |= FL_FEAT_SYSCALL_PROG;
	return f;
}

void print_features(FILE *out, __u64 f)
{
	fprintf(out, "{");
	for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
		fprintf(out, "%s\"%s\":%s", i ? "," : "", feature_names[i], (f >> i) & 1 ? "true" : "false");
	fprintf(out, "}");
}

static void emit_reason(struct state *st, __u32 value, const char *name)
{
	static const char prefix[] = "SKB_DROP_REASON_";
	struct fl_drop_reason r;

	if (!strncmp(name, prefix, sizeof(prefix) - 1))
		name += sizeof(prefix) - 1;
	memset(&r, 0, sizeof(r));
	r.hdr.type = FL_REC_DROP_REASON;
	r.hdr.version = FL_REC_VERSION;
	r.hdr.len = sizeof(r);
	r.value = value;
	strncpy(r.name, name, sizeof(r.name) - 1);
	emit(st, &r, sizeof(r));
}

void emit_drop_reasons(struct state *st, struct btf *btf)
{
	int id = btf ? btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM) : -1;
	const struct btf_type *t;
	const struct btf_enum *e;

	if (id < 0)
		return;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++, e++)
		emit_reason(st, (__u32)e->val, btf__name_by_offset(btf, e->name_off));
}
