//! User memory as the kernel sees it: every pointer a system call receives is an
//! allegation until checked against the caller's address space.
//!
//! A [`UserSlice`] is made only for a range inside user space that does not wrap
//! ([`UserSlice::new`] refuses anything else with `BadAddress`). A [`UserSlice<Unchecked>`]
//! can only be turned into a [`UserSlice<Readable>`] or [`UserSlice<Writable>`] by checking
//! that every page of the range is user memory of an address space, mapped, and writable if
//! it will be written; only those types can copy, and only with the address space they were
//! checked against (another is refused with `BadAddress`).
//! The copy itself goes through the address space again (page by page, through the
//! kernel's direct map), so it stays correct even if the memory is another task's or its
//! mappings changed since the check: then it fails with `BadAddress` instead of touching
//! anything else.
//!
//! IPC's short messages take a shorter road, one walk per page ([`Walker`], [`UserBuf`]):
//! a [`Walker`] borrows one address space and looks each user page up once while the
//! borrow lasts; a [`UserBuf`] is a checked range of at most one page that holds the
//! kernel's addresses of its (at most two) pages and lives no longer than that borrow.
//! Since nothing can change the space's mappings while it is borrowed, those addresses
//! stay valid for exactly as long as the buffer can be used, and a copy from one user
//! buffer to another is one copy, frame to frame. A [`UserBuf`] never outlives its
//! walker's borrow; what is kept past a call ([`Remembered`], [`Kept`]) is used again only
//! while the space's generation is unchanged, and otherwise the next call walks again.
//!
//! A zero-length slice is valid whatever its address (the spec: "if the length is 0, the
//! pointer is ignored").

use abi::Error;
use core::marker::PhantomData;
use core::ptr::NonNull;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Access to one address space's user memory.
///
/// # Safety
///
/// Implementors promise what [`page_bytes`](UserMemory::page_bytes) says: the address it
/// returns is page-aligned and reaches the page's frame, for reading the whole page (and
/// writing it if it says writable), for as long as the space stays borrowed (shared) from
/// the call (so bytes of two pages overlap only if their addresses are the same page:
/// `UserBuf::copy_from` relies on it); and no Rust
/// reference ever covers those bytes (the kernel reaches user memory only through this
/// trait). The kernel's copies rely on it.
pub unsafe trait UserMemory {
    /// The kernel's address (page-aligned) of the bytes of user page `page` (page-aligned) and whether the
    /// page is writable, if it is mapped user memory; `None` for anything else (unmapped, not
    /// user-accessible, outside user space). The address is the frame's, never the user
    /// address (on the machine: the direct map, so SMAP stays on).
    fn page_bytes(&self, page: u64) -> Option<(NonNull<u8>, bool)>;

    /// What tells this address space from every other live one (the machine's: its root
    /// table's frame number), which checked slices and ranges remember. Compact, so that a
    /// [`UserRange`] that names its space is no bigger than an address and a length.
    fn space_id(&self) -> u32;

    /// Whether `[addr, addr + len)` is mapped user memory (and writable, if `write`).
    /// `len > 0`, and the range is already known to be inside user space.
    fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error> {
        let mut page = addr & !(PAGE - 1);
        while page < addr + len {
            match self.page_bytes(page) {
                Some((_, w)) if w || !write => page += PAGE,
                _ => return Err(Error::BadAddress),
            }
        }
        Ok(())
    }

    /// Copies out of user memory. Fails with `BadAddress` on any unmapped byte.
    fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < buf.len() {
            let va = addr.wrapping_add(done as u64);
            let off = (va % PAGE) as usize;
            let (page, _) = self.page_bytes(va - off as u64).ok_or(Error::BadAddress)?;
            let n = (PAGE as usize - off).min(buf.len() - done);
            // SAFETY: `page_bytes` gave a readable page (the trait's contract), and
            // `off + n <= PAGE`; `buf` is kernel memory, never user memory, so they do
            // not overlap.
            unsafe { core::ptr::copy_nonoverlapping(page.as_ptr().add(off), buf[done..].as_mut_ptr(), n) };
            done += n;
        }
        Ok(())
    }

    /// Copies into user memory. Fails with `BadAddress` on any unmapped or read-only byte
    /// (bytes before it may have been written).
    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < data.len() {
            let va = addr.wrapping_add(done as u64);
            let off = (va % PAGE) as usize;
            let (page, writable) = self.page_bytes(va - off as u64).ok_or(Error::BadAddress)?;
            if !writable {
                return Err(Error::BadAddress);
            }
            let n = (PAGE as usize - off).min(data.len() - done);
            // SAFETY: as in `copy_in`, and the page is writable.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), page.as_ptr().add(off), n) };
            done += n;
        }
        Ok(())
    }
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

/// A range of user memory, `len` bytes at `addr`, in the state `A`; once checked, of the
/// address space with id `space`.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice<A = Unchecked> {
    addr: u64,
    len: u64,
    space: u32,
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
        UserSlice { addr: self.addr, len: self.len, space: self.space, _access: PhantomData }
    }

    /// The address space this slice was checked against: `BadAddress` for another.
    fn same_space(&self, mem: &impl UserMemory) -> Result<(), Error> {
        if mem.space_id() == self.space {
            Ok(())
        } else {
            Err(Error::BadAddress)
        }
    }
}

impl UserSlice<Unchecked> {
    /// The allegation: `len` bytes at `addr`. `BadAddress` unless the range lies inside
    /// user space without wrapping (a zero-length one is valid anywhere).
    pub fn new(addr: u64, len: u64) -> Result<Self, Error> {
        if len != 0 && !abi::layout::is_user_range(addr, len) {
            return Err(Error::BadAddress);
        }
        Ok(UserSlice { addr, len, space: 0, _access: PhantomData })
    }

    fn check(self, mem: &impl UserMemory, write: bool) -> Result<Self, Error> {
        if self.len != 0 {
            mem.check(self.addr, self.len, write)?;
        }
        Ok(UserSlice { space: mem.space_id(), ..self })
    }

    pub fn readable(self, mem: &impl UserMemory) -> Result<UserSlice<Readable>, Error> {
        Ok(self.check(mem, false)?.with())
    }

    pub fn writable(self, mem: &impl UserMemory) -> Result<UserSlice<Writable>, Error> {
        Ok(self.check(mem, true)?.with())
    }
}

impl UserSlice<Readable> {
    /// The checked sub-range `[offset, offset + len)` of this range (clipped to it).
    pub fn sub(&self, offset: u64, len: u64) -> UserSlice<Readable> {
        let offset = offset.min(self.len);
        UserSlice { addr: self.addr + offset, len: len.min(self.len - offset), ..*self }
    }

    /// Copies the first `buf.len()` bytes (at most `len`) into `buf`.
    pub fn read(&self, mem: &impl UserMemory, buf: &mut [u8]) -> Result<(), Error> {
        debug_assert!(buf.len() as u64 <= self.len);
        if buf.is_empty() {
            return Ok(());
        }
        self.same_space(mem)?;
        mem.copy_in(self.addr, buf)
    }
}

