//! The direct switch in the `syscall` stub: `IpcCall` to a server waiting in
//! `IpcReplyWait`, and `IpcReplyWait` answering a caller waiting in `IpcCall`, completed in
//! assembly before any Rust runs, so that the payload registers (`rdx`, `r10`, `r8`, `r9`,
//! `r12`) go from one thread to the other without leaving the registers.
//!
//! What each way does is `ipc::direct`'s `direct_call` and `direct_reply_wait` (the
//! portable kernel's direct switch, which the host tests check against the general path),
//! step for step: the same tests, in an order that declines at the first failure, then
//! the same state change, written where `sys::fast_layout` says each record lies (every
//! offset and encoding computed from the types, pinned by a host test). Anything it does
//! not handle declines to the general path in Rust (`run::syscall_ipc_call`,
//! `run::syscall_ipc_reply_wait`) having changed nothing, with the whole frame saved as
//! the general path needs it. So the assembly may decline more than the portable switch,
//! never less; the portable one stays the model it follows, the one the host tests run
//! against the general path (on twin machines, to the bit), while the in-QEMU cases run
//! this one (`ipctest`'s `direct::` and `fast::`, `irqtest`'s `io::` call between tasks
//! with other ports; the nohandoff runs, its first decline).
//!
//! A record's address is a 32-bit signed displacement (`[rbx + KERNEL + offset]`): the
//! kernel is linked in the top 2 GiB of the address space, as the kernel code model needs.
//!
//! The ways run with interrupts off (SFMASK) on the thread's kernel stack; they touch only
//! the kernel's static records at in-bounds indexes (a slot is an id's low byte, below
//! `MAX_THREADS`; the running thread's slot is the kernel's own record), so nothing in them
//! can fault, and they take no kernel borrow (`run::Borrow`): no other kernel code runs
//! until they leave. The running thread is the caller: a system call comes only from the
//! thread the kernel last entered, which is `Core`'s current one.

use super::entry::{sysret_exit_text, NULL_SELECTOR};
use super::frame::{TrapFrame, SYSCALL_VECTOR};
use super::gdt;
use super::platform::X86;
use crate::sys::fast_layout::FastLayout;
use core::mem::offset_of;

/// Where the records lie in the kernel the `run::KERNEL` cell holds.
const L: FastLayout = FastLayout::of::<X86>();

