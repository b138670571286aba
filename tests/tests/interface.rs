//! `#[libsys::interface]`'s generated code, on the host: every operation's request and reply
//! round-trip through the generated server's `dispatch` (the part of the server that needs no
//! system call), refusals for what a server cannot run, and the compile-time shape.

use libsys::abi::message::DecodeError;
use libsys::ipc::interface::{Caller, NoError, Reply};
use libsys::ipc::{IpcError, Pages, Received, Refusal, SharedPages, Text, Window};
use libsys::{abi, Message};

#[derive(Message, Debug, PartialEq, Clone, Copy)]
#[repr(u8)]
pub enum FsError {
    NotFound = 1,
    Full = 2,
}

#[derive(Message, Debug, PartialEq, Clone, Copy)]
#[repr(C)]
pub struct Stat {
    pub size: u64,
    pub mode: u32,
    pub dir: bool,
    pub pad: [u8; 3],
}

/// An interface with every kind of method the macro accepts.
#[libsys::interface]
pub trait Files {
    /// Two integers in, one out.
    fn add(&mut self, a: u32, b: u32) -> u64;
    /// Nothing in or out.
    fn ping(&mut self);
    /// A derived message in, a `Result` with the interface's error enum out.
    fn stat(&mut self, file: u32, follow: bool) -> Result<Stat, FsError>;
    /// A fallible method returning nothing.
    fn remove(&mut self, file: u32) -> Result<(), FsError>;
    /// A large request: takes the general path.
    fn write_name(&mut self, name: [u8; 200]) -> u32;
    /// Pages moved to the server.
    fn store(&mut self, file: u32, data: Pages) -> Result<u64, FsError>;
    /// Pages shared with the server.
    fn fill(&mut self, buf: &SharedPages, byte: u8) -> u32;
    /// Snake-case names become camel-case operations.
    fn read_at_offset(&mut self, offset: i64) -> i64;
}

/// A server that records what it ran.
#[derive(Default)]
struct Recorder {
    pings: u32,
    names: Vec<[u8; 200]>,
}

impl Files for Recorder {
    const RECEIVE_WINDOW: Window = Window::new(0x10_0000_0000, 4);

    fn add(&mut self, a: u32, b: u32) -> u64 {
        a as u64 + b as u64
    }
    fn ping(&mut self) {
        self.pings += 1;
    }
    fn stat(&mut self, file: u32, follow: bool) -> Result<Stat, FsError> {
        match file {
            7 => Ok(Stat { size: 4096, mode: 0o644, dir: follow, pad: [0; 3] }),
            _ => Err(FsError::NotFound),
        }
    }
    fn remove(&mut self, file: u32) -> Result<(), FsError> {
        if file == 0 {
            Err(FsError::Full)
        } else {
            Ok(())
        }
    }
    fn write_name(&mut self, name: [u8; 200]) -> u32 {
        self.names.push(name);
        name.iter().map(|&b| b as u32).sum()
    }
    fn store(&mut self, _file: u32, data: Pages) -> Result<u64, FsError> {
        Ok(data.count())
    }
    fn fill(&mut self, buf: &SharedPages, byte: u8) -> u32 {
        buf.count() as u32 + byte as u32
    }
    fn read_at_offset(&mut self, offset: i64) -> i64 {
        -offset
    }
}

/// Sends `request` through the generated dispatch, as the server loop does, and decodes the
/// reply as the client does.
fn round_trip<M: Message>(server: &mut Recorder, request: &M) -> Result<M::Reply, DecodeError> {
    let mut bytes = [0u8; abi::SHORT_MAX];
    request.encode_into(&mut bytes);
    let mut reply = [0u8; abi::SHORT_MAX];
    let n = FilesServer::dispatch(server, Caller::new(1), &bytes[..M::SIZE], Received::None, &mut reply);
    <M::Reply as Message>::decode(&reply[..n])
}

