//! (placeholder: see design.md)