impl UserSlice<Writable> {
    /// The checked sub-range `[offset, offset + len)` of this range (clipped to it).
    pub fn sub(&self, offset: u64, len: u64) -> UserSlice<Writable> {
        let offset = offset.min(self.len);
        UserSlice { addr: self.addr + offset, len: len.min(self.len - offset), ..*self }
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
        self.same_space(mem)?;
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

    fn slice(&self) -> Result<UserSlice, Error> {
        UserSlice::new(self.addr, size_of::<T>() as u64)
    }

    /// Checks and reads the value. A null pointer is `BadAddress`, as is any address
    /// outside the caller's mapped user memory.
    pub fn read(&self, mem: &impl UserMemory) -> Result<T, Error> {
        let mut v = T::new_zeroed();
        self.slice()?.readable(mem)?.read(mem, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Checks that the value can be written, without writing it.
    pub fn check_writable(&self, mem: &impl UserMemory) -> Result<(), Error> {
        self.slice()?.writable(mem).map(|_| ())
    }

    pub fn write(&self, mem: &mut impl UserMemory, value: T) -> Result<(), Error> {
        self.slice()?.writable(mem)?.write(mem, value.as_bytes())
    }
}

/// A range of user memory a system call named, `len` bytes at `addr`, checked when it was
/// made: inside user space without wrapping (zero bytes are valid at any address, which is
/// then ignored), and page-aligned if made by [`UserRange::pages`]. It names the address
/// space it was checked against (`UserMemory::space_id`), and a [`Walker`] of any other
/// space refuses it with `BadAddress`. Only [`UserRange::new`], [`UserRange::pages`] and
/// [`Walker::range`] make one (its fields are private), so the kernel keeps user pointers
/// in this type past the check (a pending send, a pending receive, where a reply goes):
/// a raw address cannot take its place.
///
/// Only the range is checked: whether its pages are mapped is looked up again whenever it
/// is used (a [`Walker`] walks the tables), since they may have changed since.
///
/// ```
/// use moroso_kernel_core::umem::{UserMemory, UserRange, Walker};
/// fn length_word<S: UserMemory>(w: &mut Walker<'_, S>, at: u64) -> Option<u32> {
///     let r: UserRange = w.range(at, 4).ok()?;
///     Some(w.writable(r).ok()?.read_u32())
/// }
/// ```
///
/// A raw address is not a checked range (this does not compile):
///
/// ```compile_fail
/// use moroso_kernel_core::umem::{UserMemory, Walker};
/// fn length_word<S: UserMemory>(w: &mut Walker<'_, S>, at: u64) -> Option<u32> {
///     Some(w.writable(at).ok()?.read_u32())
/// }
/// ```
///
/// nor can one be made but by the check (this does not compile either):
///
/// ```compile_fail
/// use moroso_kernel_core::umem::UserRange;
/// fn forged(addr: u64) -> UserRange {
///     UserRange { addr, len: 4, space: 0 }
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UserRange {
    addr: u64,
    len: u32,
    space: u32,
}

/// Printed as the address and length: which space is the holder's (the thread's task's),
/// and its id says nothing more (tests compare kernels' states as text).
impl core::fmt::Debug for UserRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}+{}", self.addr, self.len)
    }
}

impl UserRange {
    /// No memory: the range of a pointer that is not used (a message in registers).
    pub const NONE: UserRange = UserRange { addr: 0, len: 0, space: 0 };

    /// `len` bytes at `addr` of `space`: `BadAddress` unless they lie inside user space
    /// without wrapping (zero bytes: anywhere).
    #[inline(always)]
    pub fn new(space: &impl UserMemory, addr: u64, len: u32) -> Result<Self, Error> {
        Self::checked(space.space_id(), addr, len)
    }

    #[inline(always)]
    fn checked(space: u32, addr: u64, len: u32) -> Result<Self, Error> {
        // `abi::layout::is_user_range`, in two comparisons: `len` is far below `USER_END`.
        if len != 0 && (addr < abi::layout::USER_MIN || addr > abi::layout::USER_END - len as u64) {
            return Err(Error::BadAddress);
        }
        Ok(UserRange { addr, len, space })
    }

    /// `len` bytes of whole pages at `addr` of `space` (a long message, a receive window):
    /// `Misaligned` unless both are page-aligned, then as [`UserRange::new`].
    pub fn pages(space: &impl UserMemory, addr: u64, len: u32) -> Result<Self, Error> {
        if !(len as u64).is_multiple_of(PAGE) || !addr.is_multiple_of(PAGE) {
            return Err(Error::Misaligned);
        }
        Self::new(space, addr, len)
    }

    pub fn addr(&self) -> u64 {
        self.addr
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its first `n` bytes (all of it if `n` is more).
    #[inline(always)]
    pub fn prefix(self, n: u32) -> Self {
        UserRange { len: n.min(self.len), ..self }
    }

    /// Its address, if `space` is the one it was checked against; `BadAddress` for another.
    /// (For the page transfers, which take the address of a range checked page-aligned.)
    #[inline(always)]
    pub fn addr_in(&self, space: &impl UserMemory) -> Result<u64, Error> {
        if self.len != 0 && space.space_id() != self.space {
            return Err(Error::BadAddress);
        }
        Ok(self.addr)
    }
}

/// Most bytes in a [`UserBuf`]: one page (a short message's most), so it spans at most
/// two pages.
pub const BUF_MAX: usize = abi::PAGE_SIZE;

/// Copies `n` bytes from `from` to `to`, as `core::ptr::copy` does (the two may overlap),
/// without a call for the few bytes of most messages.
///
/// # Safety
/// As for `core::ptr::copy`: `from` readable and `to` writable for `n` bytes.
#[inline(always)]
unsafe fn copy_bytes(from: *const u8, to: *mut u8, n: usize) {
    use core::ptr::{read_unaligned as get, write_unaligned as put};
    // Every load comes before the first store, so overlapping ranges copy as through a
    // buffer.
    if n > 16 {
        // SAFETY: the caller's promise, as `copy` asks it.
        unsafe { core::ptr::copy(from, to, n) }
    } else if n >= 8 {
        // SAFETY: every address is `from + i` or `to + i` for `i < n` (the caller's
        // promise), read and written unaligned.
        unsafe {
            let (a, b) = (get(from as *const u64), get(from.add(n - 8) as *const u64));
            put(to as *mut u64, a);
            put(to.add(n - 8) as *mut u64, b);
        }
    } else if n >= 4 {
        // SAFETY: as above.
        unsafe {
            let (a, b) = (get(from as *const u32), get(from.add(n - 4) as *const u32));
            put(to as *mut u32, a);
            put(to.add(n - 4) as *mut u32, b);
        }
    } else if n > 0 {
        // SAFETY: as above.
        unsafe {
            let (a, b, c) = (*from, *from.add(n / 2), *from.add(n - 1));
            *to = a;
            *to.add(n / 2) = b;
            *to.add(n - 1) = c;
        }
    }
}

/// Copies `k` bytes from `from` to `to`, which do not overlap: 8 bytes a step
/// (`rep movsq`, on x86-64), and the last 1 to 7 by one 8-byte move that ends where the run
/// ends (writing again some bytes just copied, with the same values, since the two do not
/// overlap), instead of a call to `memcpy`, which first aligns the destination and ends a
/// byte at a time (each byte a step of its own).
///
/// # Safety
/// As for `core::ptr::copy_nonoverlapping`: `from` readable and `to` writable for `k`
/// bytes, the two not overlapping.
#[inline(always)]
unsafe fn copy_run(from: *const u8, to: *mut u8, k: usize) {
    #[cfg(target_arch = "x86_64")]
    if k >= 8 {
        // SAFETY: `rep movsq` reads `k / 8 * 8 <= k` bytes from `from` and writes as many at
        // `to` (the direction flag is clear, as the ABI keeps it in Rust code and every
        // kernel entry clears it); the last move reads and writes the last 8 of the `k`
        // bytes, unaligned. All within what the caller promises, and no overlap.
        unsafe {
            core::arch::asm!(
                "rep movsq",
                inout("rcx") k / 8 => _,
                inout("rsi") from => _,
                inout("rdi") to => _,
                options(nostack, preserves_flags)
            );
            let t = k - 8;
            core::ptr::write_unaligned(to.add(t) as *mut u64, core::ptr::read_unaligned(from.add(t) as *const u64));
        }
        return;
    }
    // SAFETY: the caller's promise, which `copy_bytes` asks (and more).
    unsafe { copy_bytes(from, to, k) }
}

/// Looks up pages of one address space, borrowed for `'s`, remembering the last two it
/// walked (one per page-number parity, so the two pages of a buffer that crosses a page
/// boundary are both kept): the user buffers of one system call (a length word, the
/// message beside it on the same stack page) cost one page-table walk per page. While it
/// lives nothing it remembers can go stale (the space's mappings cannot change while it is
/// borrowed). What it remembers may be kept past the borrow ([`Walker::remembered`]) and
/// used by a later walker only while the space's generation is unchanged
/// ([`Walker::resume`]).
pub struct Walker<'s, S> {
    space: &'s S,
    /// `space.space_id()`, asked once.
    id: u32,
    /// By page-number parity: the user page (`NONE`: none yet), its kernel address, and
    /// whether it is writable.
    pages: [u64; 2],
    bytes: [*mut u8; 2],
    writable: [bool; 2],
}

