//! What the kernel learns at boot, independent of how it learned it.
pub mod pvh;
