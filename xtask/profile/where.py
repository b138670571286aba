# Shared by trace.py and loop.py: which function (and privilege level) the CPU is in.
import gdb


def where():
    """'user NAME' or 'kernel NAME' for the instruction at $pc (inlined code counts as the
    function it was inlined from)."""
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
    return ("user " if cs & 3 == 3 else "kernel ") + name