/// Not page-aligned, so never a page.
const NONE: u64 = 1;

const _: () = assert!(BUF_MAX as u64 <= abi::layout::USER_END - abi::layout::USER_MIN);
// `UserRange::checked`'s two comparisons: no `u32` length reaches below `USER_MIN`.
const _: () = assert!(u32::MAX as u64 <= abi::layout::USER_END - abi::layout::USER_MIN);

impl<'s, S: UserMemory> Walker<'s, S> {
    #[inline(always)]
    pub fn new(space: &'s S) -> Self {
        Walker::fresh(space, space.space_id())
    }

    #[inline(always)]
    fn fresh(space: &'s S, id: u32) -> Self {
        Walker { space, id, pages: [NONE; 2], bytes: [core::ptr::null_mut(); 2], writable: [false; 2] }
    }

    /// The kernel address of user page `page`, checked writable if `write`.
    #[inline(always)]
    fn page(&mut self, page: u64, write: bool) -> Result<*mut u8, Error> {
        let i = ((page / PAGE) & 1) as usize;
        if self.pages[i] != page {
            let (bytes, writable) = self.space.page_bytes(page).ok_or(Error::BadAddress)?;
            self.pages[i] = page;
            self.bytes[i] = bytes.as_ptr();
            self.writable[i] = writable;
        }
        if write && !self.writable[i] {
            return Err(Error::BadAddress);
        }
        Ok(self.bytes[i])
    }

    /// The range `[addr, addr + len)` of the space it walks, checked inside user space
    /// ([`UserRange::new`]).
    #[inline(always)]
    pub fn range(&self, addr: u64, len: u32) -> Result<UserRange, Error> {
        UserRange::checked(self.id, addr, len)
    }

    /// The user buffer `range`, checked mapped user memory (writable too if `write`) and
    /// translated. `BadAddress` if it is not, or if `range` is of another space; zero bytes
    /// are valid whatever the address (the spec ignores the pointer of an empty buffer).
    /// At most `BUF_MAX` bytes: longer is refused with `TooLong` (callers bound their
    /// lengths first).
    #[inline(always)]
    fn buf<A>(&mut self, range: UserRange, write: bool) -> Result<UserBuf<'s, A>, Error> {
        if range.space != self.id && range.len != 0 {
            return Err(Error::BadAddress);
        }
        self.walk(range, write)
    }

    /// As [`buf`](Self::buf), for a range of this walker's space (made by it, or checked
    /// to be).
    #[inline(always)]
    fn walk<A>(&mut self, range: UserRange, write: bool) -> Result<UserBuf<'s, A>, Error> {
        debug_assert!(range.space == self.id || range.len == 0);
        let (addr, len) = (range.addr, range.len as usize);
        if len == 0 {
            return Ok(UserBuf::EMPTY);
        }
        if len > BUF_MAX {
            return Err(Error::TooLong);
        }
        let off = (addr % PAGE) as usize;
        let page = addr - off as u64;
        // `off < PAGE`: the first byte's address stays inside the page.
        let head = self.page(page, write)?.wrapping_add(off);
        if off + len <= PAGE as usize {
            return Ok(UserBuf { head, head_len: len, tail: head, len, _p: PhantomData });
        }
        // The range is user memory without wrapping, so the next page is too.
        let tail = self.page(page + PAGE, write)?;
        Ok(UserBuf { head, head_len: PAGE as usize - off, tail, len, _p: PhantomData })
    }

    /// A system call's buffer, `len` bytes at `addr`: its range checked ([`Walker::range`])
    /// and returned, with the buffer, to be read (checked writable too if `also_write`).
    /// (A range this walker makes is of its space: no need to ask.)
    #[inline(always)]
    pub fn readable_at(
        &mut self,
        addr: u64,
        len: u32,
        also_write: bool,
    ) -> Result<(UserRange, UserBuf<'s, Readable>), Error> {
        let range = self.range(addr, len)?;
        Ok((range, self.walk(range, also_write)?))
    }

    /// As [`readable_at`](Self::readable_at), to be written.
    #[inline(always)]
    pub fn writable_at(&mut self, addr: u64, len: u32) -> Result<(UserRange, UserBuf<'s, Writable>), Error> {
        let range = self.range(addr, len)?;
        Ok((range, self.walk(range, true)?))
    }

    /// As [`writable_at`](Self::writable_at), with the buffer as a [`KeptBuf`], to be kept
    /// ([`Kept::new`]).
    #[inline(always)]
    pub fn kept_at(&mut self, addr: u64, len: u32) -> Result<(UserRange, UserBuf<'s, Writable>, KeptBuf), Error> {
        let (range, buf) = self.writable_at(addr, len)?;
        Ok((range, buf, KeptBuf { range, head: buf.head, head_len: buf.head_len, tail: buf.tail }))
    }

    /// As [`readable_at`](Self::readable_at) with `also_write` (a synchronous sender's
    /// buffer, where its reply will come back), with the buffer as a [`KeptBuf`].
    #[inline(always)]
    pub fn kept_readable_at(
        &mut self,
        addr: u64,
        len: u32,
    ) -> Result<(UserRange, UserBuf<'s, Readable>, KeptBuf), Error> {
        let (range, buf) = self.readable_at(addr, len, true)?;
        Ok((range, buf, KeptBuf { range, head: buf.head, head_len: buf.head_len, tail: buf.tail }))
    }

    /// `range`, to be read; checked writable too if `also_write` (a synchronous sender's
    /// buffer, where its reply will come back).
    #[inline(always)]
    pub fn readable(&mut self, range: UserRange, also_write: bool) -> Result<UserBuf<'s, Readable>, Error> {
        self.buf(range, also_write)
    }

    /// `range`, to be written.
    #[inline(always)]
    pub fn writable(&mut self, range: UserRange) -> Result<UserBuf<'s, Writable>, Error> {
        self.buf(range, true)
    }

    /// The space it walks.
    pub fn space(&self) -> &'s S {
        self.space
    }

    /// What it has walked, to be kept past its borrow and resumed by a later walker of the
    /// same space ([`Walker::resume`]) while that space's generation is still `generation`
    /// (`PageMap::generation`, read now).
    #[inline(always)]
    pub fn remembered(&self, generation: u64) -> Remembered {
        Remembered { space: self.id, generation, pages: self.pages, bytes: self.bytes, writable: self.writable }
    }

    /// A walker of `space` that starts with what `r` remembers if `r` was taken from a
    /// walker of this same space at generation `generation`, else with nothing.
    ///
    /// # Safety
    ///
    /// `generation` is `space`'s generation now, as `PageMap::generation` defines it: it
    /// has changed since `r` was taken if any page `r` remembers has since been unmapped,
    /// moved or shared out, or had its permissions changed. (Then what `r` remembers still
    /// translates as it did, which is what `UserBuf`'s accesses rely on.)
    #[inline(always)]
    pub unsafe fn resume(space: &'s S, r: &Remembered, generation: u64) -> Self {
        let id = space.space_id();
        if r.generation != generation || r.space != id {
            return Walker::fresh(space, id);
        }
        Walker { space, id, pages: r.pages, bytes: r.bytes, writable: r.writable }
    }
}

