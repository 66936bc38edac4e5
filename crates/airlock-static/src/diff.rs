//! Version diff (work in progress).
