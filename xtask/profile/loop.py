# gdb script: single-steps one whole iteration of a call loop under QEMU (-s -S), user and
# kernel code alike, from one `syscall` with rax == SYSNO to the next one with the same
# number (after SKIP warm-up iterations, counted from AFTER if given), and attributes each instruction to its function.
# For a client/server pair this is the client's side, the kernel both ways, and the
# server's side between its calls. Output is the format group.py reads.
import gdb, collections, os, re, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from where import where as where_now
target = int(os.environ["SYSNO"])
skip = int(os.environ.get("SKIP", "50"))
gdb.execute("set pagination off")
gdb.execute("target remote :" + os.environ.get("PORT", "1234"))
info = gdb.execute("info address syscall_entry", to_string=True)
entry = int(re.search(r"0x[0-9a-f]+", info).group(0), 16)
# AFTER=function: start counting calls only once that function has run (to trace one
# phase of a program, e.g. a benchmark family); AFTER_HIT=N: once it has run the Nth time
# (default 1; e.g. the third partner a benchmark starts).
if os.environ.get("AFTER"):
    first = gdb.Breakpoint(os.environ["AFTER"])
    first.ignore_count = int(os.environ.get("AFTER_HIT", "1")) - 1
    gdb.execute("continue")
    first.delete()
bp = gdb.Breakpoint("*0x%x" % entry)
bp.condition = "$rax == %d" % target
for _ in range(skip + 1):
    gdb.execute("continue")
bp.delete()
# WARM=N: single-step N whole iterations first, uncounted. The breakpoints that find the
# start stop the machine at every system call, which can leave the partners of a benchmark
# in another order than the benchmark's own steady state (a long share's partner still
# busy when the client sends); a stepped iteration ends in the steady state.
def step_to_next():
    while True:
        gdb.execute("stepi", to_string=True)
        if int(gdb.parse_and_eval("$pc")) == entry and int(gdb.parse_and_eval("$rax")) == target:
            return
for _ in range(int(os.environ.get("WARM", "0"))):
    step_to_next()
counts = collections.Counter()
# SEQ=1: also list the functions in the order they ran, one line per run of instructions
# in one function (after SEQUENCE; group.py ignores it).
seq = [] if os.environ.get("SEQ") else None
# INSNS=FILE: also write every instruction of the iteration to FILE, in the order it ran,
# one line each: user or kernel, the function (as the report counts it) and the
# instruction as gdb disassembles it (Intel syntax). For placing each instruction of a
# trace by hand ("where the instructions went", BENCHMARKS.md).
insns = open(os.environ["INSNS"], "w") if os.environ.get("INSNS") else None
if insns is not None:
    gdb.execute("set disassembly-flavor intel")
steps = 0
while steps < 200000:
    w = where_now()
    counts[w] += 1
    if insns is not None:
        text = gdb.execute("x/i $pc", to_string=True).strip().lstrip("=> ").split("\n")[-1]
        insns.write("%-7s %s | %s\n" % (w.split(" ", 1)[0], w.split(" ", 1)[1], text))
    if seq is not None:
        if seq and seq[-1][0] == w:
            seq[-1][1] += 1
        else:
            seq.append([w, 1])
    gdb.execute("stepi", to_string=True)
    steps += 1
    if int(gdb.parse_and_eval("$pc")) == entry and int(gdb.parse_and_eval("$rax")) == target:
        break
if insns is not None:
    insns.close()
print("TOTAL", steps)
for w, c in counts.most_common():
    print("%6d  %s" % (c, w))
print("SEQUENCE")
for w, c in seq or []:
    print("%6d  %s" % (c, w))
gdb.execute("kill")
