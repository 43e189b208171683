// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every Flowlens BPF program in one object, so they share one ring buffer (`events`) and one
 * per-CPU loss counter array (`lost`). The loader enables the ones the kernel supports.
 *   tcp_state.bpf.h   sock/inet_sock_set_state      -> fl_tcp_state (+ fl_sock_addr at connect)
 *   tc_flow.bpf.h     tc ingress/egress (tcx/clsact) -> flow table; fl_dns, fl_http (tc_parse, tc_l7)
 *   drop.bpf.h        skb/kfree_skb                 -> fl_drop
 *   tcp_health.bpf.h  tcp retransmit/reset tps      -> fl_tcp_event
 *   sock_addr.bpf.h   cgroup/connect4, connect6, sendmsg4 -> fl_sock_addr
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "flowlens.h"
#include "common.bpf.h"
#include "skb_tuple.bpf.h"
#include "sock_addr.bpf.h"
#include "tcp_state.bpf.h"
#include "tc_flow.bpf.h"
#include "drop.bpf.h"
#include "tcp_health.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
