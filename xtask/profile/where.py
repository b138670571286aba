# Shared by trace.py and loop.py: which function (and privilege level) the CPU is in.
#
# BY=ours (environment): count inlined library code (core::, compiler_builtins::, x86_64::,
# alloc::) as the function of ours it was inlined into, so a report reads as our functions.
import gdb, os

LIBRARY = ("core::", "compiler_builtins::", "x86_64::", "alloc::")
OURS = os.environ.get("BY") == "ours"


def where():
    """'user NAME' or 'kernel NAME' for the instruction at $pc (inlined code counts as the
    function it was inlined from, or with BY=ours as the innermost function of ours)."""
    pc = int(gdb.parse_and_eval("$pc"))
    cs = int(gdb.parse_and_eval("$cs"))
    blk = gdb.block_for_pc(pc)
    name = None
    while blk is not None:
        if blk.function is not None:
            if name is None:
                name = blk.function.name
            if not OURS or not blk.function.name.startswith(LIBRARY):
                name = blk.function.name
                break
        blk = blk.superblock
    if name is None:
        sym = gdb.execute("info symbol %d" % pc, to_string=True).split(" in section")[0].strip()
        name = sym.split(" + ")[0] if "No symbol" not in sym else "?"
    return ("user " if cs & 3 == 3 else "kernel ") + name
