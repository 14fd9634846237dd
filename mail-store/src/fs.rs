//! The filesystem backend. STUB: being written.
