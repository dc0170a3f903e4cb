//! The trust boundary with C: turning the caller's raw pointers into writes
//! and reads. dcmi.h's contract is that each pointer argument is NULL or
//! points to writable (or readable) memory of the named type and length, and
//! nothing else can be checked; these helpers check NULL (-8001), never read
//! or write past the stated length, and use unaligned accesses so a
//! misaligned pointer is not undefined behaviour. They are only called with
//! pointers that C passed into an export.

use std::ffi::c_int;

use dcmi_abi::DCMI_ERR_CODE_INVALID_PARAMETER;

/// A non-NULL pointer to one object the caller lets the library write.
pub(crate) struct Out<T: Copy>(*mut T);

impl<T: Copy> Out<T> {
    /// -8001 for NULL.
    pub fn new(ptr: *mut T) -> Result<Self, c_int> {
        if ptr.is_null() {
            Err(DCMI_ERR_CODE_INVALID_PARAMETER)
        } else {
            Ok(Self(ptr))
        }
    }

    /// Stores `value`.
    pub fn write(&self, value: T) {
        // SAFETY: non-NULL (checked in `new`) and, per dcmi.h, valid for a
        // write of one T; write_unaligned tolerates any alignment, and T is
        // Copy so no destructor of the old bytes is skipped.
        unsafe { self.0.write_unaligned(value) }
    }
}

/// Reads one object the caller passed in; -8001 for NULL.
pub(crate) fn read_in<T: Copy>(ptr: *const T) -> Result<T, c_int> {
    if ptr.is_null() {
        return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
    }
    // SAFETY: non-NULL and, per dcmi.h, valid for a read of one initialised
    // T (our T are plain C structs for which every bit pattern is valid).
    Ok(unsafe { ptr.read_unaligned() })
}

/// A non-NULL array of `len` elements the caller lets the library write.
pub(crate) struct OutArray<T: Copy> {
    ptr: *mut T,
    len: usize,
}

impl<T: Copy> OutArray<T> {
    /// -8001 for NULL.
    pub fn new(ptr: *mut T, len: usize) -> Result<Self, c_int> {
        if ptr.is_null() {
            Err(DCMI_ERR_CODE_INVALID_PARAMETER)
        } else {
            Ok(Self { ptr, len })
        }
    }

    /// The caller's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` at `index`; indexes past the end are ignored.
    pub fn set(&self, index: usize, value: T) {
        if index < self.len {
            // SAFETY: `index < len` and, per dcmi.h, the caller's array holds
            // `len` elements, so `ptr.add(index)` is in bounds and writable.
            unsafe { self.ptr.add(index).write_unaligned(value) }
        }
    }

    /// Stores `values` from index 0, as many as fit.
    pub fn fill(&self, values: impl IntoIterator<Item = T>) {
        for (index, value) in values.into_iter().take(self.len).enumerate() {
            self.set(index, value);
        }
    }
}
