//! Per-task resource limits: how much of the kernel's shared memory one task may make the
//! kernel hold, so that no program can deny the others service. Each value here is the
//! default a task gets when its boot-image entry does not set its own.

/// Kernel frames a task may make the kernel hold on its behalf: today, the page tables of
/// its address space below the top-level table (for mappings and for pending receive
/// windows). Past it, the call that needed another frame fails with `OutOfMemory`, for that
/// task only.
///
/// 256 frames (1 MiB) cover a program using its whole `new_pages` quota densely (about 70
/// tables) with room to spare, while a program scattering small mappings across the
/// address space runs into it long before it drains the machine.
pub const KERNEL_FRAMES: u32 = 256;