/// The pages a [`Walker`] looked up, kept past its borrow: valid only for the space it
/// names and only while that space's generation is the one it names (see
/// [`Walker::resume`]). A cache, not state: nothing a system call returns depends on it,
/// so it prints as nothing (tests compare kernels' states as text).
#[derive(Clone, Copy)]
pub struct Remembered {
    space: u32,
    generation: u64,
    pages: [u64; 2],
    bytes: [*mut u8; 2],
    writable: [bool; 2],
}

impl Remembered {
    /// Nothing remembered.
    pub const NONE: Remembered = Remembered {
        space: 0,
        generation: 0,
        pages: [NONE; 2],
        bytes: [core::ptr::null_mut(); 2],
        writable: [false; 2],
    };
}

impl core::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("_")
    }
}

/// A writable user buffer a [`Walker`] checked and translated ([`Walker::kept_at`],
/// [`Walker::kept_readable_at`]), with the range it was checked for: only to be put in a
/// [`Kept`].
#[derive(Clone, Copy)]
pub struct KeptBuf {
    range: UserRange,
    head: *mut u8,
    head_len: usize,
    tail: *mut u8,
}

/// A call's three writable buffers (a message's and two 4-byte length words: a receive's,
/// or a synchronous send's, with its one length word twice), checked and translated, kept
/// past the walker's borrow with the ranges they were checked for and their space's
/// generation then: given back ([`Kept::bufs`]; [`Kept::pending_bufs`] for a record marked
/// as made from them; [`Kept::again`] and [`Kept::message`] for the holder's own next
/// call) only for those same ranges of that same space while the generation is unchanged,
/// without checking or translating again (a receive keeps its buffers for the send that
/// fills them, a send for the reply). A cache, not state: it prints as nothing.
#[derive(Clone, Copy)]
pub struct Kept {
    /// Whether anything is kept.
    valid: bool,
    /// Whether the holder's pending record (its `Receiving`, or its `AwaitingReply` into
    /// memory) was made by the direct way from exactly the ranges kept, so that its partner
    /// need not compare them ([`Kept::pending_bufs`]). Set only with `valid`, by the direct
    /// way right after it blocks the holder; cleared whenever the holder blocks by
    /// `block_*` (`ThreadIpc::left_running`), so no record made since stands for it. (The
    /// register calls' direct switch, `switch_direct`, leaves it: it makes only records
    /// into registers, which the partners never take kept buffers for.)
    pending: bool,
    generation: u64,
    space: u32,
    buf_len: u32,
    buf_addr: u64,
    head: *mut u8,
    head_len: usize,
    tail: *mut u8,
    /// The length words: user address and kernel address (each lies in one page).
    words: [(u64, *mut u8); 2],
}

impl Kept {
    /// Nothing kept.
    pub const NONE: Kept = Kept {
        valid: false,
        pending: false,
        generation: 0,
        space: 0,
        buf_len: 0,
        buf_addr: 0,
        head: core::ptr::null_mut(),
        head_len: 0,
        tail: core::ptr::null_mut(),
        words: [(0, core::ptr::null_mut()); 2],
    };

    /// `buf` and the length words `len` and `long` kept at `generation`; nothing kept
    /// ([`Kept::NONE`]) unless all three are of one space and each word lies in one page.
    #[inline(always)]
    pub fn new(generation: u64, buf: KeptBuf, len: KeptBuf, long: KeptBuf) -> Kept {
        let space = buf.range.space;
        for w in [&len, &long] {
            if w.range.space != space || w.range.len != 4 || w.head_len != 4 {
                return Kept::NONE;
            }
        }
        Kept {
            valid: true,
            pending: false,
            generation,
            space,
            buf_len: buf.range.len,
            buf_addr: buf.range.addr,
            head: buf.head,
            head_len: buf.head_len,
            tail: buf.tail,
            words: [(len.range.addr, len.head), (long.range.addr, long.head)],
        }
    }

    /// The buffers kept, if they were kept for `buf`, `len` and `long` of `space` at
    /// generation `generation`: the message's and the two words'.
    ///
    /// # Safety
    ///
    /// As [`Walker::resume`]: `generation` is `space`'s generation now, as
    /// `PageMap::generation` defines it (changed since the buffers were kept if any of
    /// their pages has since been unmapped, moved or shared out, or reprotected). Then the
    /// pages still translate as when they were checked writable, which is `UserBuf`'s
    /// invariant.
    #[inline(always)]
    pub unsafe fn bufs<'s, S: UserMemory>(
        &self,
        space: &'s S,
        buf: UserRange,
        len: UserRange,
        long: UserRange,
        generation: u64,
    ) -> Option<[UserBuf<'s, Writable>; 3]> {
        let word = |r: UserRange, (addr, _): (u64, *mut u8)| r.addr == addr && r.len == 4 && r.space == self.space;
        if !self.valid
            || self.generation != generation
            || buf.addr != self.buf_addr
            || buf.len != self.buf_len
            || buf.space != self.space
            || !word(len, self.words[0])
            || !word(long, self.words[1])
            || self.space != space.space_id()
        {
            return None;
        }
        // SAFETY: kept in `space` at `generation`, checked just above.
        Some(unsafe { self.kept_bufs() })
    }

    /// Marks the holder's pending record, just made by the direct way, as made from exactly
    /// the ranges kept (nothing, if nothing is kept): see [`Kept::pending_bufs`]. The
    /// caller blocked the holder into that record just now.
    #[inline(always)]
    pub fn set_pending(&mut self) {
        self.pending = self.valid;
    }

    /// The holder has left its pending record, or is making a new one: no record is known
    /// to be made from the ranges kept.
    #[inline(always)]
    pub fn clear_pending(&mut self) {
        self.pending = false;
    }

    /// The buffers kept, if the holder's pending record was made from exactly the ranges
    /// kept ([`Kept::set_pending`]: the caller takes the ranges from that record, so they
    /// need not be compared) and they were kept in `space` at generation `generation`: the
    /// message's and the two words'. What [`bufs`](Self::bufs) gives for the record's
    /// ranges.
    ///
    /// The flag says nothing of soundness (the buffers kept are the holder's own, checked
    /// writable, whatever record they are used for); it says they are the right ones.
    ///
    /// # Safety
    /// As [`bufs`](Self::bufs).
    #[inline(always)]
    pub unsafe fn pending_bufs<'s, S: UserMemory>(
        &self,
        space: &'s S,
        generation: u64,
    ) -> Option<[UserBuf<'s, Writable>; 3]> {
        if !self.pending || self.generation != generation || self.space != space.space_id() {
            return None;
        }
        // SAFETY: kept in `space` at `generation`, checked just above.
        Some(unsafe { self.kept_bufs() })
    }

    /// The first `len` bytes of the message buffer kept, to be read, if it was kept in
    /// `space` at `generation` at `addr` and is at least that long (a server replying from
    /// the buffer its last receive kept).
    ///
    /// # Safety
    /// As [`bufs`](Self::bufs).
    #[inline(always)]
    pub unsafe fn message<'s, S: UserMemory>(
        &self,
        space: &'s S,
        addr: u64,
        len: u32,
        generation: u64,
    ) -> Option<UserBuf<'s, Readable>> {
        if !self.valid
            || self.generation != generation
            || addr != self.buf_addr
            || len > self.buf_len
            || self.space != space.space_id()
        {
            return None;
        }
        let buf = UserBuf {
            head: self.head,
            head_len: self.head_len,
            tail: self.tail,
            len: self.buf_len as usize,
            _p: PhantomData,
        };
        Some(buf.prefix(len as usize))
    }

    /// For the holder's own next call into the same buffers (a receive again into the
    /// buffers its last receive kept, a send from those its last send kept): the buffers
    /// kept and their ranges, if they were kept in `space` at `generation` for length words
    /// at `len` and `long` and a message at `buf` of the length `len_of` makes of the
    /// value of the word at `len`, read now through what was kept. The ranges are those
    /// the walker made when it checked them (the same address, length and space).
    ///
    /// # Safety
    /// As [`bufs`](Self::bufs).
    #[inline(always)]
    pub unsafe fn again<'s, S: UserMemory>(
        &self,
        space: &'s S,
        buf: u64,
        len: u64,
        long: u64,
        generation: u64,
        len_of: impl FnOnce(u32) -> u32,
    ) -> Option<([UserRange; 3], [UserBuf<'s, Writable>; 3])> {
        if !self.valid
            || self.generation != generation
            || buf != self.buf_addr
            || len != self.words[0].0
            || long != self.words[1].0
            || self.space != space.space_id()
        {
            return None;
        }
        // SAFETY: kept in `space` at `generation`, checked just above.
        let bufs = unsafe { self.kept_bufs() };
        // The word's page still translates as when it was checked (the precondition).
        if len_of(bufs[1].read_u32()) != self.buf_len {
            return None;
        }
        let range = |addr, len| UserRange { addr, len, space: self.space };
        Some(([range(buf, self.buf_len), range(len, 4), range(long, 4)], bufs))
    }

    /// The three buffers kept, as `UserBuf`s: the message's, then the two length words'.
    ///
    /// # Safety
    /// Something is kept, in the space the `'s` borrow is of, whose generation is still
    /// the one kept (each caller compares both first): then its pages still translate as
    /// when they were checked writable, which is `UserBuf`'s invariant.
    #[inline(always)]
    unsafe fn kept_bufs<'s>(&self) -> [UserBuf<'s, Writable>; 3] {
        let w = |p: *mut u8| UserBuf { head: p, head_len: 4, tail: p, len: 4, _p: PhantomData };
        [
            UserBuf {
                head: self.head,
                head_len: self.head_len,
                tail: self.tail,
                len: self.buf_len as usize,
                _p: PhantomData,
            },
            w(self.words[0].1),
            w(self.words[1].1),
        ]
    }
}

