//! User memory as the kernel sees it: every pointer a system call receives is an
//! allegation until checked against the caller's address space.
//!
//! A [`UserSlice<Unchecked>`] can only be turned into a [`UserSlice<Readable>`] or
//! [`UserSlice<Writable>`] by checking that every page of the range is user memory of the
//! address space, mapped, and writable if it will be written; only those types can copy.
//! The copy itself goes through the address space again (page by page, through the
//! kernel's direct map), so it stays correct even if the memory is another task's or its
//! mappings changed since the check: then it fails with `BadAddress` instead of touching
//! anything else.
//!
//! A zero-length slice is valid whatever its address (the spec: "if the length is 0, the
//! pointer is ignored").

use abi::Error;
use core::marker::PhantomData;

/// Access to one address space's user memory.
pub trait UserMemory {
    /// Whether `[addr, addr + len)` is mapped user memory (and writable, if `write`).
    /// `len > 0`, and the range is already known to be inside user space.
    fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error>;
    /// Copies out of user memory. Fails with `BadAddress` on any unmapped byte.
    fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error>;
    /// Copies into user memory. Fails with `BadAddress` on any unmapped or read-only byte.
    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error>;
}

/// Not yet checked.
#[derive(Clone, Copy, Debug)]
pub struct Unchecked;
/// Checked readable.
#[derive(Clone, Copy, Debug)]
pub struct Readable;
/// Checked readable and writable.
#[derive(Clone, Copy, Debug)]
pub struct Writable;

/// A range of user memory, `len` bytes at `addr`, in the state `A`.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice<A = Unchecked> {
    addr: u64,
    len: u64,
    _access: PhantomData<A>,
}

impl<A> UserSlice<A> {
    pub fn addr(&self) -> u64 {
        self.addr
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn with<B>(self) -> UserSlice<B> {
        UserSlice { addr: self.addr, len: self.len, _access: PhantomData }
    }
}

impl UserSlice<Unchecked> {
    /// The allegation: `len` bytes at `addr`.
    pub fn new(addr: u64, len: u64) -> Self {
        UserSlice { addr, len, _access: PhantomData }
    }

    fn check(self, mem: &impl UserMemory, write: bool) -> Result<(), Error> {
        if self.len == 0 {
            return Ok(());
        }
        if !abi::layout::is_user_range(self.addr, self.len) {
            return Err(Error::BadAddress);
        }
        mem.check(self.addr, self.len, write)
    }

    pub fn readable(self, mem: &impl UserMemory) -> Result<UserSlice<Readable>, Error> {
        self.check(mem, false)?;
        Ok(self.with())
    }

    pub fn writable(self, mem: &impl UserMemory) -> Result<UserSlice<Writable>, Error> {
        self.check(mem, true)?;
        Ok(self.with())
    }
}

impl UserSlice<Readable> {
    /// The checked sub-range `[offset, offset + len)` of this range (clipped to it).
    pub fn sub(&self, offset: u64, len: u64) -> UserSlice<Readable> {
        let offset = offset.min(self.len);
        UserSlice { addr: self.addr + offset, len: len.min(self.len - offset), _access: PhantomData }
    }

    /// Copies the first `buf.len()` bytes (at most `len`) into `buf`.
    pub fn read(&self, mem: &impl UserMemory, buf: &mut [u8]) -> Result<(), Error> {
        debug_assert!(buf.len() as u64 <= self.len);
        if buf.is_empty() {
            return Ok(());
        }
        mem.copy_in(self.addr, buf)
    }
}

impl UserSlice<Writable> {
    /// The checked sub-range `[offset, offset + len)` of this range (clipped to it).
    pub fn sub(&self, offset: u64, len: u64) -> UserSlice<Writable> {
        let offset = offset.min(self.len);
        UserSlice { addr: self.addr + offset, len: len.min(self.len - offset), _access: PhantomData }
    }

    pub fn read(&self, mem: &impl UserMemory, buf: &mut [u8]) -> Result<(), Error> {
        self.with::<Readable>().read(mem, buf)
    }

    /// Copies `data` (at most `len` bytes) to the start of the range.
    pub fn write(&self, mem: &mut impl UserMemory, data: &[u8]) -> Result<(), Error> {
        debug_assert!(data.len() as u64 <= self.len);
        if data.is_empty() {
            return Ok(());
        }
        mem.copy_out(self.addr, data)
    }
}

/// A pointer to one `T` in user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserPtr<T> {
    addr: u64,
    _t: PhantomData<T>,
}

