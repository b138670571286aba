//! `#[derive(Message)]`, the typed IPC message codecs, arrives with the typed ABI (issue 4).
//! Until then this proc-macro crate exports nothing.
