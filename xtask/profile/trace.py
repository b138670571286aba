# gdb script: single-step one system call under QEMU (-s -S) and attribute each instruction
# to its function. See BENCHMARKS.md, "Where the instructions go", for how to run it.
# Single-steps one system call (from syscall_entry with rax == TARGET until the first
# return to user mode of the thread that made it: cs & 3 == 3 and rsp back to its value),
# attributing each instruction to the function it is in.
import gdb, collections, os
target = int(os.environ["SYSNO"])
until_user_returns = int(os.environ.get("RETURNS", "1"))
gdb.execute("set pagination off")
gdb.execute("target remote :1234")
bp = gdb.Breakpoint("*syscall_entry")
bp.condition = "$rax == %d" % target
gdb.execute("continue")
bp.delete()
counts = collections.Counter()
order = []
returns = 0
steps = 0
while steps < 200000:
    pc = int(gdb.parse_and_eval("$pc"))
    cs = int(gdb.parse_and_eval("$cs"))
    blk = gdb.block_for_pc(pc)
    name = None
    while blk is not None:
        if blk.function is not None:
            name = blk.function.name
            break
        blk = blk.superblock
    if name is None:
        sym = gdb.execute("info symbol %d" % pc, to_string=True).split(" in section")[0].strip()
        name = sym.split(" + ")[0] if "No symbol" not in sym else "?"
    where = ("user " if cs & 3 == 3 else "kernel ") + name
    counts[where] += 1
    if not order or order[-1][0] != where:
        order.append([where, 0])
    order[-1][1] += 1
    insn = gdb.execute("x/i $pc", to_string=True)
    gdb.execute("stepi", to_string=True)
    steps += 1
    if ("sysret" in insn or "iretq" in insn):
        returns += 1
        if returns >= until_user_returns:
            break
print("TOTAL", steps)
for w, c in counts.most_common():
    print("%6d  %s" % (c, w))
print("SEQUENCE")
for w, c in order:
    print("%6d  %s" % (c, w))
gdb.execute("kill")
