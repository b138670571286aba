# Groups a trace.py report into categories (kernel entry/exit, dispatch, IPC logic, scheduler,
# context switch, user code). Usage: python3 group.py REPORT
import sys, re, collections
text = open(sys.argv[1]).read()
body = text[text.index("TOTAL"):text.index("SEQUENCE")]
lines = body.splitlines()
total = lines[0]
lines = lines[1:]
groups = collections.Counter()
def cat(w):
    if w.startswith("user "):
        return "user: libsys + the program (encode, decode, loops)"
    # Classify by the function's path, without its generic arguments.
    n = re.sub(r"<[^<>]*(<[^<>]*(<[^<>]*>[^<>]*)*>[^<>]*)*>", "", w[len("kernel "):])
    if "mem::replace" in n or "Option" in n or n.startswith("core::"): return "dispatch and bookkeeping (with_kernel, reap, table, next, Option moves)"
    if n == "syscall_entry" or n.startswith("trap_"): return "entry/exit stubs (routing, saved registers, swapgs, sysret)"
    # The direct switch in assembly (kernel/src/arch/x86_64/direct.rs), by its labels: the
    # way in (the slots a blocked thread needs), the checks, the state change, the switch,
    # the results and exit, a decline.
    if n.startswith("syscall_ipc_call") or n.startswith("syscall_ipc_reply_wait"):
        if n.endswith(("_checks", "_change")): return "IPC and memory logic (ipc::, umem, page tables)"
        if n.endswith("_switch"): return "context switch (CR3, TSS.rsp0, frame registers)"
        return "entry/exit stubs (routing, saved registers, swapgs, sysret)"
    ipc_methods = ("rendezvous", "ipc_", "::receive", "take_sender", "take_async", "send_pending", "reply_with",
                   "prepare_long", "commit_long", "copy_user", "write_len", "write_received_lens", "fast::", "truncate", "Ord::min")
    if any(m in n for m in ipc_methods) or "ipc::" in n or "mailbox" in n or "pagemap" in n or "regions" in n or "umem" in n or "aspace" in n: return "IPC and memory logic (ipc::, umem, page tables)"
    if "sched::" in n or "timers" in n or "list::" in n or "schedule" in n or "hand_off" in n or "block_current" in n or "wake" in n or "lookup_thread" in n or "next_seq" in n: return "scheduler and queues (wake, block, hand-off, lookup)"
    if "entry::" in n or "activate" in n or "set_kernel_stack" in n or "Cr3" in n or "gdt" in n: return "context switch (CR3, TSS.rsp0, frame registers)"
    return "dispatch and bookkeeping (with_kernel, reap, table, next, Option moves)"
for l in lines:
    m = re.match(r"\s*(\d+)\s+(.*)", l)
    if m: groups[cat(m.group(2))] += int(m.group(1))
print(total)
for g, c in groups.most_common(): print("%6d  %s" % (c, g))
