//! The in-memory backend. STUB: being written.