impl<T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable> UserPtr<T> {
    pub fn new(addr: u64) -> Self {
        UserPtr { addr, _t: PhantomData }
    }

    fn slice(&self) -> UserSlice {
        UserSlice::new(self.addr, size_of::<T>() as u64)
    }

    /// Checks and reads the value. A null pointer is `BadAddress`, as is any address
    /// outside the caller's mapped user memory.
    pub fn read(&self, mem: &impl UserMemory) -> Result<T, Error> {
        let mut v = T::new_zeroed();
        self.slice().readable(mem)?.read(mem, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Checks that the value can be written, without writing it.
    pub fn check_writable(&self, mem: &impl UserMemory) -> Result<(), Error> {
        self.slice().writable(mem).map(|_| ())
    }

    pub fn write(&self, mem: &mut impl UserMemory, value: T) -> Result<(), Error> {
        self.slice().writable(mem)?.write(mem, value.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const P: u64 = abi::PAGE_SIZE as u64;

    /// Pages at given addresses, each readable or read-write.
    struct Fake(BTreeMap<u64, (Vec<u8>, bool)>);

    impl Fake {
        fn page(&self, a: u64) -> Option<&(Vec<u8>, bool)> {
            self.0.get(&(a & !(P - 1)))
        }
    }

    impl UserMemory for Fake {
        fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error> {
            let mut p = addr & !(P - 1);
            while p < addr + len {
                match self.page(p) {
                    Some((_, w)) if *w || !write => p += P,
                    _ => return Err(Error::BadAddress),
                }
            }
            Ok(())
        }
        fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
            for (i, b) in buf.iter_mut().enumerate() {
                let a = addr + i as u64;
                *b = self.page(a).ok_or(Error::BadAddress)?.0[(a % P) as usize];
            }
            Ok(())
        }
        fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error> {
            for (i, b) in data.iter().enumerate() {
                let a = addr + i as u64;
                let (page, w) = self.0.get_mut(&(a & !(P - 1))).ok_or(Error::BadAddress)?;
                if !*w {
                    return Err(Error::BadAddress);
                }
                page[(a % P) as usize] = *b;
            }
            Ok(())
        }
    }

    fn mem() -> Fake {
        let mut m = BTreeMap::new();
        m.insert(0x50_0000, (vec![7; P as usize], true));
        m.insert(0x50_1000, (vec![8; P as usize], false));
        Fake(m)
    }

    #[test]
    fn reads_and_writes_across_pages_after_checking() {
        let mut m = mem();
        let s = UserSlice::new(0x50_0ffe, 4).readable(&m).unwrap();
        let mut buf = [0; 4];
        s.read(&m, &mut buf).unwrap();
        assert_eq!(buf, [7, 7, 8, 8]);
        let w = UserSlice::new(0x50_0000, 16).writable(&m).unwrap();
        w.write(&mut m, &[1, 2, 3]).unwrap();
        assert_eq!(UserPtr::<u16>::new(0x50_0001).read(&m), Ok(0x0302));
    }

    #[test]
    fn refuses_what_is_not_the_callers_user_memory() {
        let m = mem();
        let bad = |a: u64, l: u64, w: bool| {
            let s = UserSlice::new(a, l);
            if w {
                s.writable(&m).err()
            } else {
                s.readable(&m).err()
            }
        };
        assert_eq!(bad(0, 4, false), Some(Error::BadAddress), "null");
        assert_eq!(bad(0x3f_fff0, 4, false), Some(Error::BadAddress), "null guard below USER_MIN");
        assert_eq!(bad(0xffff_8000_0000_0000, 4, false), Some(Error::BadAddress), "kernel address");
        assert_eq!(bad(u64::MAX - 2, 8, false), Some(Error::BadAddress), "wraps");
        assert_eq!(bad(0x50_2000, 1, false), Some(Error::BadAddress), "unmapped");
        assert_eq!(bad(0x50_0ff0, 0x20, true), Some(Error::BadAddress), "second page read-only");
        assert_eq!(bad(0x50_1fff, 2, false), Some(Error::BadAddress), "runs off the end");
        assert_eq!(bad(0x50_0ff0, 0x20, false), None);
        assert_eq!(bad(0, 0, true), None, "zero length: pointer ignored");
        assert_eq!(UserPtr::<u64>::new(0x50_1000).write(&mut mem(), 1), Err(Error::BadAddress));
    }
}
