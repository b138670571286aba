# gdb script: single-step one system call under QEMU (-s -S) and attribute each instruction
# to its function. See BENCHMARKS.md, "Where the instructions go", for how to run it.
# Single-steps one system call (from syscall_entry with rax == TARGET until the first
# return to user mode of the thread that made it: cs & 3 == 3 and rsp back to its value),
# attributing each instruction to the function it is in.
import gdb, collections, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from where import where as where_now
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
    where = where_now()
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
