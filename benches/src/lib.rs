//! Shared corpora for the side-by-side benchmarks.