core::arch::global_asm!(
    concat!(
        r#"
    .section .text.syscall, "ax"
    .global syscall_ipc_call
    .global syscall_ipc_reply_wait

    /* The frame's slots a thread blocked in a system call must have saved, whatever
       happens next (`TrapFrame`, "The slots a system call's frame leaves"): the `sysretq`
       state (user rip and flags, which `syscall` left in rcx and r11, and rsp, which the
       entry left in the per-CPU block), the vector, and the registers a system call
       preserves. The argument and payload registers stay where they are. */
    .macro blocked_slots
    sub rsp, {frame_size}
    mov [rsp + {f_rip}], rcx
    mov [rsp + {f_rflags}], r11
    mov rcx, gs:[{pc_user_rsp}]
    mov [rsp + {f_rsp}], rcx
    mov qword ptr [rsp + {f_vector}], {vector}
    mov [rsp + {f_rbx}], rbx
    mov [rsp + {f_rbp}], rbp
    mov [rsp + {f_r12}], r12
    mov [rsp + {f_r13}], r13
    mov [rsp + {f_r14}], r14
    mov [rsp + {f_r15}], r15
    .endm

    /* A decline, nothing changed: the rest of the frame but `rax` (which Rust writes:
       `run::declined`), then the general path in Rust, with the frame, and out through
       `trap_restore` if it returns. */
    .macro declined rust
    mov [rsp + {f_rdi}], rdi
    mov [rsp + {f_rsi}], rsi
    mov [rsp + {f_rdx}], rdx
    mov [rsp + {f_r8}], r8
    mov [rsp + {f_r9}], r9
    mov [rsp + {f_r10}], r10
    mov rdi, rsp
    call \rust
    jmp trap_restore
    .endm

    /* The partner (its slot in r13, its record's offset in rbx, its id in r15d) becomes
       the running thread: its address space (CR3 written only if it differs, as
       `Platform::switch_to_id`), its id for `gettid`, its kernel stack as TSS.rsp0; r11
       is left pointing at its saved frame. */
    .macro switch_to_partner
    mov qword ptr [rip + {kernel} + {current}], r13
    mov r11, qword ptr [rbx + {kernel} + {threads} + {home_space}]
    mov r14, cr3
    cmp r14, r11
    je 2f
    mov cr3, r11
2:
    mov dword ptr gs:[{pc_tid}], r15d
    mov r11, qword ptr [rbx + {kernel} + {threads} + {kstack_top}]
    mov qword ptr [rip + {tss} + {rsp0}], r11
    sub r11, {frame_size}
    .endm

    /* `IpcCall` (`ipc::direct`, `direct_call`): rdi is the call word (target id, then
       the length in the high half), esi the timeout. */
syscall_ipc_call:
    blocked_slots
    .if {traced}
    jmp 9f /* a tracing kernel records every event: the general path */
    .endif
    /* (The labels name each part for the tracing tools, `xtask/profile`, which place an
       instruction by the symbol before it; they cost nothing.) */
syscall_ipc_call_checks:
    cmp byte ptr [rip + {kernel} + {direct_off}], 0
    jne 9f
    cmp esi, -1
    jne 9f
    mov rax, rdi
    shr rax, 32
    cmp eax, {max}
    ja 9f
    /* The target: the slot its id names (its low byte), waiting as the fast byte says,
       with that id, in a task with the loaded I/O ports. */
    movzx r13d, dil
    imul rbx, r13, {thread_size}
    cmp byte ptr [rbx + {kernel} + {threads} + {fast}], {fast_receiving}
    jne 9f
    cmp dword ptr [rbx + {kernel} + {threads} + {tid}], edi
    jne 9f
    mov ecx, dword ptr [rip + {kernel} + {io_loaded}]
    cmp qword ptr [rbx + {kernel} + {threads} + {home_io}], rcx
    jne 9f
    /* Taken. The call's number; the target owes the caller (rbp: its record) the
       reply; the caller waits for it in registers; the target runs (on the rest of the
       caller's slice, which is the CPU's: `Core::slice`). */
syscall_ipc_call_change:
    mov r14, qword ptr [rip + {kernel} + {current}]
    .if {debug}
    test r14, r14 /* a system call comes from the running thread: never slot 0 */
    jnz 3f
    ud2
3:
    .endif
    imul rbp, r14, {thread_size}
    mov r15, qword ptr [rip + {kernel} + {seq}]
    inc r15
    mov qword ptr [rip + {kernel} + {seq}], r15
    mov ecx, dword ptr [rbp + {kernel} + {threads} + {tid}]
    mov qword ptr [rbx + {kernel} + {threads} + {owed_slot}], r14
    mov dword ptr [rbx + {kernel} + {threads} + {owed_tid}], ecx
    mov qword ptr [rbx + {kernel} + {threads} + {owed_seq}], r15
    mov qword ptr [rbp + {kernel} + {threads} + {state_tag}], {awaiting_reply}
    mov qword ptr [rbp + {kernel} + {threads} + {awaiting_from}], r13
    mov qword ptr [rbp + {kernel} + {threads} + {awaiting_seq}], r15
    mov dword ptr [rbp + {kernel} + {threads} + {awaiting_len}], eax
    mov qword ptr [rbp + {kernel} + {threads} + {awaiting_to}], {reply_regs}
    mov byte ptr [rbp + {kernel} + {threads} + {fast}], {fast_awaiting_reply}
    mov qword ptr [rbx + {kernel} + {threads} + {state_tag}], {runnable}
    mov byte ptr [rbx + {kernel} + {threads} + {fast}], {fast_no}
    mov r15d, edi
syscall_ipc_call_switch:
    switch_to_partner
    /* Its result registers: a call (`RecvKind::Call`), from the caller, this long; the
       payload is where the caller left it. */
syscall_ipc_call_exit:
    mov esi, eax
    mov edi, ecx
    mov eax, {kind_call}
    "#,
        sysret_exit_text!(),
        r#"
9:
syscall_ipc_call_declined:
    declined {rust_call}

    /* `IpcReplyWait` (`ipc::direct`, `direct_reply_wait`): rdi is the reply word (its
       length; the top bit: no reply), esi the timeout. */
syscall_ipc_reply_wait:
    blocked_slots
    .if {traced}
    jmp 9f
    .endif
syscall_ipc_reply_wait_checks:
    /* No reply, or one past the registers, in one compare: the top bit is past them. */
    cmp rdi, {max}
    ja 9f
    cmp byte ptr [rip + {kernel} + {direct_off}], 0
    jne 9f
    cmp esi, -1
    jne 9f
    /* The caller owed the reply (rbp: this thread's record; rbx: the caller's), waiting
       for it in registers, for this call's number. None owed is an owed id of 0
       (`Owed::clear` zeroes only the id): no thread in a used slot has id 0, and a slot
       never used has fast byte `No`, so the tests decline. */
    mov r14, qword ptr [rip + {kernel} + {current}]
    imul rbp, r14, {thread_size}
    mov r13, qword ptr [rbp + {kernel} + {threads} + {owed_slot}]
    mov r15d, dword ptr [rbp + {kernel} + {threads} + {owed_tid}]
    imul rbx, r13, {thread_size}
    cmp dword ptr [rbx + {kernel} + {threads} + {tid}], r15d
    jne 9f
    cmp byte ptr [rbx + {kernel} + {threads} + {fast}], {fast_awaiting_reply}
    jne 9f
    cmp qword ptr [rbx + {kernel} + {threads} + {state_tag}], {awaiting_reply}
    jne 9f
    mov rax, qword ptr [rbp + {kernel} + {threads} + {owed_seq}]
    cmp qword ptr [rbx + {kernel} + {threads} + {awaiting_seq}], rax
    jne 9f
    /* Nothing else to receive (no interrupt, no queued sender, no buffered message): its
       inbox's one flag (`ipc::inbox`). */
    cmp byte ptr [r14 + {kernel} + {inbox_any}], 0
    jne 9f
    mov eax, dword ptr [rip + {kernel} + {io_loaded}]
    cmp qword ptr [rbx + {kernel} + {threads} + {home_io}], rax
    jne 9f
    /* Taken. The reply's length, cut to the caller's room; none owed now; this thread
       waits in registers; the caller runs (on the rest of the slice). */
syscall_ipc_reply_wait_change:
    mov eax, dword ptr [rbx + {kernel} + {threads} + {awaiting_len}]
    cmp eax, edi
    cmova eax, edi
    mov dword ptr [rbp + {kernel} + {threads} + {owed_tid}], 0
    mov qword ptr [rbp + {kernel} + {threads} + {state_tag}], {receiving}
    mov dword ptr [rbp + {kernel} + {threads} + {receiving_cap}], {recv_regs_cap}
    mov qword ptr [rbp + {kernel} + {threads} + {receiving_dest}], {recv_regs}
    mov byte ptr [rbp + {kernel} + {threads} + {fast}], {fast_receiving}
    mov qword ptr [rbx + {kernel} + {threads} + {state_tag}], {runnable}
    mov byte ptr [rbx + {kernel} + {threads} + {fast}], {fast_no}
syscall_ipc_reply_wait_switch:
    switch_to_partner
    /* Its result registers: 0, no sender word, the reply's length; the payload is where
       this thread left it. */
syscall_ipc_reply_wait_exit:
    mov esi, eax
    xor edi, edi
    xor eax, eax
    "#,
        sysret_exit_text!(),
        r#"
9:
syscall_ipc_reply_wait_declined:
    declined {rust_reply_wait}
    "#
    ),
    kernel = sym crate::run::KERNEL,
    traced = const crate::sys::fast_layout::TRACED as u8,
    debug = const cfg!(debug_assertions) as u8,
    rust_call = sym crate::run::syscall_ipc_call,
    rust_reply_wait = sym crate::run::syscall_ipc_reply_wait,
    tss = sym gdt::TSS,
    rsp0 = const gdt::RSP0,
    null = sym NULL_SELECTOR,
    pc_user_rsp = const super::entry::PC_USER_RSP,
    pc_tid = const super::entry::PC_TID,
    vector = const SYSCALL_VECTOR,
    max = const abi::ipc::fast::MAX,
    kind_call = const abi::ipc::RecvKind::Call as u32,
    frame_size = const size_of::<TrapFrame>(),
    f_rip = const offset_of!(TrapFrame, rip),
    f_rflags = const offset_of!(TrapFrame, rflags),
    f_rsp = const offset_of!(TrapFrame, rsp),
    f_vector = const offset_of!(TrapFrame, vector),
    f_rbx = const offset_of!(TrapFrame, rbx),
    f_rbp = const offset_of!(TrapFrame, rbp),
    f_r12 = const offset_of!(TrapFrame, r12),
    f_r13 = const offset_of!(TrapFrame, r13),
    f_r14 = const offset_of!(TrapFrame, r14),
    f_r15 = const offset_of!(TrapFrame, r15),
    f_rdi = const offset_of!(TrapFrame, rdi),
    f_rsi = const offset_of!(TrapFrame, rsi),
    f_rdx = const offset_of!(TrapFrame, rdx),
    f_r8 = const offset_of!(TrapFrame, r8),
    f_r9 = const offset_of!(TrapFrame, r9),
    f_r10 = const offset_of!(TrapFrame, r10),
    threads = const crate::run::KERNEL_AT + L.threads,
    thread_size = const L.thread_size,
    tid = const L.tid,
    state_tag = const L.state_tag,
    runnable = const L.runnable,
    awaiting_reply = const L.awaiting_reply,
    receiving = const L.receiving,
    awaiting_from = const L.awaiting_from,
    awaiting_seq = const L.awaiting_seq,
    awaiting_len = const L.awaiting_len,
    awaiting_to = const L.awaiting_to,
    reply_regs = const L.reply_regs,
    receiving_cap = const L.receiving_cap,
    receiving_dest = const L.receiving_dest,
    recv_regs_cap = const L.recv_regs_cap,
    recv_regs = const L.recv_regs,
    fast = const L.fast,
    fast_no = const L.fast_no,
    fast_receiving = const L.fast_receiving,
    fast_awaiting_reply = const L.fast_awaiting_reply,
    kstack_top = const L.kstack_top,
    owed_slot = const L.owed_slot,
    owed_tid = const L.owed_tid,
    owed_seq = const L.owed_seq,
    home_space = const L.home_space,
    home_io = const L.home_io,
    inbox_any = const crate::run::KERNEL_AT + L.inbox_any,
    seq = const crate::run::KERNEL_AT + L.seq,
    current = const crate::run::KERNEL_AT + L.current,
    direct_off = const crate::run::KERNEL_AT + L.direct_off,
    io_loaded = const crate::run::KERNEL_AT + L.io_loaded,
);