/// What dispatching raw `bytes` (no pages) answers.
fn answer(bytes: &[u8]) -> Vec<u8> {
    let mut reply = [0u8; abi::SHORT_MAX];
    let n = FilesServer::dispatch(&mut Recorder::default(), Caller::new(1), bytes, Received::None, &mut reply);
    reply[..n].to_vec()
}

#[test]
fn every_operation_round_trips() {
    let mut s = Recorder::default();
    assert_eq!(round_trip(&mut s, &FilesAddRequest { a: 40, b: 2 }), Ok(Reply::Ok(42)));
    assert_eq!(round_trip(&mut s, &FilesAddRequest { a: u32::MAX, b: u32::MAX }), Ok(Reply::Ok(2 * u32::MAX as u64)));
    assert_eq!(round_trip(&mut s, &FilesPingRequest {}), Ok(Reply::Ok(())));
    assert_eq!(s.pings, 1, "the method ran");
    assert_eq!(
        round_trip(&mut s, &FilesStatRequest { file: 7, follow: true }),
        Ok(Reply::Ok(Stat { size: 4096, mode: 0o644, dir: true, pad: [0; 3] }))
    );
    assert_eq!(round_trip(&mut s, &FilesStatRequest { file: 8, follow: false }), Ok(Reply::Err(FsError::NotFound)));
    assert_eq!(round_trip(&mut s, &FilesRemoveRequest { file: 1 }), Ok(Reply::Ok(())));
    assert_eq!(round_trip(&mut s, &FilesRemoveRequest { file: 0 }), Ok(Reply::Err(FsError::Full)));
    let mut name = [0u8; 200];
    name[..5].copy_from_slice(b"hello");
    assert_eq!(round_trip(&mut s, &FilesWriteNameRequest { name }), Ok(Reply::Ok(532)));
    assert_eq!(s.names, vec![name], "the argument arrived whole");
    assert_eq!(round_trip(&mut s, &FilesReadAtOffsetRequest { offset: i64::MIN + 1 }), Ok(Reply::Ok(i64::MAX)));
}

#[test]
fn replies_become_what_the_client_returns() {
    // A method's own error is a value of the call, not a transport error.
    let r: Result<Result<Stat, FsError>, IpcError> = FilesStatReply::Err(FsError::NotFound).into_result();
    assert_eq!(r, Ok(Err(FsError::NotFound)));
    let r: Result<u64, IpcError> = FilesAddReply::Ok(5).into_value();
    assert_eq!(r, Ok(5));
    let r = FilesAddReply::Refused(Refusal::UnknownOperation).into_value();
    assert_eq!(r, Err(IpcError::Refused(Refusal::UnknownOperation)));
    // An empty reply (a reply token dropped unused) is a refusal, not garbage.
    assert_eq!(FilesAddReply::decode(&[]), Ok(Reply::Refused(Refusal::Unanswered)));
}

#[test]
fn operations_are_numbered_in_declaration_order() {
    assert_eq!(FilesOp::Add as u8, 1);
    assert_eq!(FilesOp::ReadAtOffset as u8, 8);
    assert_eq!(FilesOp::from_code(3), Some(FilesOp::Stat));
    assert_eq!(FilesOp::from_code(0), None);
    assert_eq!(FilesOp::from_code(9), None);
    assert_eq!(FilesStoreRequest::OP, FilesOp::Store);
    let bytes: [u8; 9] = abi::message::encode_array(&FilesAddRequest { a: 1, b: 2 });
    assert_eq!(bytes, [1, 1, 0, 0, 0, 2, 0, 0, 0], "op byte, then the arguments");
}