impl core::fmt::Debug for Kept {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("_")
    }
}

/// A checked user range of at most [`BUF_MAX`] bytes, of the address space a [`Walker`]
/// borrowed for `'s`, with the kernel addresses of its pages: `head_len` bytes from `head`
/// in its first page, the rest from `tail` at the start of the next.
///
/// Invariant: made only by `Walker::buf`, from addresses `page_bytes` gave while the
/// space is borrowed for `'s`, readable (and writable, if `A` is `Writable`) for those
/// bytes; `head_len <= len <= BUF_MAX`, `head_len > 0` unless `len == 0`.
pub struct UserBuf<'s, A> {
    head: *mut u8,
    head_len: usize,
    tail: *mut u8,
    len: usize,
    _p: PhantomData<(&'s (), A)>,
}

// Copied whatever `A` is: it is only a marker.
impl<A> Clone for UserBuf<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for UserBuf<'_, A> {}

impl<'s, A> UserBuf<'s, A> {
    const EMPTY: Self =
        UserBuf { head: core::ptr::null_mut(), head_len: 0, tail: core::ptr::null_mut(), len: 0, _p: PhantomData };

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its first `n` bytes (all of it if `n` is more).
    #[inline(always)]
    pub fn prefix(self, n: usize) -> Self {
        let len = n.min(self.len);
        UserBuf { head_len: self.head_len.min(len), len, ..self }
    }

    /// The kernel address of byte `at` (`< len`) and how many bytes are contiguous from it.
    #[inline(always)]
    fn run(&self, at: usize) -> (*mut u8, usize) {
        if at < self.head_len {
            (self.head.wrapping_add(at), self.head_len - at)
        } else {
            (self.tail.wrapping_add(at - self.head_len), self.len - at)
        }
    }

    /// Copies its first `out.len()` bytes (at most `len`) into `out`.
    pub fn read(&self, out: &mut [u8]) {
        let n = out.len().min(self.len);
        let mut done = 0;
        while done < n {
            let (from, run) = self.run(done);
            let k = run.min(n - done);
            // SAFETY: `run` stays inside the buffer's pages, readable for `'s` (the type's
            // invariant); `out` is kernel memory, never user memory, so they are disjoint.
            unsafe { core::ptr::copy_nonoverlapping(from, out[done..].as_mut_ptr(), k) };
            done += k;
        }
    }

    /// The value of a 4-byte buffer (a length word), in the machine's byte order.
    #[inline(always)]
    pub fn read_u32(&self) -> u32 {
        if self.head_len >= 4 {
            // SAFETY: four readable bytes of one page (the type's invariant), read without
            // assuming alignment; no Rust reference covers user memory.
            unsafe { core::ptr::read_unaligned(self.head as *const u32) }
        } else {
            let mut b = [0; 4];
            self.read(&mut b);
            u32::from_ne_bytes(b)
        }
    }
}

impl<'s> UserBuf<'s, Writable> {
    /// The same bytes, to be read (a page a program may write it may read).
    #[inline(always)]
    pub fn readable(self) -> UserBuf<'s, Readable> {
        UserBuf { head: self.head, head_len: self.head_len, tail: self.tail, len: self.len, _p: PhantomData }
    }

    /// Writes `data` (at most `len` bytes of it) to its start.
    pub fn write(&self, data: &[u8]) {
        let n = data.len().min(self.len);
        let mut done = 0;
        while done < n {
            let (to, run) = self.run(done);
            let k = run.min(n - done);
            // SAFETY: `run` stays inside the buffer's pages, writable for `'s` (the type's
            // invariant); `data` is kernel memory, never user memory, so they are disjoint.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), to, k) };
            done += k;
        }
    }

    /// Writes a 4-byte buffer's value (a length word).
    #[inline(always)]
    pub fn write_u32(&self, v: u32) {
        if self.head_len >= 4 {
            // SAFETY: four writable bytes of one page (the type's invariant), written
            // without assuming alignment; no Rust reference covers user memory.
            unsafe { core::ptr::write_unaligned(self.head as *mut u32, v) }
        } else {
            self.write(&v.to_ne_bytes());
        }
    }

    /// Copies the first `n` bytes of `src` (at most the length of either) here: the one
    /// copy of a short message, user frame to user frame, a page piece at a time. The two
    /// may be the same memory (two threads of one task, a page shared between tasks): the
    /// bytes arrive as if copied through a buffer, which `bounce` is when the two share a
    /// page and the pieces could overwrite what is still to be read.
    #[inline(always)]
    pub fn copy_from<B>(&self, src: &UserBuf<'_, B>, n: usize, bounce: &mut [u8; BUF_MAX]) {
        let n = n.min(self.len).min(src.len);
        if n <= src.head_len && n <= self.head_len {
            // SAFETY: `n` bytes from the start of each buffer lie in its first page,
            // readable and writable for as long as the buffers are borrowed (the type's
            // invariant); `copy_bytes` allows the two to overlap.
            unsafe { copy_bytes(src.head, self.head, n) };
            return;
        }
        let (src, dest) = (src.prefix(n), self.prefix(n));
        // Each run lies in one page, so the two can overlap only if they share one.
        if shares_a_page(&src, &dest) {
            src.read(&mut bounce[..n]);
            dest.write(&bounce[..n]);
            return;
        }
        // At most three pieces, each contiguous on both sides: `[0, a)` in both heads,
        // `[a, b)` in one's head and the other's tail, `[b, n)` in both tails.
        let (a, b) = (src.head_len.min(dest.head_len), src.head_len.max(dest.head_len));
        // SAFETY: each piece stays inside both buffers' runs (`a` and `b` are where they
        // change page, `run(a)` the address of byte `a < b <= n` of each), readable and
        // writable for as long as the buffers are borrowed (the type's invariant, and both
        // are live here); they share no page (tested above), so they do not overlap.
        unsafe {
            copy_run(src.head, dest.head, a);
            if b > a {
                copy_run(src.run(a).0, dest.run(a).0, b - a);
            }
            if n > b {
                let (from, to) = (src.tail.wrapping_add(b - src.head_len), dest.tail.wrapping_add(b - dest.head_len));
                copy_run(from, to, n - b);
            }
        }
    }
}

