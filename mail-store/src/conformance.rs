//! The conformance suite. STUB: being written.
