//! User programs for the boot image live here once the kernel runs user tasks (issue 3).
#![no_std]