/// Whether two buffers (of `len > head_len`: two runs each, each in one page) have a page
/// in common, so that their bytes may overlap. Compares the pages of the runs' kernel
/// addresses, which stand for their frames; an empty run's address is compared too, which
/// can only say yes where no is true (the caller then copies through a buffer, which is
/// right in every case).
#[inline(always)]
fn shares_a_page<A, B>(x: &UserBuf<'_, A>, y: &UserBuf<'_, B>) -> bool {
    let page = |p: *mut u8| p as usize / abi::PAGE_SIZE;
    let (xh, xt, yh, yt) = (page(x.head), page(x.tail), page(y.head), page(y.tail));
    (xh == yh) | (xh == yt) | (xt == yh) | (xt == yt)
}

/// User pages for host tests: a page's bytes behind interior mutability, so the kernel may
/// write them through the address `page_bytes` gives while the space is borrowed shared.
#[cfg(test)]
pub mod fake {
    use core::cell::Cell;
    use core::ptr::NonNull;

    /// Page-aligned, as `UserMemory::page_bytes` promises.
    pub struct Page(Box<Bytes>);

    #[repr(C, align(4096))]
    pub struct Bytes([Cell<u8>; abi::PAGE_SIZE]);

    impl Page {
        pub fn filled(b: u8) -> Self {
            Page(Box::new(Bytes(core::array::from_fn(|_| Cell::new(b)))))
        }
        /// The page's bytes, for `UserMemory::page_bytes`.
        pub fn bytes(&self) -> NonNull<u8> {
            // A box is never null; `Cell<u8>` has the layout of `u8`.
            NonNull::new(self.0 .0.as_ptr() as *mut u8).expect("a box is not null")
        }
        pub fn get(&self, at: usize) -> u8 {
            self.0 .0[at].get()
        }
        pub fn set(&self, at: usize, b: u8) {
            self.0 .0[at].set(b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use std::cell::Cell;

    /// Pages at given addresses, each readable or read-write; its id; how many pages have
    /// been looked up.
    struct Fake(BTreeMap<u64, (fake::Page, bool)>, u32, Cell<u32>);

    // SAFETY: `page_bytes` gives the (page-aligned) address of a page this space owns, which
    // lives as long as the space and is only ever reached through raw addresses
    // (`fake::Page`).
    unsafe impl UserMemory for Fake {
        fn page_bytes(&self, page: u64) -> Option<(NonNull<u8>, bool)> {
            self.2.set(self.2.get() + 1);
            self.0.get(&page).map(|(p, w)| (p.bytes(), *w))
        }
        fn space_id(&self) -> u32 {
            self.1
        }
    }

    impl Fake {
        fn byte(&self, a: u64) -> u8 {
            self.0[&(a & !(PAGE - 1))].0.get((a % PAGE) as usize)
        }
        fn set(&self, a: u64, b: u8) {
            self.0[&(a & !(PAGE - 1))].0.set((a % PAGE) as usize, b)
        }
    }

    /// A walker's buffer at `addr`, as a system call's pointer: its range checked, then
    /// its pages.
    fn rd<'s>(w: &mut Walker<'s, Fake>, addr: u64, len: usize, write: bool) -> Result<UserBuf<'s, Readable>, Error> {
        let r = w.range(addr, len as u32)?;
        w.readable(r, write)
    }
    fn wr<'s>(w: &mut Walker<'s, Fake>, addr: u64, len: usize) -> Result<UserBuf<'s, Writable>, Error> {
        let r = w.range(addr, len as u32)?;
        w.writable(r)
    }

    fn mem() -> Fake {
        let mut m = BTreeMap::new();
        m.insert(0x50_0000, (fake::Page::filled(7), true));
        m.insert(0x50_1000, (fake::Page::filled(8), false));
        Fake(m, 1, Cell::new(0))
    }

    #[test]
    fn reads_and_writes_across_pages_after_checking() {
        let mut m = mem();
        let s = UserSlice::new(0x50_0ffe, 4).unwrap().readable(&m).unwrap();
        let mut buf = [0; 4];
        s.read(&m, &mut buf).unwrap();
        assert_eq!(buf, [7, 7, 8, 8]);
        let w = UserSlice::new(0x50_0000, 16).unwrap().writable(&m).unwrap();
        w.write(&mut m, &[1, 2, 3]).unwrap();
        assert_eq!(UserPtr::<u16>::new(0x50_0001).read(&m), Ok(0x0302));
    }

    #[test]
    fn refuses_what_is_not_the_callers_user_memory() {
        let m = mem();
        let bad = |a: u64, l: u64, w: bool| {
            let s = match UserSlice::new(a, l) {
                Ok(s) => s,
                Err(e) => return Some(e),
            };
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

    #[test]
    fn a_checked_slice_copies_only_with_the_space_it_was_checked_against() {
        let mut m = mem();
        let mut other = mem();
        other.1 = 2;
        let r = UserSlice::new(0x50_0000, 4).unwrap().readable(&m).unwrap();
        let mut buf = [0; 4];
        assert_eq!(r.read(&other, &mut buf), Err(Error::BadAddress), "checked against m");
        assert_eq!(r.read(&m, &mut buf), Ok(()));
        let w = UserSlice::new(0x50_0000, 4).unwrap().writable(&m).unwrap();
        assert_eq!(w.sub(1, 2).write(&mut other, &[1]), Err(Error::BadAddress), "a sub-slice keeps its space");
        assert_eq!(w.sub(1, 2).write(&mut m, &[1]), Ok(()));
    }

    #[test]
    fn a_slice_outside_user_space_or_wrapping_is_never_made() {
        assert_eq!(UserSlice::new(u64::MAX - 2, 8).err(), Some(Error::BadAddress), "wraps");
        assert_eq!(UserSlice::new(abi::layout::USER_END - 4, 8).err(), Some(Error::BadAddress), "past the end");
        assert_eq!(UserSlice::new(0, 1).err(), Some(Error::BadAddress), "null");
        assert!(UserSlice::new(u64::MAX, 0).is_ok(), "zero length: the pointer is ignored");
    }

    #[test]
    fn a_range_outside_user_space_wrapping_or_misaligned_is_never_made() {
        let m = mem();
        assert_eq!(UserRange::new(&m, u64::MAX - 2, 8), Err(Error::BadAddress), "wraps");
        assert_eq!(UserRange::new(&m, u64::MAX, u32::MAX), Err(Error::BadAddress), "wraps far");
        assert_eq!(UserRange::new(&m, abi::layout::USER_END - 4, 8), Err(Error::BadAddress), "past the end");
        assert_eq!(UserRange::new(&m, 0xffff_8000_0000_0000, 4), Err(Error::BadAddress), "kernel address");
        assert_eq!(UserRange::new(&m, 0, 1), Err(Error::BadAddress), "null");
        assert_eq!(UserRange::new(&m, abi::layout::USER_MIN - 1, 1), Err(Error::BadAddress), "below user space");
        let last = UserRange::new(&m, abi::layout::USER_END - 8, 8).unwrap();
        assert_eq!((last.addr(), last.len()), (abi::layout::USER_END - 8, 8), "up to the end");
        assert!(UserRange::new(&m, u64::MAX, 0).is_ok(), "zero bytes: the pointer is ignored");
        assert_eq!(UserRange::pages(&m, 0x50_0800, 0x1000), Err(Error::Misaligned), "address");
        assert_eq!(UserRange::pages(&m, 0x50_0000, 0x800), Err(Error::Misaligned), "length");
        assert_eq!(UserRange::pages(&m, abi::layout::USER_END, 0x1000), Err(Error::BadAddress), "past the end");
        assert!(UserRange::pages(&m, 0x50_0000, 0x2000).is_ok());
    }

    #[test]
    fn a_range_is_used_only_with_the_space_it_was_checked_against() {
        let (m, mut other) = (mem(), mem());
        other.1 = 2;
        let r = UserRange::new(&m, 0x50_0000, 4).unwrap();
        assert_eq!(Walker::new(&other).writable(r).err(), Some(Error::BadAddress), "checked against m");
        assert_eq!(Walker::new(&other).readable(r, false).err(), Some(Error::BadAddress));
        assert_eq!(Walker::new(&other).readable(r.prefix(2), false).err(), Some(Error::BadAddress), "a prefix too");
        assert_eq!(r.addr_in(&other), Err(Error::BadAddress));
        assert!(Walker::new(&m).writable(r).is_ok());
        assert_eq!(r.addr_in(&m), Ok(0x50_0000));
        assert!(Walker::new(&other).writable(r.prefix(0)).is_ok(), "no bytes: nothing to refuse");
        assert!(Walker::new(&other).writable(UserRange::NONE).is_ok());
    }

    /// Pages from 0x60_0000: read-write, read-write, read-only, unmapped, read-write,
    /// read-write; the byte at user address `a` holds `a % 251`.
    fn four() -> Fake {
        let mut m = BTreeMap::new();
        for (i, w) in [(0u64, true), (1, true), (2, false), (4, true), (5, true)] {
            let p = fake::Page::filled(0);
            for a in 0..PAGE {
                p.set(a as usize, ((0x60_0000 + i * PAGE + a) % 251) as u8);
            }
            m.insert(0x60_0000 + i * PAGE, (p, w));
        }
        Fake(m, 3, Cell::new(0))
    }

    #[test]
    fn a_walker_reads_a_range_across_two_pages() {
        let m = four();
        let mut w = Walker::new(&m);
        let b = rd(&mut w, 0x60_0ffa, 10, false).unwrap();
        let mut out = [0; 10];
        b.read(&mut out);
        let want: Vec<u8> = (0x60_0ffa..0x60_1004u64).map(|a| (a % 251) as u8).collect();
        assert_eq!(out[..], want[..]);
        assert_eq!(b.prefix(3).len(), 3);
        let mut three = [0; 10];
        b.prefix(3).read(&mut three);
        assert_eq!(three[..3], want[..3]);
        assert_eq!(three[3..], [0; 7], "a prefix reads no further");
    }

    #[test]
    fn a_walker_refuses_what_is_not_user_memory_as_asked() {
        let m = four();
        let mut w = Walker::new(&m);
        assert_eq!(rd(&mut w, 0x60_1ffe, 4, true).err(), Some(Error::BadAddress), "second page read-only");
        assert!(rd(&mut w, 0x60_1ffe, 4, false).is_ok(), "but readable");
        assert_eq!(rd(&mut w, 0x60_2ffe, 4, false).err(), Some(Error::BadAddress), "runs into a hole");
        assert_eq!(wr(&mut w, 0x60_3000, 1).err(), Some(Error::BadAddress), "unmapped");
        assert_eq!(rd(&mut w, 0, 4, false).err(), Some(Error::BadAddress), "null");
        assert_eq!(rd(&mut w, abi::layout::USER_END - 2, 4, false).err(), Some(Error::BadAddress), "past the end");
        assert_eq!(rd(&mut w, u64::MAX - 1, 4, false).err(), Some(Error::BadAddress), "wraps");
        assert_eq!(rd(&mut w, 0x60_0000, BUF_MAX + 1, false).err(), Some(Error::TooLong), "more than a page");
        assert!(wr(&mut w, 0, 0).is_ok(), "zero bytes: the pointer is ignored");
        assert!(wr(&mut w, u64::MAX, 0).unwrap().is_empty());
    }

    #[test]
    fn a_page_remembered_readable_is_still_refused_for_writing() {
        let m = four();
        let mut w = Walker::new(&m);
        assert!(rd(&mut w, 0x60_2010, 4, false).is_ok());
        assert_eq!(wr(&mut w, 0x60_2010, 4).err(), Some(Error::BadAddress));
        assert_eq!(rd(&mut w, 0x60_2010, 4, true).err(), Some(Error::BadAddress));
    }

    #[test]
    fn a_walker_looks_each_page_up_once() {
        let m = four();
        let mut w = Walker::new(&m);
        rd(&mut w, 0x60_0ff0, 0x20, true).unwrap(); // pages 0 and 1
        wr(&mut w, 0x60_0ff8, 4).unwrap();
        wr(&mut w, 0x60_1000, 4).unwrap();
        rd(&mut w, 0x60_0000, 1, false).unwrap();
        assert_eq!(m.2.get(), 2, "two pages, two walks");
        rd(&mut w, 0x60_4000, 1, false).unwrap();
        assert_eq!(m.2.get(), 3);
        // A new walker (a new system call) walks again.
        rd(&mut Walker::new(&m), 0x60_4000, 1, false).unwrap();
        assert_eq!(m.2.get(), 4);
    }

    #[test]
    fn length_words_read_and_write_across_a_page_boundary() {
        let m = four();
        let mut w = Walker::new(&m);
        for at in [0x60_0ffc, 0x60_0ffd, 0x60_0fff, 0x60_1000, 0x60_0123] {
            let word = wr(&mut w, at, 4).unwrap();
            word.write_u32(0x0403_0201 ^ at as u32);
            assert_eq!(word.read_u32(), 0x0403_0201 ^ at as u32, "at {at:#x}");
            let want = (0x0403_0201 ^ at as u32).to_ne_bytes();
            assert_eq!([m.byte(at), m.byte(at + 1), m.byte(at + 2), m.byte(at + 3)], want, "at {at:#x}");
        }
    }

    #[test]
    fn a_copy_goes_page_piece_by_page_piece_whatever_the_two_splits() {
        // Source and destination straddle page boundaries at different offsets.
        for (src, dst, n) in [
            (0x60_0ff0u64, 0x60_4000u64, 0x30usize),
            (0x60_0010, 0x60_4fe0, 0x40),
            (0x60_0ff0, 0x60_4fe0, 0x1000),
            (0x60_0000, 0x60_4000, 0x1000),
            (0x60_1ff8, 0x60_4ffc, 8),
            // Pieces of 13, 10 and 233 bytes, and of 3, 7 and 20: not whole 8-byte steps.
            (0x60_0ff3, 0x60_4fe9, 0x100),
            (0x60_0ffd, 0x60_4ff6, 30),
        ] {
            let m = four();
            let mut w = Walker::new(&m);
            let from = rd(&mut w, src, n, false).unwrap();
            let to = wr(&mut w, dst, n).unwrap();
            to.copy_from(&from, n, &mut [0; BUF_MAX]);
            for i in 0..n as u64 {
                assert_eq!(m.byte(dst + i), ((src + i) % 251) as u8, "{src:#x} -> {dst:#x}, byte {i}");
            }
            let after = dst + n as u64;
            if after < 0x60_6000 {
                assert_eq!(m.byte(after), (after % 251) as u8, "nothing past the end");
            }
        }
    }

    #[test]
    fn a_copy_takes_no_more_than_either_side_holds() {
        let m = four();
        let mut w = Walker::new(&m);
        let from = rd(&mut w, 0x60_0000, 4, false).unwrap();
        let to = wr(&mut w, 0x60_4000, 16).unwrap();
        m.set(0x60_4004, 0xee);
        to.copy_from(&from, 16, &mut [0; BUF_MAX]);
        assert_eq!(m.byte(0x60_4003), (0x60_0003 % 251) as u8);
        assert_eq!(m.byte(0x60_4004), 0xee, "the source had four bytes");
        let small = wr(&mut w, 0x60_4100, 2).unwrap();
        m.set(0x60_4102, 0xee);
        small.copy_from(&from, 4, &mut [0; BUF_MAX]);
        assert_eq!(m.byte(0x60_4102), 0xee, "the destination had two");
    }

    #[test]
    fn the_same_memory_on_both_sides_is_copied_as_through_a_buffer() {
        let m = four();
        let mut w = Walker::new(&m);
        let from = rd(&mut w, 0x60_0100, 8, false).unwrap();
        let to = wr(&mut w, 0x60_0102, 8).unwrap();
        to.copy_from(&from, 8, &mut [0; BUF_MAX]);
        let got: Vec<u8> = (0..8).map(|i| m.byte(0x60_0102 + i)).collect();
        let want: Vec<u8> = (0..8).map(|i| ((0x60_0100 + i) % 251) as u8).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn small_and_large_copies_overlapping_or_not_copy_as_through_a_buffer() {
        for n in 0..=40usize {
            for shift in [-9isize, -3, -1, 0, 1, 3, 9, 64] {
                let mut mem: Vec<u8> = (0..160u8).collect();
                let (from, to) = (32usize, (32 + shift) as usize);
                let mut want = mem.clone();
                want.copy_within(from..from + n, to);
                let base = mem.as_mut_ptr();
                // SAFETY: both ranges lie inside `mem`.
                unsafe { copy_bytes(base.add(from), base.add(to), n) };
                assert_eq!(mem, want, "{n} bytes, shifted {shift}");
            }
        }
    }

    #[test]
    fn overlapping_buffers_across_a_page_boundary_copy_as_through_a_buffer() {
        for (src, dst, n) in
            [(0x60_0ff0u64, 0x60_0ff3u64, 0x100usize), (0x60_0ff3, 0x60_0ff0, 0x100), (0x60_0800, 0x60_0c00, 0x1000)]
        {
            let m = four();
            let mut w = Walker::new(&m);
            let from = rd(&mut w, src, n, false).unwrap();
            let to = wr(&mut w, dst, n).unwrap();
            to.copy_from(&from, n, &mut [0; BUF_MAX]);
            for i in 0..n as u64 {
                assert_eq!(m.byte(dst + i), ((src + i) % 251) as u8, "{src:#x} -> {dst:#x}, byte {i}");
            }
        }
    }

    /// Frames mapped at user pages, the same frame possibly at several (a share, a task
    /// mapping one frame twice): `map[user page] = (frame index, writable)`.
    struct Aliased {
        frames: Vec<fake::Page>,
        map: BTreeMap<u64, (usize, bool)>,
    }

    // SAFETY: `page_bytes` gives the (page-aligned) address of a frame this space owns,
    // which lives as long as the space and is only ever reached through raw addresses.
    unsafe impl UserMemory for Aliased {
        fn page_bytes(&self, page: u64) -> Option<(NonNull<u8>, bool)> {
            self.map.get(&page).map(|&(f, w)| (self.frames[f].bytes(), w))
        }
        fn space_id(&self) -> u32 {
            9
        }
    }

    impl Aliased {
        /// User pages 0x70_0000.. : U0..U5 -> frames 0, 1, 2, 0, 1, 3 (U3 aliases U0, U4 U1).
        fn new() -> Self {
            let frames: Vec<fake::Page> = (0..5)
                .map(|f| {
                    let p = fake::Page::filled(0);
                    for a in 0..abi::PAGE_SIZE {
                        p.set(a, (f * 37 + a * 13 + a / 251) as u8);
                    }
                    p
                })
                .collect();
            let mut map = BTreeMap::new();
            for (u, f) in [0usize, 1, 2, 0, 1, 3].into_iter().enumerate() {
                map.insert(0x70_0000 + u as u64 * PAGE, (f, true));
            }
            Aliased { frames, map }
        }
        fn at(&self, a: u64) -> (usize, usize) {
            (self.map[&(a & !(PAGE - 1))].0, (a % PAGE) as usize)
        }
        fn snapshot(&self) -> Vec<Vec<u8>> {
            let copy = |p: &fake::Page| {
                let mut v = vec![0u8; abi::PAGE_SIZE];
                // SAFETY: the page's bytes, behind `Cell`s, read through its raw address.
                unsafe { core::ptr::copy_nonoverlapping(p.bytes().as_ptr(), v.as_mut_ptr(), abi::PAGE_SIZE) };
                v
            };
            self.frames.iter().map(copy).collect()
        }
        fn restore(&self, from: &[Vec<u8>]) {
            for (p, v) in self.frames.iter().zip(from) {
                // SAFETY: as `snapshot`, written.
                unsafe { core::ptr::copy_nonoverlapping(v.as_ptr(), p.bytes().as_ptr(), abi::PAGE_SIZE) };
            }
        }
    }

    /// Every split of source and destination around page ends, every short length and the
    /// 8-byte steps' edges, with the two sides in distinct frames, the same frame at the
    /// same address, or the same frame at two different user addresses: each copy leaves
    /// every frame exactly as a copy through a buffer would (nothing written outside the
    /// destination, in its frames or their neighbours), whatever the overlap.
    #[test]
    fn every_split_and_length_copies_as_through_a_buffer_even_between_aliases() {
        let offs: [u64; 12] = [0, 1, 7, 8, 9, 0x7f9, 0xfe0, 0xff1, 0xff8, 0xff9, 0xffc, 0xfff];
        let lens: Vec<usize> = (0..=25).chain([31, 32, 33, 63, 64, 65, 0x101, 0xff9, 0x1000]).collect();
        let bases: [u64; 5] = [0x70_0000, 0x70_1000, 0x70_3000, 0x70_4000, 0x70_2000];
        let fresh = Aliased::new();
        let pristine = fresh.snapshot();
        let m = Aliased::new();
        for &sb in &bases {
            for &db in &bases {
                for &so in &offs {
                    for &doff in &offs {
                        for &n in &lens {
                            let (src, dst) = (sb + so, db + doff);
                            if src + n as u64 > 0x70_6000 || dst + n as u64 > 0x70_6000 {
                                continue;
                            }
                            // Reset.
                            m.restore(&pristine);
                            let mut want = pristine.clone();
                            let bytes: Vec<u8> = (0..n as u64)
                                .map(|i| {
                                    let (f, o) = m.at(src + i);
                                    pristine[f][o]
                                })
                                .collect();
                            for (i, &b) in bytes.iter().enumerate() {
                                let (f, o) = m.at(dst + i as u64);
                                want[f][o] = b;
                            }
                            let mut w = Walker::new(&m);
                            let from = w.range(src, n as u32).and_then(|r| w.readable(r, false)).unwrap();
                            let to = w.range(dst, n as u32).and_then(|r| w.writable(r)).unwrap();
                            to.copy_from(&from, n, &mut [0; BUF_MAX]);
                            assert!(m.snapshot() == want, "{src:#x} -> {dst:#x}, {n} bytes");
                        }
                    }
                }
            }
        }
    }
}
