#!/usr/bin/env bash
# Traces one iteration of a benchmark loop with loop.py and groups it with group.py:
# boots the bench image (as `cargo xtask bench` built it) under QEMU's gdbstub, single-steps
# from one system call numbered SYSNO to the next (after SKIP of them, from AFTER if set),
# and prints the per-function report (to $OUT, default target/bench/loop.txt) grouped.
#
#   SYSNO=18 SKIP=1200 xtask/profile/loop.sh     # fast-path round trip across address spaces
#   SYSNO=15 SKIP=100 xtask/profile/loop.sh      # the spec's ipc_send, 8 bytes
#
# BY=ours counts inlined library code as the function of ours it was inlined into; SEQ=1
# also lists the functions in the order they ran; INSNS=FILE writes every instruction, in
# the order it ran, with its function and disassembly, to FILE; PORT picks the gdbstub's TCP port
# (default 1234), so that two traces can run at once; WARM=N single-steps N iterations first,
# uncounted (WARM=1 for the long-message benchmarks: see loop.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
K=target/x86_64-unknown-none/release/moroso-kernel
B=target/x86_64-unknown-none/release/bench
OUT=${OUT:-target/bench/loop.txt}
mkdir -p "$(dirname "$OUT")"
qemu-system-x86_64 -accel tcg -cpu max -icount shift=0,sleep=off -m 512M -kernel "$K" \
    -initrd target/moroso/bench.img -display none -monitor none -serial null \
    -device isa-debug-exit,iobase=0xf4,iosize=4 -gdb tcp::${PORT:-1234} -S &
QEMU=$!
trap 'kill $QEMU 2>/dev/null || true' EXIT
gdb -q -batch -ex "file $K" -ex "add-symbol-file $B -o 0x400000" -x xtask/profile/loop.py > "$OUT" 2>/dev/null
python3 xtask/profile/group.py "$OUT"