#[test]
fn sizes_and_the_fast_path_are_decided_at_compile_time() {
    const { assert!(FilesAddRequest::FITS_FAST_PATH) };
    const { assert!(FilesStatRequest::FITS_FAST_PATH) };
    const { assert!(!FilesWriteNameRequest::FITS_FAST_PATH) };
    assert_eq!(FilesAddRequest::SIZE, 1 + 4 + 4);
    assert_eq!(FilesStatReply::SIZE, 1 + Stat::SIZE, "status, then the larger of value and error");
    assert_eq!(FilesPingReply::SIZE, 1);
    assert_eq!(FilesServer::SHAPE.request_max, 201);
    const { assert!(FilesServer::SHAPE.pages, "store and fill take pages") };
    assert_eq!(<Reply<u8, NoError> as Message>::SIZE, 2);
}

#[test]
fn what_cannot_be_run_is_refused_not_ignored() {
    let refused = |r: Refusal| vec![r as u8];
    assert_eq!(answer(&[]), refused(Refusal::BadRequest), "no operation byte");
    assert_eq!(answer(&[0]), refused(Refusal::UnknownOperation), "operation 0");
    assert_eq!(answer(&[200, 1, 2]), refused(Refusal::UnknownOperation), "no such operation");
    assert_eq!(answer(&[1, 1, 0, 0]), refused(Refusal::BadRequest), "too short for add");
    assert_eq!(answer(&[3, 7, 0, 0, 0, 2]), refused(Refusal::BadRequest), "a bool that is 2");
    // Operations that take pages, called without: refused before the method runs.
    let mut store = [0u8; 5];
    FilesStoreRequest { file: 1 }.encode_into(&mut store);
    assert_eq!(answer(&store), refused(Refusal::BadRequest), "store without pages");
    let mut fill = [0u8; 2];
    FilesFillRequest { byte: 1 }.encode_into(&mut fill);
    assert_eq!(answer(&fill), refused(Refusal::BadRequest), "fill without pages");
    // A longer request than the operation's is accepted (the tail is not read).
    assert_eq!(answer(&[1, 1, 0, 0, 0, 2, 0, 0, 0, 99]), vec![0, 3, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn a_request_of_one_operation_is_not_another() {
    let mut bytes = [0u8; 9];
    FilesAddRequest { a: 1, b: 2 }.encode_into(&mut bytes);
    assert!(matches!(FilesReadAtOffsetRequest::decode(&bytes), Err(DecodeError::Invalid { offset: 0, .. })));
}

#[test]
fn the_client_is_a_copyable_value() {
    let c = FilesClient::new(5);
    let d = c.with_timeout(libsys::ipc::Timeout::Ticks(10));
    assert_eq!((c.tid(), d.tid()), (5, 5));
    assert_ne!(c, d, "the timeout is part of the client");
    let e = c; // Copy
    assert_eq!(c, e);
}

#[test]
fn dispatching_arbitrary_bytes_never_panics() {
    // Every one- and two-byte request, and every operation with its bytes cut short.
    for a in 0..=255u8 {
        answer(&[a]);
        for b in 0..=255u8 {
            answer(&[a, b]);
        }
        for len in 0..300 {
            let mut v = vec![a; len];
            if let Some(f) = v.first_mut() {
                *f = a % 10;
            }
            let r = answer(&v);
            assert!(!r.is_empty(), "every request is answered");
        }
    }
}

/// Who called, a name argument, the interface's errors as `abi::Error`, and pages the
/// server writes into: what the system's servers (names, files) need.
#[libsys::interface]
pub trait Registry {
    /// Binds `name` to the calling thread.
    fn claim(&mut self, caller: Caller, name: Text<16>) -> Result<(), abi::Error>;
    /// The thread bound to `name`.
    fn owner(&mut self, name: Text<16>) -> Result<u32, abi::Error>;
    /// Writes `byte` into the lent pages.
    fn fill_in(&mut self, buf: &mut SharedPages, byte: u8) -> u32;
}

#[derive(Default)]
struct Names(Vec<(String, u32)>);

impl Registry for Names {
    const RECEIVE_WINDOW: Window = Window::new(0x10_0000_0000, 4);

    fn claim(&mut self, caller: Caller, name: Text<16>) -> Result<(), abi::Error> {
        if self.0.iter().any(|(n, _)| n == name.as_str()) {
            return Err(abi::Error::AlreadyExists);
        }
        self.0.push((name.as_str().to_string(), caller.tid()));
        Ok(())
    }
    fn owner(&mut self, name: Text<16>) -> Result<u32, abi::Error> {
        self.0.iter().find(|(n, _)| n == name.as_str()).map(|(_, t)| *t).ok_or(abi::Error::NotFound)
    }
    fn fill_in(&mut self, buf: &mut SharedPages, byte: u8) -> u32 {
        buf.write_at(0, &[byte]) as u32
    }
}

fn registry_call<M: Message>(server: &mut Names, caller: u32, request: &M) -> Result<M::Reply, DecodeError> {
    let mut bytes = [0u8; abi::SHORT_MAX];
    request.encode_into(&mut bytes);
    let mut reply = [0u8; abi::SHORT_MAX];
    let n = RegistryServer::dispatch(server, Caller::new(caller), &bytes[..M::SIZE], Received::None, &mut reply);
    <M::Reply as Message>::decode(&reply[..n])
}

#[test]
fn the_caller_comes_from_the_server_not_the_request() {
    let name = Text::new("kv").expect("fits");
    // The request holds the name only: nothing a client could forge.
    assert_eq!(RegistryClaimRequest::SIZE, 1 + 2 + 16);
    const { assert!(RegistryClaimRequest::FITS_FAST_PATH) };
    // The client's method has no caller argument.
    type Claim = fn(&RegistryClient, Text<16>) -> Result<Result<(), abi::Error>, IpcError>;
    let _: Claim = RegistryClient::claim;
    let mut s = Names::default();
    assert_eq!(registry_call(&mut s, 7, &RegistryClaimRequest { name }), Ok(Reply::Ok(())));
    assert_eq!(registry_call(&mut s, 9, &RegistryClaimRequest { name }), Ok(Reply::Err(abi::Error::AlreadyExists)));
    assert_eq!(registry_call(&mut s, 9, &RegistryOwnerRequest { name }), Ok(Reply::Ok(7)), "bound to its caller");
    let other = Text::new("other").expect("fits");
    assert_eq!(registry_call(&mut s, 9, &RegistryOwnerRequest { name: other }), Ok(Reply::Err(abi::Error::NotFound)));
}

#[test]
fn text_arguments_are_checked_as_they_arrive() {
    // A name that is not UTF-8, or longer than its capacity, is refused before the method runs.
    let mut s = Names::default();
    let mut reply = [0u8; abi::SHORT_MAX];
    let mut bad = vec![RegistryOp::Owner as u8, 2, 0, 0xff, 0xfe];
    bad.resize(RegistryOwnerRequest::SIZE, 0);
    let n = RegistryServer::dispatch(&mut s, Caller::new(1), &bad, Received::None, &mut reply);
    assert_eq!(&reply[..n], &[Refusal::BadRequest as u8]);
    let mut long = vec![RegistryOp::Owner as u8, 17, 0];
    long.resize(RegistryOwnerRequest::SIZE, b'a');
    let n = RegistryServer::dispatch(&mut s, Caller::new(1), &long, Received::None, &mut reply);
    assert_eq!(&reply[..n], &[Refusal::BadRequest as u8]);
}

#[test]
fn pages_lent_for_writing_are_a_mutable_borrow_on_both_sides() {
    let _: fn(&RegistryClient, &mut SharedPages, u8) -> Result<u32, IpcError> = RegistryClient::fill_in;
    // Without pages, refused before the method runs.
    let mut bytes = [0u8; 2];
    RegistryFillInRequest { byte: 1 }.encode_into(&mut bytes);
    let mut reply = [0u8; abi::SHORT_MAX];
    let n = RegistryServer::dispatch(&mut Names::default(), Caller::new(1), &bytes, Received::None, &mut reply);
    assert_eq!(&reply[..n], &[Refusal::BadRequest as u8]);
    const { assert!(RegistryServer::SHAPE.pages) };
}
